"""Photos, documents and voice notes: evidence for a case, and the voice notes' words.

Records decides which case a file belongs to (the case talked about, the sender's open case,
or pending until the case being filled in is filed); this module fetches the file, keeps it,
and tells the sender.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from pathlib import Path
from typing import Any

from telegram import Message, Update
from telegram.error import BadRequest

from bot.handlers.common import (
    MAX_MESSAGE_CHARS,
    Context,
    filing_allowed,
    parts,
    relay,
    reply,
    sender_of,
)
from bot.identity import telegram_chat_of, villager_sender
from knowledge.frontend import say
from records.domain.identity import TELEGRAM
from records.domain.staff import VOICE, Evidence

__all__ = ["media_message"]

log = logging.getLogger(__name__)


def _file_of(message: Message) -> tuple[str, Any] | None:
    if message.photo:
        return "photo", message.photo[-1]  # the largest size
    if message.document:
        return "document", message.document
    if message.voice:
        return "voice", message.voice
    return None


def _seconds(value: Any) -> int | None:
    """A voice note's length in seconds (PTB gives an int now, a timedelta in future)."""
    if value is None:
        return None
    return int(value.total_seconds()) if hasattr(value, "total_seconds") else int(value)


async def _download(media: Any, folder: Path) -> str | None:
    """Fetch a file from Telegram into ``folder`` (readable by this user only); its path, or
    None when it cannot be fetched (over the Bot API's 20 MB, disk trouble) — the file id is
    kept anyway."""
    try:
        telegram_file = await media.get_file()
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        suffix = Path(telegram_file.file_path or "").suffix or ".bin"
        path = folder / f"{media.file_unique_id}{suffix}"
        await telegram_file.download_to_drive(path)
        os.chmod(path, 0o600)
        return str(path)
    except (BadRequest, OSError) as exc:
        log.warning("evidence not downloaded: %s", type(exc).__name__)
        return None


async def media_message(update: Update, context: Context) -> None:
    """A photo, document or voice note: evidence for the sender's case.

    * In a staff↔villager talk the file goes to the case talked about, and the other side
      gets a copy (the staff member's own files are passed on as they are).
    * Otherwise it goes to the sender's latest open case; without one (the form is still
      being filled) it is kept pending and attached when the case is filed.
    * A voice note reaches the handling staff to listen to, and the villager is told a person
      will listen.  With a speech recogniser configured (bot/asr.py) its text is also shown
      to the villager and relayed to the assistant.
    """
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    found = _file_of(message)
    if found is None:
        return
    if not await filing_allowed(update, context):
        return  # an agent who may no longer file: nothing is kept in anyone's name
    kind, media = found
    part = parts(context)
    records = part.records
    sender = sender_of(context, user.id)
    where = await records.where_file_goes(sender, str(message.chat_id), villager_sender(user.id))
    talk = where.talk
    if talk is not None and talk.staff == villager_sender(user.id):
        # The staff member shows the villager something: pass it on as it is.
        await message.copy(int(talk.villager_chat))
        return
    folder = Path(part.config.evidence_dir) / (
        where.case_number or f"pending-{re.sub(r'[^0-9A-Za-z]+', '-', sender)}"
    )
    stored = await _download(media, folder)
    await records.keep_file(
        Evidence(
            sender_id=sender,
            channel=TELEGRAM,
            file_id=media.file_id,
            file_unique_id=media.file_unique_id,
            kind=kind,
            size=getattr(media, "file_size", None),
            received_at=records.clock.now(),
            case_number=where.case_number,
            duration=_seconds(getattr(media, "duration", None)),
            stored_path=stored,
        ),
        # In a talk the staff member gets the file itself (below), not a second copy.
        notify_staff=talk is None,
    )
    staff_chat = telegram_chat_of(talk.staff) if talk is not None else None
    if staff_chat is not None:
        await message.copy(staff_chat)
    if kind != VOICE:
        if where.case_number is not None:
            await reply(update, say("evidence_saved", number=where.case_number))
        else:
            await reply(update, say("evidence_pending"))
        return
    if where.case_number is not None:
        await reply(update, say("voice_saved", number=where.case_number))
    else:
        await reply(update, say("voice_pending"))
    transcriber = context.bot_data.transcriber
    if transcriber is None or stored is None or talk is not None:
        return
    content = await asyncio.to_thread(Path(stored).read_bytes)
    heard = await transcriber.transcribe(content, getattr(media, "mime_type", None) or "audio/ogg")
    if heard:
        await reply(update, say("voice_heard", text=heard[:MAX_MESSAGE_CHARS]))
        await relay(update, context, heard[:MAX_MESSAGE_CHARS])
