"""A jieba tokenizer that normalises villagers' text before splitting it.

Rasa's own JiebaTokenizer (`rasa/nlu/tokenizers/jieba_tokenizer.py`) keeps
whitespace tokens, which misalign features on mixed Chinese/Latin text
(RasaHQ/rasa#7910), and sees 鄰居 and 邻居 as different words. This subclass keeps
everything else of it — the user-dictionary *folder*, persisting the dictionaries
into the model — and only changes how a message becomes tokens.
"""

from __future__ import annotations

from typing import List, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.training_data.message import Message

from knowledge.text import normalize


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True
)
class ChineseTokenizer(JiebaTokenizer):
    """JiebaTokenizer on normalised text (NFKC, Simplified, lower-case), no blank tokens.

    Token offsets always refer to the original text, so entity spans found by the
    regex extractor stay valid; the normalised form goes into each token's lemma,
    which is what the count-vector featurizers read.
    """

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        """Tokenise the normalised text, keeping offsets into the original."""
        import jieba

        text = message.get(attribute) or ""
        normalized = normalize(text)
        same_length = len(normalized) == len(text)
        source = normalized if same_length else text

        tokens: List[Token] = []
        for word, start, end in jieba.tokenize(source):
            if not word.strip():
                continue
            original = text[start:end] if same_length else word
            lemma = word if same_length else normalize(word)
            tokens.append(Token(original, start, end, lemma=lemma))
        return self._apply_token_pattern(tokens)
