"""The REST channel with a shared secret: the only way into the Rasa server's conversations.

Rasa's stock REST channel trusts the ``sender`` in the body, so anyone who reaches it can speak
as any villager.  This one is the same channel (same URL, ``/webhooks/rest/webhook``, same body
and answer) that refuses every request without the secret header.  credentials.yml names it
instead of ``rest:`` and gives it the header's name and the secret (``${XIANGYIN_SECRET}``);
Rasa refuses to start when the variable is unset.  The bot, ``xiangyin chat``, the benchmarks and
outside evaluation scripts send the header (README "Security and privacy").
"""

from __future__ import annotations

import hmac
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request

from knowledge.text import message_text

class SecretRestInput(RestInput):
    """RestInput that answers only requests carrying the shared secret."""

    def __init__(self, secret: Text, header: Text) -> None:
        if not secret:
            raise ValueError("the REST channel needs a secret: set XIANGYIN_SECRET")
        if not header:
            raise ValueError("the REST channel needs the secret header's name (credentials.yml)")
        self.secret = secret
        self.header = header

    @classmethod
    def name(cls) -> Text:
        return "rest"  # the same URL as Rasa's stock channel, which is not loaded

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "SecretRestInput":
        credentials = credentials or {}
        return cls(credentials.get("secret") or "", credentials.get("header") or "")

    def _extract_message(self, req: Request) -> Optional[Text]:
        # A number sent as JSON (13987654321 without quotes) is still what was typed.  Control
        # characters go and a pasted book is cut, as the bot does (knowledge/text.py).
        message = (req.json or {}).get("message")
        if isinstance(message, (int, float)):
            return str(message)
        return message_text(message) if isinstance(message, str) else message

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        webhook = super().blueprint(on_new_message)

        @webhook.middleware("request")
        async def require_secret(request: Request) -> Any:
            given = (request.headers.get(self.header) or "").encode()
            if not hmac.compare_digest(given, self.secret.encode()):
                return response.json({"error": "forbidden"}, status=403)
            if request.method == "POST":
                body = request.json if request.body else None
                if not isinstance(body, dict) or not isinstance(body.get("sender"), str) or not isinstance(
                    body.get("message"), (str, int, float)
                ):
                    return response.json(
                        {"error": "expected JSON {\"sender\": text, \"message\": text}"}, status=400
                    )
            return None

        return webhook
