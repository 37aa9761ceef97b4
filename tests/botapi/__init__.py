"""A local stand-in for the Telegram Bot API, for driving the real python-telegram-bot in tests."""

from .server import ApiCall, CallbackAnswer, ChatActionCall, FakeBotApi, SentCall

__all__ = ["ApiCall", "CallbackAnswer", "ChatActionCall", "FakeBotApi", "SentCall"]
