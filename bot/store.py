"""What the Telegram front end keeps in the database (tables in records/orm.py, migration 0002).

* ``processed_updates`` — update ids already handled.  Telegram redelivers an update when it
  did not see the confirmation (a crash, a lost connection, a webhook that timed out); the
  insert fails for a repeat, so it is answered once, also across restarts and replicas.
* ``relay_backlog`` — villagers' messages that could not reach Rasa after every retry.  They
  are relayed, oldest first, as soon as Rasa answers again; a newer message of the same
  person waits behind them so that the conversation keeps its order.

Synchronous functions over an Engine; the bot calls them through ``asyncio.to_thread``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from records.orm import processed_updates, relay_backlog
from records.outbox import utcnow

__all__ = [
    "BacklogItem",
    "backlog_add",
    "backlog_count",
    "backlog_due",
    "backlog_has",
    "backlog_mark_delivered",
    "backlog_mark_failed",
    "claim_update",
    "prune_processed_updates",
]


def _naive(at: datetime) -> datetime:
    return at.astimezone(timezone.utc).replace(tzinfo=None) if at.tzinfo else at


def claim_update(engine: Engine, bot_id: int, update_id: int) -> bool:
    """Record that this bot is handling this update; False if it was seen before."""
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(processed_updates).values(
                    bot_id=bot_id, update_id=update_id, received_at=_naive(utcnow())
                )
            )
    except IntegrityError:
        return False
    return True


def prune_processed_updates(engine: Engine, older_than: timedelta = timedelta(days=2)) -> int:
    """Forget update ids older than Telegram ever redelivers (it keeps updates 24 h).

    Not much longer either: after a week without updates Telegram starts the ids again at
    a random number, which must not be mistaken for an old one.
    """
    cutoff = _naive(utcnow() - older_than)
    with engine.begin() as conn:
        result = conn.execute(
            delete(processed_updates).where(processed_updates.c.received_at < cutoff)
        )
    return int(result.rowcount or 0)


@dataclass(frozen=True)
class BacklogItem:
    """A villager's message waiting for Rasa."""

    id: int
    sender_id: str
    chat_id: int
    text: str
    metadata: Mapping[str, Any]
    attempts: int


def backlog_add(
    engine: Engine, sender_id: str, chat_id: int, text: str, metadata: Mapping[str, Any]
) -> int:
    """Keep a message for later relaying; returns its id."""
    with engine.begin() as conn:
        result = conn.execute(
            insert(relay_backlog).values(
                sender_id=sender_id,
                chat_id=chat_id,
                text=text,
                message_metadata=dict(metadata),
                created_at=_naive(utcnow()),
                attempts=0,
            )
        )
    return int(result.inserted_primary_key[0])


def backlog_has(engine: Engine, sender_id: str) -> bool:
    """Does this person have messages still waiting for Rasa?"""
    with engine.connect() as conn:
        row = conn.execute(
            select(relay_backlog.c.id)
            .where(relay_backlog.c.sender_id == sender_id, relay_backlog.c.delivered_at.is_(None))
            .limit(1)
        ).first()
    return row is not None


def backlog_due(engine: Engine, limit: int = 100) -> list[BacklogItem]:
    """Waiting messages, oldest first (per person that is their order of sending)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(relay_backlog)
            .where(relay_backlog.c.delivered_at.is_(None))
            .order_by(relay_backlog.c.id)
            .limit(limit)
        ).all()
    return [
        BacklogItem(r.id, r.sender_id, int(r.chat_id), r.text, r.message_metadata or {}, r.attempts)
        for r in rows
    ]


def backlog_mark_delivered(engine: Engine, item_id: int) -> None:
    """Rasa has the message (and the villager its replies)."""
    with engine.begin() as conn:
        conn.execute(
            update(relay_backlog)
            .where(relay_backlog.c.id == item_id)
            .values(delivered_at=_naive(utcnow()))
        )


def backlog_mark_failed(engine: Engine, item_id: int) -> None:
    """One more failed attempt (kept; there is no giving up on a villager's words)."""
    with engine.begin() as conn:
        conn.execute(
            update(relay_backlog)
            .where(relay_backlog.c.id == item_id)
            .values(attempts=relay_backlog.c.attempts + 1)
        )


def backlog_count(engine: Engine) -> int:
    """Messages still waiting (for health checks and tests)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(relay_backlog)
                .where(relay_backlog.c.delivered_at.is_(None))
            ).scalar_one()
        )
