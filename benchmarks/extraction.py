"""Is spaCy worth it for reading places out of villagers' answers? → results/extraction-choice.json

The design card names spaCy; the conversations issue asks to keep it only if it measurably
helps.  On the place answers of the simulated villagers (benchmarks/data/villagers.jsonl, two
independent writers) this compares the plain reader the assistant uses (knowledge's
``find_place``: substring matching of every name and alias on the normalised text) with a
blank ``zh`` spaCy pipeline (jieba segmenter) and a PhraseMatcher built from the same names.

    python -m benchmarks.extraction
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from knowledge.loader import load_knowledge
from xiangyin.settings import PROJECT_ROOT
pass

VILLAGERS = Path(__file__).parent / "data" / "villagers.jsonl"


def main() -> int:
    import spacy
    from spacy.matcher import PhraseMatcher

    knowledge = load_knowledge()
    villages = [v.name for t in knowledge.county.townships for v in t.villages]
    names = {n for t in knowledge.county.townships for n in (t.name, *t.aliases)}
    names |= {n for t in knowledge.county.townships for v in t.villages for n in (v.name, *v.aliases)}
    started = time.monotonic()
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    matcher = PhraseMatcher(nlp.vocab)
    matcher.add("PLACE", [nlp.make_doc(n) for n in names])
    load_seconds = time.monotonic() - started

    answers = []
    for line in VILLAGERS.read_text(encoding="utf-8").splitlines():
        place = json.loads(line).get("place") or ""
        truth = next((v for v in villages if v in place or v[:-1] in place), None)
        if truth:
            answers.append((place, truth))
    plain = spacy_hits = 0
    for place, truth in answers:
        found = knowledge.find_place(place)
        plain += bool(found and ((found.village and found.village.name == truth)
                                 or any(c.village.name == truth for c in found.ambiguous)))
        doc = nlp(place)
        spans = [doc[s:e].text for _, s, e in matcher(doc)]
        spacy_hits += any(x == truth or truth.startswith(x) for x in spans)
    report = {
        "answers": len(answers),
        "plain_reader_accuracy": round(plain / len(answers), 4),
        "spacy_phrase_matcher_accuracy": round(spacy_hits / len(answers), 4),
        "spacy_load_seconds": round(load_seconds, 2),
        "decision": "plain reader: jieba's tokens cut place names (庄科村的 → 庄科 / 村的), so a token matcher misses what substring matching finds",
    }
    out = PROJECT_ROOT / "results" / "extraction-choice.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
