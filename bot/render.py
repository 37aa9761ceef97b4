"""Rasa's replies → Telegram messages.

* The texts of one turn are sent as one message (paragraphs); text longer than Telegram's 4096
  UTF-16 units is split, at a line break when possible.
* Rasa buttons become an inline keyboard, one button per row (Chinese titles are long and
  villagers tap with thumbs).  ``callback_data`` is at most 64 bytes: a payload that fits is
  carried as ``r:<payload>``; a longer one as ``k:<key>``, the key mapping to the payload in the
  chat's own store (``context.chat_data``), so nothing is global and a stale key is detected.
* A tapped button goes back to Rasa as its payload (bot/handlers.py).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

__all__ = [
    "MAX_CALLBACK_BYTES",
    "MAX_TEXT_UNITS",
    "Outgoing",
    "callback_data_for",
    "keyboard",
    "payload_of",
    "render_replies",
    "split_text",
    "utf16_len",
]

MAX_TEXT_UNITS = 4096
MAX_CALLBACK_BYTES = 64
#: How many long payloads a chat remembers (oldest forgotten first).
MAX_STORED_PAYLOADS = 200
RASA_PREFIX = "r:"
KEY_PREFIX = "k:"
_STORE = "rasa_payloads"


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT_UNITS) -> list[str]:
    """``text`` in pieces of at most ``limit`` UTF-16 units, cut at line breaks if possible."""
    pieces: list[str] = []
    rest = text
    while utf16_len(rest) > limit:
        # Largest prefix within the limit (by characters, then checked in UTF-16 units).
        cut = limit
        while utf16_len(rest[:cut]) > limit:
            cut -= 1
        newline = rest.rfind("\n", 0, cut)
        if newline > cut // 2:  # a line break in the second half: cut there
            cut = newline + 1
        pieces.append(rest[:cut].rstrip("\n"))
        rest = rest[cut:]
    if rest.strip() or not pieces:
        pieces.append(rest)
    return [p for p in pieces if p.strip()] or [text]


@dataclass
class Outgoing:
    """One Telegram message to send: text and the Rasa buttons under it."""

    text: str
    buttons: list[dict[str, Any]] = field(default_factory=list)


def render_replies(replies: Iterable[dict[str, Any]], empty_button_text: str) -> list[Outgoing]:
    """Rasa REST replies as Telegram messages.

    Consecutive texts of one turn go into one message (a paragraph each), up to a reply with
    buttons, which ends the message it is in: fewer bubbles for the villager to scroll, and
    fewer sends against Telegram's 30-messages-a-second ceiling.  Text too long for one
    message is split; the buttons go under the last piece.  ``empty_button_text`` heads
    buttons that come without text (Telegram needs text).
    """
    out: list[Outgoing] = []
    paragraphs: list[str] = []

    def flush(buttons: list[dict[str, Any]]) -> None:
        text = "\n\n".join(paragraphs)
        paragraphs.clear()
        if not text and not buttons:
            return
        pieces = split_text(text) if text else [empty_button_text]
        out.extend(Outgoing(piece) for piece in pieces[:-1])
        out.append(Outgoing(pieces[-1], buttons))

    for reply in replies:
        text = str(reply.get("text") or "").strip()
        buttons = [b for b in reply.get("buttons") or [] if b.get("title") and b.get("payload")]
        if reply.get("image"):
            text = f"{text}\n{reply['image']}".strip()
        if text:
            paragraphs.append(text)
        if buttons:
            flush(buttons)
    flush([])
    return out


def _payload_store(chat_data: MutableMapping[str, Any]) -> OrderedDict[str, str]:
    store = chat_data.get(_STORE)
    if not isinstance(store, OrderedDict):
        # A plain dict after a restart (stored as JSON, in insertion order): keep its entries.
        store = OrderedDict(store if isinstance(store, dict) else ())
        chat_data[_STORE] = store
    return store


def callback_data_for(payload: str, chat_data: MutableMapping[str, Any]) -> str:
    """``r:<payload>`` when it fits in 64 bytes, else ``k:<key>`` with the payload stored."""
    direct = RASA_PREFIX + payload
    if len(direct.encode("utf-8")) <= MAX_CALLBACK_BYTES:
        return direct
    key = hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]
    store = _payload_store(chat_data)
    store[key] = payload
    store.move_to_end(key)
    while len(store) > MAX_STORED_PAYLOADS:
        store.popitem(last=False)
    return KEY_PREFIX + key


def payload_of(data: str, chat_data: MutableMapping[str, Any]) -> str | None:
    """The Rasa payload behind a tapped button, or None for an unknown (expired) key."""
    if data.startswith(RASA_PREFIX):
        return data[len(RASA_PREFIX) :]
    if data.startswith(KEY_PREFIX):
        return _payload_store(chat_data).get(data[len(KEY_PREFIX) :])
    return None


def keyboard(
    buttons: list[dict[str, Any]], chat_data: MutableMapping[str, Any]
) -> InlineKeyboardMarkup | None:
    """An inline keyboard for Rasa buttons, one per row; None without buttons."""
    if not buttons:
        return None
    rows = [
        [
            InlineKeyboardButton(
                str(b["title"])[:64], callback_data=callback_data_for(str(b["payload"]), chat_data)
            )
        ]
        for b in buttons
    ]
    return InlineKeyboardMarkup(rows)


def button_title(markup: Any, data: str) -> str | None:
    """The title of the button with ``data`` on a message's keyboard, if it is there."""
    for row in getattr(markup, "inline_keyboard", None) or ():
        for button in row:
            if getattr(button, "callback_data", None) == data:
                return str(button.text)
    return None
