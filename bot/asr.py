"""The hook for speech recognition of villagers' voice notes.

There is no offline Chinese speech recognition in this deployment, so by default a voice
note is only kept as evidence and sent to the handling staff, who listen to it.  A county
that runs a recogniser (on its own server: villagers' voices must not leave it) sets
``XIANGYIN_ASR_URL``; the bot then POSTs each voice note there and, given text back, also
relays that text to the assistant as if the villager had typed it (after showing it to them).

The endpoint's contract is small on purpose::

    POST <XIANGYIN_ASR_URL>      Content-Type: audio/ogg   body: the OGG/Opus bytes
    200 {"text": "邻居占了我家的地"}

Anything else — an error, a time-out, empty text — means "not recognised": the staff still
listen, nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import aiohttp

__all__ = ["HttpTranscriber", "Transcriber", "transcriber_for"]

log = logging.getLogger(__name__)

#: A recogniser that takes longer than this is not waited for (the villager is waiting).
TIMEOUT_S = 15.0


class Transcriber(Protocol):
    """Turns a voice note into text, or None when it cannot."""

    async def transcribe(self, audio: bytes, mime_type: str) -> str | None: ...


class HttpTranscriber:
    """A recogniser behind the HTTP contract above."""

    def __init__(self, url: str, timeout: float = TIMEOUT_S) -> None:
        self.url = url
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def transcribe(self, audio: bytes, mime_type: str) -> str | None:
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session:
                async with session.post(
                    self.url, data=audio, headers={"Content-Type": mime_type}
                ) as response:
                    if response.status != 200:
                        log.warning("speech recognition answered HTTP %s", response.status)
                        return None
                    body = await response.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            log.warning("speech recognition failed: %s", type(exc).__name__)
            return None
        text = body.get("text") if isinstance(body, dict) else None
        return text.strip() or None if isinstance(text, str) else None


def transcriber_for(url: str | None) -> Transcriber | None:
    """The configured recogniser, or None (staff listen)."""
    return HttpTranscriber(url) if url else None
