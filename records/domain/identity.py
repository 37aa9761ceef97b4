"""Who someone is on a messenger, without knowing which messenger.

A person is named by their channel and their id there: ``tg:123456`` is Telegram user
123456.  That string (the *actor*) is what case history, notes and talks record, what the
villager's Rasa conversation is called, and what staff are keyed by; only the front end of
a channel knows how to turn it back into a chat to write to.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TELEGRAM", "ChannelIdentity"]

#: The Telegram channel's prefix.
TELEGRAM = "tg"


@dataclass(frozen=True)
class ChannelIdentity:
    """A person on one channel: ``channel`` ("tg") and their ``id`` there (as text)."""

    channel: str
    id: str

    @property
    def actor(self) -> str:
        """``tg:123456``: how records name this person."""
        return f"{self.channel}:{self.id}"

    @classmethod
    def parse(cls, actor: str) -> ChannelIdentity:
        """Inverse of :attr:`actor`.  Raises ValueError for a string without a channel."""
        channel, sep, ident = actor.partition(":")
        if not sep or not channel or not ident:
            raise ValueError(f"not a channel identity: {actor!r}")
        return cls(channel, ident)

    def __str__(self) -> str:
        return self.actor
