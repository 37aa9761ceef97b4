"""Front-end texts from knowledge/frontend.yml (user-facing text is data, not code)."""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

from knowledge.schema import KnowledgeError
from knowledge.loader import default_knowledge_root

REQUIRED = (
    "chat_banner",
    "chat_bye",
    "empty_message",
    "too_long",
    "server_down",
    "server_gave_up",
    "no_reply",
    "starting",
    "telegram_running",
    "help_commands",
    "emoji_only",
    "sticker_reply",
    "unsupported_reply",
    "something_went_wrong",
    "saved_for_later",
    "too_many_messages",
    "button_expired",
    "button_chosen",
    "choose_button",
    "group_private_only",
    "group_private_button",
    "cases_none",
    "cases_header",
    "cases_item",
    "cases_next",
    "evidence_saved",
    "evidence_pending",
    "evidence_wrong_type",
    "evidence_too_big",
    "evidence_daily_limit",
    "evidence_case_full",
    "voice_saved",
    "voice_pending",
    "voice_heard",
    "voice_seconds",
    "location_guess",
    "location_yes",
    "location_no",
    "location_type_place",
    "location_far",
    "btn_schedule",
    "ask_session",
    "session_no_date",
    "session_set",
    "timeline_session",
    "play_banner",
    "play_villager",
    "play_mediator",
    "play_agent",
    "play_now",
    "play_who",
    "play_waiting",
    "play_voice",
    "play_file",
    "talk_started_villager",
    "talk_from_staff",
    "talk_ended_villager",
    "case_refused",
    "case_usage",
    "join_usage",
    "join_ok",
    "join_refused",
    "join_wait",
    "not_staff",
    "staff_rights_gone",
    "staff_help",
    "case_facts",
    "case_place",
    "case_deadlines",
    "case_urgent",
    "case_assigned_ask",
    "btn_accept",
    "btn_return",
    "btn_escalate",
    "btn_talk",
    "btn_note",
    "btn_agreement",
    "btn_no_agreement",
    "btn_reply",
    "btn_done",
    "action_refused",
    "accepted_staff",
    "ask_return_reason",
    "returned_staff",
    "returned_waiting",
    "escalated_staff",
    "ask_agreement_terms",
    "ask_reply_summary",
    "resolved_staff",
    "ask_note",
    "staff_cancelled",
    "note_saved",
    "note_usage",
    "talk_started_staff",
    "talk_busy",
    "talk_not_on_telegram",
    "talk_from_villager",
    "talk_ended_staff",
    "end_nothing",
    "file_usage",
    "file_started",
    "file_done",
    "file_nothing",
    "file_stopped",
    "filed_for",
    "mine_none",
    "mine_header",
    "mine_item",
    "no_due",
    "timeline_header",
    "timeline_event",
    "timeline_note",
    "timeline_deadline",
)


@functools.lru_cache(maxsize=1)
def messages() -> dict[str, str]:
    """The front-end messages; raises KeyError naming the file and a missing key."""
    path = default_knowledge_root() / "frontend.yml"
    data = _frontend().get("messages") or {}
    missing = [k for k in REQUIRED if not data.get(k)]
    if missing:
        raise KeyError(f"{path}: messages missing: {', '.join(missing)}")
    return data


#: Outbox message keys the Telegram front end must be able to say (knowledge/frontend.yml
#: ``outbox:``); a resolved case may also have ``villager.status.resolved.<outcome>``.
REQUIRED_OUTBOX = (
    "agency.case_assigned",
    "agency.case_transferred",
    "agency.emergency_notice",
    "agency.deadline_reminder",
    "agency.case_overdue",
    "villager.deadline_reminder",
    "villager.status.routed",
    "villager.status.accepted",
    "villager.status.in_progress",
    "villager.status.returned",
    "villager.status.escalated",
    "villager.status.closed",
    "villager.status.resolved",
    "staff.daily_digest",
    "staff.digest_item",
    "staff.agency_unstaffed",
)


