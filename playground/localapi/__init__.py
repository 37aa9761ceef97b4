"""A local stand-in for the Telegram Bot API: the real python-telegram-bot runs against it in
the tests, the benchmark and the terminal playground (`make run` without a token)."""

from .server import ApiCall, CallbackAnswer, ChatActionCall, FakeBotApi, SentCall

__all__ = ["ApiCall", "CallbackAnswer", "ChatActionCall", "FakeBotApi", "SentCall"]
