"""An async client of Rasa's REST channel (POST {rasa}/webhooks/rest/webhook).

The conversation id (``sender``) is the stable id the case records use for the person:
``tg:<telegram user id>`` for a villager, ``agent:<agent user id>:<villager key>`` for a proxy
agent filing for someone.  The actions read ``tracker.sender_id`` as the villager id, so the
same string must be used here and when ``/cases`` looks cases up.

Connection errors, time-outs and 5xx answers are retried with exponential back-off; after
the last retry :class:`RasaUnavailable` is raised and the caller keeps the message in the
relay backlog (bot/state_store.py) so it is not lost.  A 200 whose body is not a JSON list of
replies counts as a failed attempt too: treating it as "no reply" would lose the message.  A 4xx answer is a bug in our request, not a
passing outage, and raises :class:`RasaError` at once.

Delivery to Rasa is at-least-once: a request that timed out may have been processed, and
the retry then repeats the message in the conversation.  The time-out is generous (30 s)
so that this stays rare.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import aiohttp

from bot.config import SECRET_HEADER

__all__ = ["RasaClient", "RasaError", "RasaUnavailable", "Reply"]

log = logging.getLogger(__name__)

Reply = dict[str, Any]
#: Waits before the 2nd, 3rd … attempt (seconds).  About 7.5 s in all: long enough to ride
#: out a restarting server, short enough that the villager is not left wondering.
DEFAULT_RETRY_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)


def _replies(body: str) -> list[Reply] | None:
    """Rasa's replies in a 200 answer: a JSON list; None for anything else."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, list):
        return None
    return [r for r in data if isinstance(r, dict)]


class RasaError(Exception):
    """Rasa refused the request (4xx): retrying the same request would not help."""


class RasaUnavailable(Exception):
    """Rasa could not be reached (or kept failing) after every retry."""


class RasaClient:
    """Talks to one Rasa server.  Open with :meth:`start` (or lazily), close with :meth:`close`."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        secret: str = "",
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        #: Sent as X-Xiangyin-Secret: the channel refuses requests without it.
        self.secret = secret
        self.timeout = timeout
        self.retry_delays = tuple(retry_delays)
        self._sleep = sleep
        self._session: aiohttp.ClientSession | None = None

    @property
    def webhook_url(self) -> str:
        """The REST channel's endpoint."""
        return f"{self.base_url}/webhooks/rest/webhook"

    async def start(self) -> None:
        """Open the HTTP session (must run inside the event loop that will use it)."""
        if self._session is None or self._session.closed:
            # Many villagers at once: allow plenty of parallel connections to one host.
            connector = aiohttp.TCPConnector(limit=100)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={SECRET_HEADER: self.secret},
            )

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self,
        sender: str,
        text: str,
        metadata: Mapping[str, Any] | None = None,
        *,
        on_first_failure: Callable[[], Awaitable[None]] | None = None,
    ) -> list[Reply]:
        """Send one message and return Rasa's replies.

        ``on_first_failure`` is awaited once, after the first failed attempt, so the caller
        can tell the villager that we are retrying and nothing is lost.
        Raises RasaUnavailable after the last retry, RasaError on a 4xx answer.
        """
        await self.start()
        assert self._session is not None
        payload = {"sender": sender, "message": text, "metadata": dict(metadata or {})}
        last: str = ""
        for attempt, delay in enumerate((0.0, *self.retry_delays)):
            if delay:
                await self._sleep(delay)
            try:
                async with self._session.post(self.webhook_url, json=payload) as response:
                    if response.status < 500:
                        if response.status >= 400:
                            raise RasaError(f"Rasa answered HTTP {response.status}")
                        replies = _replies(await response.text())
                        if replies is not None:
                            return replies
                        # Not Rasa's answer (a proxy's page, a half-written body): the message
                        # may not have arrived, so it counts as a failed attempt.
                        last = "HTTP 200, not a list of replies"
                    else:
                        last = f"HTTP {response.status}"
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                last = type(exc).__name__
            # Log the sender's kind only, never the text: it may quote a phone number.
            log.warning("Rasa attempt %d failed (%s)", attempt + 1, last)
            if attempt == 0 and on_first_failure is not None:
                await on_first_failure()
        raise RasaUnavailable(last)