@functools.lru_cache(maxsize=1)
def _frontend() -> dict:
    """knowledge/frontend.yml, read once per process (every accessor here reads from it)."""
    path = default_knowledge_root() / "frontend.yml"
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


@functools.lru_cache(maxsize=1)
def outbox_texts() -> dict[str, str]:
    """Templates for outbox messages by ``message_key``; KeyError names a missing one."""
    data = dict(_frontend().get("outbox") or {})
    missing = [k for k in REQUIRED_OUTBOX if not data.get(k)]
    if missing:
        path = default_knowledge_root() / "frontend.yml"
        raise KeyError(f"{path}: outbox missing: {', '.join(missing)}")
    return data


def outcome_label(outcome: object) -> str:
    """“调解成功” for `agreement`; the code itself if the file lacks it."""
    return dict(_frontend().get("outcomes") or {}).get(str(outcome), str(outcome))


def role_label(role: object) -> str:
    """“人民调解员” for `mediator`; the code itself if the file lacks it."""
    return dict(_frontend().get("roles") or {}).get(str(role), str(role))


@functools.lru_cache(maxsize=1)
def status_labels() -> dict[str, str]:
    """Plain words for each case status, from knowledge/frontend.yml."""
    return dict(_frontend().get("statuses") or {})


def status_label(status: object) -> str:
    """“已受理” for `accepted`; the code itself if the file lacks it."""
    return status_labels().get(str(status), str(status))


@functools.lru_cache(maxsize=1)
def answer_words() -> dict[str, frozenset[str]]:
    """{"yes": words, "no": words} for yes/no questions, from knowledge/frontend.yml."""
    from knowledge.text import compact

    data = _frontend().get("answers") or {}
    return {key: frozenset(compact(str(w)) for w in data.get(f"{key}_words") or []) for key in ("yes", "no")}


def yes_or_no(text: str) -> bool | None:
    """True / False when `text` is one of the known short answers, else None."""
    import re

    from knowledge.text import compact

    value = re.sub(r"[，。！？,.!?~～\s]+$", "", compact(text or ""))
    words = answer_words()
    if value in words["yes"]:
        return True
    if value in words["no"]:
        return False
    return None


def check_frontend(root: Path, statuses: tuple[str, ...], roles: tuple[str, ...],
                   outcomes: tuple[str, ...]) -> list[str]:
    """Check ``<root>/frontend.yml``: every message and outbox text the front ends say, a
    label for every status, role and outcome, and placeholders that parse.  Raises
    KnowledgeError naming the file, the entry and the field."""
    import string

    path = Path(root) / "frontend.yml"
    shown = str(path)
    if not path.is_file():
        raise KnowledgeError(shown, None, None, "file is missing")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise KnowledgeError(shown, None, None, f"YAML error: {exc}") from exc
    texts = {"messages": (data.get("messages") or {}, REQUIRED),
             "outbox": (data.get("outbox") or {}, REQUIRED_OUTBOX)}
    for field, (section, required) in texts.items():
        for key in required:
            if not section.get(key):
                raise KnowledgeError(shown, key, field, "missing")
        for key, text in section.items():
            try:
                list(string.Formatter().parse(str(text)))
            except ValueError as exc:
                raise KnowledgeError(shown, key, field, f"bad placeholder: {exc}") from exc
    for field, codes in (("statuses", statuses), ("roles", roles), ("outcomes", outcomes)):
        labels = data.get(field) or {}
        for code in codes:
            if not labels.get(code):
                raise KnowledgeError(shown, code, field, "no plain-words label")
    return [f"front-end texts: {len(texts['messages'][0])} messages, {len(texts['outbox'][0])} outbox texts"]


def say(key: str, **values: object) -> str:
    """One message, with its {placeholders} filled."""
    return messages()[key].format(**values)
