"""knowledge/dialogue.yml: the words and answers the conversation uses, loaded once and checked.

What villagers say that the forms must recognise (a change of mind, "刚才说了嘛", not wanting
to give a name …), the route names they read, the fields of a read-back, and the answers to
the questions they ask in the middle of a form.  A broken file fails with the file, the entry
and the field named.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

FILE = Path(__file__).resolve().parent / "dialogue.yml"
ROUTES = ("petition", "mediation", "legal_aid", "service")
CASE_ROUTES = ("petition", "mediation", "legal_aid")


class DialogueKnowledgeError(ValueError):
    """knowledge/dialogue.yml is wrong: says where."""

    def __init__(self, entry: str, field_: str, message: str) -> None:
        super().__init__(f"knowledge/dialogue.yml: {entry}: field '{field_}': {message}")


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text or "")).lower()


@dataclass(frozen=True)
class RouteWords:
    label: str
    short: str
    change_words: tuple[str, ...]


@dataclass(frozen=True)
class FieldWords:
    label: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    topic: str
    keywords: tuple[str, ...]
    answer: str


@dataclass(frozen=True)
class DialogueWords:
    routes: dict[str, RouteWords]
    mediation_consent_words: tuple[str, ...]
    already_said_words: tuple[str, ...]
    withhold_name_words: tuple[str, ...]
    question_marks: tuple[str, ...]
    fields: dict[str, FieldWords]
    editable: dict[str, tuple[str, ...]]
    other_party_words: tuple[str, ...]
    other_party_generic: tuple[str, ...]
    demand_markers: tuple[str, ...]
    topic_words: dict[str, tuple[str, ...]]
    faq: tuple[Answer, ...] = field(default_factory=tuple)
    service_aspects: dict[str, tuple[str, ...]] = field(default_factory=dict)
    clarify_margin: float = 0.0
    edit_words: tuple[str, ...] = ()
    decline_words: tuple[str, ...] = ()
    surnames: str = ""
    name_prefixes: tuple[str, ...] = ()
    name_suffixes: tuple[str, ...] = ()
    cancel_words: tuple[str, ...] = ()
    handoff_words: tuple[str, ...] = ()
    goodbye_words: tuple[str, ...] = ()

    def declines(self, text: str) -> bool:
        return self._has(text, self.decline_words)

    def says_edit(self, text: str) -> bool:
        return self._has(text, self.edit_words)

    def looks_like_name(self, text: str) -> bool:
        """"罗老五", "赵大妈", "李先生", "自维华" — not "重新评一遍", "对头" or "把路修好"."""
        value = _norm(text)
        if not value or len(value) > 6 or not re.fullmatch(r"[\u4e00-\u9fff·]+", value):
            return False
        if value.startswith(self.name_prefixes) or value.endswith(self.name_suffixes):
            return True
        if re.search(r"[的了吗呢嘛要把请查修评赔给不没是在有和跟就都也还个一这那我你他她们]", value):
            return False  # words of a sentence, not of a name
        return value[0] in self.surnames or 2 <= len(value) <= 4

    def says_cancel(self, text: str) -> bool:
        return self._has(text, self.cancel_words)

    def says_handoff(self, text: str) -> bool:
        return self._has(text, self.handoff_words)

    def says_goodbye(self, text: str) -> bool:
        return self._has(text, self.goodbye_words)

    def close_routes(self, ranking: list[dict]) -> tuple[str, str] | None:
        """The two routes to ask between when the parse is unsure of a route, else None.

        Unsure: the best two intents of the ranking are both routes and their confidences are
        within ``clarify_margin`` of each other."""
        top = [r for r in ranking if r.get("name") != "nlu_fallback"][:2]
        if len(top) < 2 or not all(r.get("name") in ROUTES for r in top):
            return None
        if float(top[0].get("confidence") or 0) - float(top[1].get("confidence") or 0) >= self.clarify_margin:
            return None
        return top[0]["name"], top[1]["name"]

    # --- what a message says --------------------------------------------------
    @staticmethod
    def _has(text: str, words: tuple[str, ...]) -> bool:
        value = _norm(text)
        return any(_norm(w) in value for w in words)

    def wants_route(self, text: str) -> str | None:
        """The route a message explicitly asks to change to ("我想找个律师"), or None."""
        for route, words in self.routes.items():
            if words.change_words and self._has(text, words.change_words):
                return route
        return None

    def consents_to_mediation(self, text: str) -> bool:
        return self._has(text, self.mediation_consent_words)

    def says_already_said(self, text: str) -> bool:
        return self._has(text, self.already_said_words)

    def withholds_name(self, text: str) -> bool:
        return self._has(text, self.withhold_name_words)

    def is_question(self, text: str) -> bool:
        value = _norm(text).rstrip("。.!！~～哈")
        if any(_norm(m) in value for m in self.question_marks):
            return True
        # "要跑镇上去不", "好了吗": a question by its last word, when there is more than that word
        return len(value) >= 4 and value.endswith(("不", "吗", "嘛", "么", "呢"))

    def field_named(self, text: str, route: str) -> str | None:
        """Which editable field of `route` a message names ("电话错了" → phone)."""
        for name in self.editable.get(route, ()):
            if self._has(text, self.fields[name].words):
                return name
        return None

    def service_aspect(self, text: str) -> str | None:
        """Which side of a service a question asks about (materials, where, fee, time, online)."""
        for aspect, words in self.service_aspects.items():
            if self._has(text, words):
                return aspect
        return None

    def names_topic(self, text: str) -> str | None:
        """The route a question is about by its words ("调解要跑镇上去不" → mediation)."""
        return next((t for t, words in self.topic_words.items() if self._has(text, words)), None)

    def answer_to(self, text: str, route: str | None) -> str | None:
        """The FAQ answer to a question, for the route it names or the current one."""
        topics = [t for t, words in self.topic_words.items() if self._has(text, words)]
        topics += [route] if route else []
        value = _norm(text)
        for topic in [*topics, "any"]:
            for entry in self.faq:
                if entry.topic == topic and any(_norm(k) in value for k in entry.keywords):
                    return entry.answer
        return None


def _strings(data: Mapping[str, Any], key: str, entry: str) -> tuple[str, ...]:
    value = data.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise DialogueKnowledgeError(entry, key, "must be a list of words")
    return tuple(value)


def parse(data: Mapping[str, Any]) -> DialogueWords:
    """Check and build the dialogue knowledge from the parsed YAML."""
    routes = {}
    for route in ROUTES:
        entry = (data.get("routes") or {}).get(route)
        if not isinstance(entry, dict) or not entry.get("label") or not entry.get("short"):
            raise DialogueKnowledgeError(f"routes.{route}", "label", "every route needs a label and a short name")
        routes[route] = RouteWords(entry["label"], entry["short"], _strings(entry, "change_words", f"routes.{route}"))
    fields_ = {}
    for name, entry in (data.get("fields") or {}).items():
        if not isinstance(entry, dict) or not entry.get("label"):
            raise DialogueKnowledgeError(f"fields.{name}", "label", "missing")
        fields_[name] = FieldWords(entry["label"], _strings(entry, "words", f"fields.{name}"))
    editable = {}
    for route in CASE_ROUTES:
        names = _strings(data.get("editable") or {}, route, "editable")
        unknown = [n for n in names if n not in fields_]
        if not names or unknown:
            raise DialogueKnowledgeError("editable", route, f"unknown or no fields: {unknown}")
        editable[route] = names
    faq = []
    for i, entry in enumerate(data.get("faq") or []):
        topic = entry.get("topic")
        if topic not in (*CASE_ROUTES, "any") or not entry.get("answer"):
            raise DialogueKnowledgeError(f"faq[{i}]", "topic", f"must be one of {CASE_ROUTES} or any, with an answer")
        faq.append(Answer(topic, _strings(entry, "keywords", f"faq[{i}]"), entry["answer"]))
    topic_words = {t: _strings(data.get("topic_words") or {}, t, "topic_words") for t in CASE_ROUTES}
    return DialogueWords(
        routes=routes,
        mediation_consent_words=_strings(data, "mediation_consent_words", "top level"),
        already_said_words=_strings(data, "already_said_words", "top level"),
        withhold_name_words=_strings(data, "withhold_name_words", "top level"),
        question_marks=_strings(data, "question_marks", "top level"),
        fields=fields_,
        editable=editable,
        other_party_words=_strings(data, "other_party_words", "top level"),
        other_party_generic=_strings(data, "other_party_generic", "top level"),
        demand_markers=_strings(data, "demand_markers", "top level"),
        topic_words=topic_words,
        faq=tuple(faq),
        clarify_margin=float(data.get("clarify_margin") or 0.0),
        edit_words=_strings(data, "edit_words", "top level"),
        decline_words=_strings(data, "decline_words", "top level"),
        surnames=str(data.get("surnames") or ""),
        name_prefixes=_strings(data, "name_prefixes", "top level"),
        name_suffixes=_strings(data, "name_suffixes", "top level"),
        cancel_words=_strings(data, "cancel_words", "top level"),
        handoff_words=_strings(data, "handoff_words", "top level"),
        goodbye_words=_strings(data, "goodbye_words", "top level"),
        service_aspects={a: _strings(data.get("service_aspects") or {}, a, "service_aspects")
                         for a in ("materials", "where", "fee", "time", "online")},
    )


def load(path: Path | str = FILE) -> DialogueWords:
    return parse(yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {})


@functools.lru_cache(maxsize=1)
def dialogue_words() -> DialogueWords:
    """The dialogue knowledge of this process (read once)."""
    return load()
