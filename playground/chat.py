"""Terminal chat against the Rasa REST channel (`xiangyin chat`).

The same relay rules the Telegram front end follows: empty input never reaches
Rasa, very long input is cut with a notice, buttons are numbered and a number
sends the button's payload, and a server that is down is retried without losing
the villager's message.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

import requests

from bot.config import SECRET_HEADER
from knowledge.frontend import say
from knowledge.text import MAX_MESSAGE_CHARS

RETRY_DELAYS = (1.0, 2.0, 4.0)
EXIT_WORDS = {"退出", "exit", "quit", "/quit", "/exit"}


@dataclass
class RestClient:
    """Talks to Rasa's REST channel: POST {base}/webhooks/rest/webhook."""

    base_url: str
    #: The shared secret the REST channel asks for (XIANGYIN_SECRET).
    secret: str
    sender: str = field(default_factory=lambda: f"terminal-{uuid.uuid4().hex[:12]}")
    timeout: float = 60.0
    sleep: Callable[[float], None] = time.sleep

    def send(self, text: str, notify: Callable[[str], None] = print) -> list[dict] | None:
        """Send one message; the bot's replies, or None after all retries failed."""
        url = f"{self.base_url.rstrip('/')}/webhooks/rest/webhook"
        payload = {"sender": self.sender, "message": text, "metadata": {"channel": "terminal"}}
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS)):
            if delay:
                self.sleep(delay)
            try:
                response = requests.post(
                    url, json=payload, timeout=self.timeout, headers={SECRET_HEADER: self.secret}
                )
                if response.status_code < 500:
                    response.raise_for_status()
                    return response.json()
            except (requests.ConnectionError, requests.Timeout):
                pass
            if attempt == 0:
                notify(say("server_down"))
        return None


def prepare(text: str) -> tuple[str | None, str | None]:
    """(message to send or None, notice for the villager or None)."""
    text = (text or "").strip()
    if not text:
        return None, say("empty_message")
    if len(text) > MAX_MESSAGE_CHARS:
        return text[:MAX_MESSAGE_CHARS], say("too_long", limit=MAX_MESSAGE_CHARS)
    return text, None


def render(replies: list[dict]) -> tuple[list[str], list[dict]]:
    """Lines to print and the buttons offered (numbered from 1)."""
    lines, buttons = [], []
    for reply in replies:
        if reply.get("text"):
            lines.append(f"乡音：{reply['text']}")
        for button in reply.get("buttons") or []:
            buttons.append(button)
            lines.append(f"    [{len(buttons)}] {button.get('title')}")
    return lines, buttons


def run_chat(
    base_url: str,
    secret: str,
    sender: str | None = None,
    input_fn=input,
    print_fn=print,
    sleep=time.sleep,
) -> int:
    """The interactive loop; returns the exit code."""
    client = RestClient(base_url, secret, sleep=sleep)
    if sender:
        client.sender = sender
    print_fn(say("chat_banner"))
    buttons: list[dict] = []
    while True:
        try:
            raw = input_fn("您：")
        except (EOFError, KeyboardInterrupt):
            print_fn("\n" + say("chat_bye"))
            return 0
        if raw.strip() in EXIT_WORDS:
            print_fn(say("chat_bye"))
            return 0
        if raw.strip().isdigit() and 1 <= int(raw.strip()) <= len(buttons):
            raw = buttons[int(raw.strip()) - 1]["payload"]
        text, notice = prepare(raw)
        if notice:
            print_fn(notice)
        if text is None:
            continue
        replies = client.send(text, notify=print_fn)
        if replies is None:
            print_fn(say("server_gave_up"))
            continue
        lines, buttons = render(replies)
        for line in lines or [say("no_reply")]:
            print_fn(line)
