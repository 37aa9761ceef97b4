"""A stand-in for Rasa's REST channel, for front-end tests that are not about the dialogue.

Records every message it receives; answers with ``reply(sender, text)`` (default: echo); can
be taken "down" (503) or made to answer garbage, to test retries, the backlog and errors.
Villager conversations are tested against the real Rasa (tests/conftest.py ``rasa_url``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web

Reply = list[dict[str, Any]]


class StubRasa:
    """POST /webhooks/rest/webhook on 127.0.0.1; start with ``async with StubRasa() as rasa``."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.down = False
        #: Senders answered 503 while the others get through (one message that keeps failing).
        self.down_for: set[str] = set()
        self.garbage = False
        #: Seconds to think before answering (a slow Rasa).
        self.delay = 0.0
        self.reply: Callable[[str, str], Reply] = lambda sender, text: [
            {"recipient_id": sender, "text": f"收到：{text}"}
        ]
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def texts(self, sender: str | None = None) -> list[str]:
        """Messages received (from ``sender`` only, if given), in order."""
        return [m["message"] for m in self.received if sender is None or m["sender"] == sender]

    async def _webhook(self, request: web.Request) -> web.Response:
        if self.down:
            return web.Response(status=503, text="down")
        body = await request.json()
        if body["sender"] in self.down_for:
            return web.Response(status=503, text="down")
        self.received.append(body)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.garbage:
            return web.Response(status=200, text="<html>not json</html>")
        return web.json_response(self.reply(body["sender"], body["message"]))

    async def __aenter__(self) -> StubRasa:
        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", self._webhook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
