"""Telegram people as the case records name them, and back.

A villager who writes from Telegram is ``tg:<user id>`` (their Rasa conversation and the
case's ``sender_id``); a staff member is the channel identity (``tg``, ``<user id>``).  A
proxy agent filing for a villager speaks in a conversation of its own,
``agent:<agent id>:<key>``, where the key is random: no name or other personal data goes
into a conversation id (the villager's name is a form answer, kept with the case).
"""

from __future__ import annotations

import secrets

from records.domain.identity import TELEGRAM, ChannelIdentity

__all__ = [
    "AGENT_PREFIX",
    "agent_sender",
    "new_filing_key",
    "person_senders",
    "telegram_chat_of",
    "telegram_identity",
    "villager_sender",
]

AGENT_PREFIX = "agent:"
TG_PREFIX = f"{TELEGRAM}:"


def telegram_identity(user_id: int) -> ChannelIdentity:
    """The channel identity of a Telegram user."""
    return ChannelIdentity(TELEGRAM, str(user_id))


def villager_sender(user_id: int) -> str:
    """The conversation id of a villager: the same string the actions store as sender_id."""
    return telegram_identity(user_id).actor


def new_filing_key() -> str:
    """A fresh key for one filing of an agent (random: it names nobody)."""
    return secrets.token_hex(4)


def agent_sender(agent_id: int, key: str) -> str:
    """The conversation id of an agent's filing ``key``."""
    return f"{AGENT_PREFIX}{agent_id}:{key}"


def person_senders(user_id: int) -> tuple[str, str]:
    """Every conversation a Telegram user speaks in: their own, and their filings as an agent
    (``agent:<id>``, under which each filing's ``agent:<id>:<key>`` falls)."""
    return villager_sender(user_id), f"{AGENT_PREFIX}{user_id}"


def telegram_chat_of(sender_id: str) -> int | None:
    """The private chat behind ``tg:<id>`` or ``agent:<id>:<key>``, else None (e.g. the
    terminal chat, which has nowhere to push to)."""
    if sender_id.startswith(TG_PREFIX):
        rest = sender_id[len(TG_PREFIX) :]
    elif sender_id.startswith(AGENT_PREFIX):
        rest = sender_id[len(AGENT_PREFIX) :].split(":", 1)[0]
    else:
        return None
    return int(rest) if rest.lstrip("-").isdigit() else None
