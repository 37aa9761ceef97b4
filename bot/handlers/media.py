"""Photos, documents and voice notes: evidence for a case, and the voice notes' words.

Records decides which case a file belongs to (the case talked about, the sender's open case,
or pending until the case being filled in is filed); this module fetches the file, keeps it,
and tells the sender.

Only what a case can use is kept — photos, voice notes and audio, PDF, Word and pictures as
documents — and only within limits (bot/config.py): a file over the size limit is refused
before it is fetched, and each person has a daily allowance and each case a total
(records/services/evidence.py).  A refused file is never dropped silently: the sender is told
why and what to do instead.  Kept files are readable by this user only (0600, folders 0700).
"""

from __future__ import annotations

import asyncio
import contextlib
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
from bot.identity import person_senders, telegram_chat_of, villager_sender
from knowledge.frontend import say
from records.domain.identity import TELEGRAM
from records.domain.staff import VOICE, Evidence
from records.services.evidence import CASE_FULL, EvidenceLimits

__all__ = ["DOCUMENT_TYPES", "media_message"]

log = logging.getLogger(__name__)

_MB = 1024 * 1024
_IMAGE, _AUDIO = ("image/",), ("audio/",)
#: Documents a case can use, by the file name's ending, with the types (prefixes) the sender's
#: app may give them; the kept file gets this ending, whatever the file is called.
DOCUMENT_TYPES: dict[str, tuple[str, ...]] = {
    ".pdf": ("application/pdf",),
    ".doc": ("application/msword",),
    ".docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",),
    ".wps": ("application/vnd.ms-works", "application/kswps", "application/wps-office"),
    ".jpg": _IMAGE,
    ".jpeg": _IMAGE,
    ".png": _IMAGE,
    ".heic": _IMAGE,
    ".heif": _IMAGE,
    ".webp": _IMAGE,
    ".bmp": _IMAGE,
    ".mp3": _AUDIO,
    ".m4a": _AUDIO,
    ".amr": _AUDIO,
    ".aac": _AUDIO,
    ".wav": _AUDIO,
    ".ogg": _AUDIO,
    ".oga": _AUDIO,
    ".opus": _AUDIO,
}
#: The ending for a document sent without a name, by its type.
_SUFFIX_OF_TYPE = {
    "application/pdf": ".pdf",
    "application/msword": ".doc",
    DOCUMENT_TYPES[".docx"][0]: ".docx",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "audio/mpeg": ".mp3",
    "audio/ogg": ".ogg",
}
_NO_TYPE = ("", "application/octet-stream")


def _file_of(message: Message) -> tuple[str, Any] | None:
    if message.photo:
        return "photo", message.photo[-1]  # the largest size
    if message.document:
        return "document", message.document
    if message.voice:
        return "voice", message.voice
    if message.audio:
        return "audio", message.audio
    return None


def _suffix(kind: str, media: Any) -> str | None:
    """The ending the kept file gets, or None: not something a case can use (a program, an
    archive, an unknown type — or a name and a type that do not agree)."""
    if kind == "photo":
        return ".jpg"
    if kind == "voice":
        return ".ogg"
    mime = (getattr(media, "mime_type", None) or "").lower()
    suffix = Path(getattr(media, "file_name", None) or "").suffix.lower()
    if not suffix:
        suffix = _SUFFIX_OF_TYPE.get(mime, "")
    allowed = DOCUMENT_TYPES.get(suffix)
    if allowed is None or (kind == "audio" and allowed is not _AUDIO):
        return None
    return suffix if mime in _NO_TYPE or mime.startswith(allowed) else None


def _seconds(value: Any) -> int | None:
    """A voice note's length in seconds (PTB gives an int now, a timedelta in future)."""
    if value is None:
        return None
    return int(value.total_seconds()) if hasattr(value, "total_seconds") else int(value)


def _private_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)  # also one made before, or under another umask


async def _download(media: Any, root: Path, folder: Path, suffix: str) -> str | None:
    """Fetch a file from Telegram into ``folder`` under ``root``, readable by this user only
    from its first byte; its path, or None when it cannot be fetched (disk trouble, Telegram
    refusing) — the file id is kept anyway."""
    path = folder / f"{re.sub(r'[^0-9A-Za-z_-]+', '-', media.file_unique_id)}{suffix}"
    try:
        telegram_file = await media.get_file()
        _private_folder(root)
        _private_folder(folder)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)  # the same file sent before may be there already
        with os.fdopen(descriptor, "wb") as out:
            await telegram_file.download_to_memory(out)
        return str(path)
    except (BadRequest, OSError) as exc:
        log.warning("evidence not downloaded: %s", type(exc).__name__)
        with contextlib.suppress(OSError):
            path.unlink()
        return None


def _limits(context: Context) -> EvidenceLimits:
    config = parts(context).config
    return EvidenceLimits(
        daily_files=config.evidence_daily_files,
        daily_bytes=config.evidence_daily_bytes,
        case_bytes=config.evidence_case_bytes,
    )


async def media_message(update: Update, context: Context) -> None:
    """A photo, document, voice note or audio file: evidence for the sender's case.

    * Refused, with what to do instead: a kind of file a case cannot use, a file over the
      size limit (before fetching it), a file over the sender's daily allowance or the case's
      total, and any file from an agent who may no longer file for villagers.
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
        return
    kind, media = found
    suffix = _suffix(kind, media)
    if suffix is None:
        log.info("evidence refused from user %s: a %s a case cannot use", user.id, kind)
        await reply(update, say("evidence_wrong_type"))
        return
    part = parts(context)
    size = getattr(media, "file_size", None)
    if size is not None and size > part.config.evidence_max_file_bytes:
        log.info("evidence refused from user %s: %s bytes", user.id, size)
        await reply(
            update, say("evidence_too_big", limit=round(part.config.evidence_max_file_bytes / _MB))
        )
        return
    records = part.records
    sender = sender_of(context, user.id)
    where = await records.where_file_goes(sender, str(message.chat_id), villager_sender(user.id))
    talk = where.talk
    if talk is not None and talk.staff == villager_sender(user.id):
        # The staff member shows the villager something: pass it on as it is.
        await message.copy(int(talk.villager_chat))
        return
    over = await records.file_allowance(
        person_senders(user.id), where, sender, size, _limits(context)
    )
    if over is not None:
        log.info("evidence refused from user %s: %s", user.id, over)
        await reply(update, say("evidence_case_full" if over == CASE_FULL else "evidence_daily_limit"))
        return
    root = Path(part.config.evidence_dir)
    folder = root / (
        where.case_number or f"pending-{re.sub(r'[^0-9A-Za-z]+', '-', sender)}"
    )
    stored = await _download(media, root, folder, suffix)
    await records.keep_file(
        Evidence(
            sender_id=sender,
            channel=TELEGRAM,
            file_id=media.file_id,
            file_unique_id=media.file_unique_id,
            kind=kind,
            size=size,
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
