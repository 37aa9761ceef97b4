"""What the Telegram front end keeps in the database — the bot's own tables, and the only
place in bot/ that speaks SQL.

* ``processed_updates`` — update ids already handled.  Telegram redelivers an update when it
  did not see the confirmation (a crash, a lost connection, a webhook that timed out); the
  insert fails for a repeat, so it is answered once, also across restarts and replicas.
* ``bot_state`` — python-telegram-bot's per-user and per-chat data (bot/persistence.py):
  button payloads, an agent's /file mode, the question the bot asked a staff member.
* ``relay_backlog`` — villagers' messages that could not reach Rasa after every retry.  They
  are relayed, oldest first, as soon as Rasa answers again; a newer message of the same
  person waits behind them so that the conversation keeps its order.  A bot process claims
  items for a lease (:meth:`BotStateStore.backlog_claim`), so two replicas never relay the
  same message; one that fails waits, backing off, while the others go ahead.  Once relayed,
  an item keeps no text.

What people said and what the bot keeps about them (``bot_state.data``, the backlog's text
and metadata) is encrypted with the case records' cipher (records/adapters/crypto.py, under
XIANGYIN_DATA_KEY), handed in where the process starts; rows written before that are read
as they are.

The tables live in the case database but belong to the bot: their schema is this module's
:data:`metadata`, migrated by bot/migrations (version table ``bot_alembic_version``) through
the one migration entry point, ``xiangyin migrate``.  Every method is a coroutine; the
blocking work runs in a worker thread (:meth:`BotStateStore._run`).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from records.domain.clock import Clock, naive_utc

__all__ = ["BacklogItem", "BotStateStore", "SecretBox", "backoff", "metadata", "migrate"]

T = TypeVar("T")
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "bot_alembic_version"

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)
Json = JSON().with_variant(JSONB(), "postgresql")
BigId = BigInteger().with_variant(Integer(), "sqlite")

#: Update ids count per bot, so the bot's id is part of the key (several bots may share a
#: database).
processed_updates = Table(
    "processed_updates",
    metadata,
    Column("bot_id", BigInteger, primary_key=True, autoincrement=False),
    Column("update_id", BigInteger, primary_key=True, autoincrement=False),
    Column("received_at", DateTime, nullable=False),
    Index(None, "received_at"),
)

#: ``kind`` is ``user`` or ``chat``, ``key`` the Telegram id.
bot_state = Table(
    "bot_state",
    metadata,
    Column("kind", String(8), primary_key=True),
    Column("key", BigInteger, primary_key=True),
    Column("data", Json, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

relay_backlog = Table(
    "relay_backlog",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("sender_id", String(255), nullable=False),
    Column("chat_id", BigInteger, nullable=False),
    Column("text", Text, nullable=False),
    Column("message_metadata", Json, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("delivered_at", DateTime, nullable=True),
    #: The bot process relaying the item, and until when no other may take it.
    Column("claimed_by", String(255), nullable=True),
    Column("lease_until", DateTime, nullable=True),
    #: After a failed attempt: not tried again before this.
    Column("next_attempt_at", DateTime, nullable=True),
    Index(None, "sender_id", "delivered_at"),
)


#: The first retry of a failed backlog item, doubling with each failure up to the cap.
BACKLOG_RETRY_BASE = timedelta(seconds=5)
BACKLOG_RETRY_CAP = timedelta(minutes=2)


class SecretBox(Protocol):
    """What the store needs of the case records' cipher (records/adapters/crypto.py)."""

    def encrypt(self, value: str | None) -> str | None: ...

    def decrypt(self, stored: str | None) -> str | None: ...

    def encrypt_json(self, value: Any) -> str | None: ...

    def decrypt_json(self, stored: Any) -> Any: ...


def backoff(attempts: int) -> timedelta:
    """How long a backlog item waits after its ``attempts``-th failed attempt."""
    return min(BACKLOG_RETRY_BASE * 2 ** max(attempts - 1, 0), BACKLOG_RETRY_CAP)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the bot's tables to ``revision`` (called by the one migration entry point)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["configure_logger"] = False
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@dataclass(frozen=True)
class BacklogItem:
    """A villager's message waiting for Rasa."""

    id: int
    sender_id: str
    chat_id: int
    text: str
    metadata: Mapping[str, Any]
    attempts: int


class BotStateStore:
    """The bot's tables, behind coroutines."""

    def __init__(self, engine: Engine, clock: Clock, cipher: SecretBox) -> None:
        self.engine = engine
        self.clock = clock
        self.cipher = cipher

    async def _run(self, work: Callable[..., T], *args: Any) -> T:
        """The one place the bot's blocking database work leaves the event loop."""
        return await asyncio.to_thread(functools.partial(work, *args))

    def _now(self) -> Any:
        return naive_utc(self.clock.now())

    # ----- updates ------------------------------------------------------------------------

    def _claim_update(self, bot_id: int, update_id: int) -> bool:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(processed_updates).values(
                        bot_id=bot_id, update_id=update_id, received_at=self._now()
                    )
                )
        except IntegrityError:
            return False
        return True

    async def claim_update(self, bot_id: int, update_id: int) -> bool:
        """Record that this bot is handling this update; False if it was seen before."""
        return await self._run(self._claim_update, bot_id, update_id)

    def _prune(self, older_than: timedelta) -> int:
        cutoff = naive_utc(self.clock.now() - older_than)
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(processed_updates).where(processed_updates.c.received_at < cutoff)
            )
        return int(result.rowcount or 0)

    async def prune_processed_updates(self, older_than: timedelta = timedelta(days=2)) -> int:
        """Forget update ids older than Telegram ever redelivers (it keeps updates 24 h).

        Not much longer either: after a week without updates Telegram starts the ids again
        at a random number, which must not be mistaken for an old one.
        """
        return await self._run(self._prune, older_than)

    # ----- PTB's user and chat data -------------------------------------------------------

    def _load_state(self, kind: str) -> dict[int, dict[Any, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(bot_state.c.key, bot_state.c.data).where(bot_state.c.kind == kind)
            )
            return {int(r.key): dict(self.cipher.decrypt_json(r.data) or {}) for r in rows}

    async def load_state(self, kind: str) -> dict[int, dict[Any, Any]]:
        """Every stored user's (``kind="user"``) or chat's (``"chat"``) data."""
        return await self._run(self._load_state, kind)

    def _save_state(self, kind: str, key: int, data: dict[Any, Any]) -> None:
        with self.engine.begin() as conn:
            if not data:  # nothing worth keeping: no row
                conn.execute(
                    delete(bot_state).where(bot_state.c.kind == kind, bot_state.c.key == key)
                )
                return
            values = {
                "kind": kind,
                "key": key,
                "data": self.cipher.encrypt_json(data),
                "updated_at": self._now(),
            }
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            statement = dialect.insert(bot_state).values(**values)
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["kind", "key"],
                    set_={"data": statement.excluded.data, "updated_at": values["updated_at"]},
                )
            )

    async def save_state(self, kind: str, key: int, data: dict[Any, Any]) -> None:
        """Keep one user's or chat's data (an empty dict removes the row)."""
        await self._run(self._save_state, kind, key, data)

    async def drop_state(self, kind: str, key: int) -> None:
        """Forget one user's or chat's data."""
        await self._run(self._save_state, kind, key, {})

    # ----- the relay backlog ----------------------------------------------------------------

    def _backlog_add(
        self, sender_id: str, chat_id: int, text_: str, message_metadata: Mapping[str, Any]
    ) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(relay_backlog).values(
                    sender_id=sender_id,
                    chat_id=chat_id,
                    text=self.cipher.encrypt(text_),
                    message_metadata=self.cipher.encrypt_json(dict(message_metadata)),
                    created_at=self._now(),
                    attempts=0,
                )
            )
        return int(result.inserted_primary_key[0])

    async def backlog_add(
        self, sender_id: str, chat_id: int, text_: str, message_metadata: Mapping[str, Any]
    ) -> int:
        """Keep a message for later relaying; returns its id."""
        return await self._run(self._backlog_add, sender_id, chat_id, text_, message_metadata)

    def _backlog_has(self, sender_id: str) -> bool:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(relay_backlog.c.id)
                .where(
                    relay_backlog.c.sender_id == sender_id, relay_backlog.c.delivered_at.is_(None)
                )
                .limit(1)
            ).first()
        return row is not None

    async def backlog_has(self, sender_id: str) -> bool:
        """Does this person have messages still waiting for Rasa?"""
        return await self._run(self._backlog_has, sender_id)

    def _backlog_claim(self, worker: str, lease: timedelta, limit: int) -> list[BacklogItem]:
        now = self._now()
        c = relay_backlog.c

        def waiting_and_free(t: Any) -> Any:
            return (t.delivered_at.is_(None), or_(t.claimed_by.is_(None), t.lease_until < now))

        queued = relay_backlog.alias("queued")
        candidates = (
            select(queued.c.id)
            .where(
                *waiting_and_free(queued.c),
                or_(queued.c.next_attempt_at.is_(None), queued.c.next_attempt_at <= now),
            )
            .order_by(queued.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite has one writer anyway
        )
        with self.engine.begin() as conn:
            # Waiting and free again on the row itself: a process that waited for another's
            # claim to commit sees the row taken and leaves it.
            conn.execute(
                update(relay_backlog)
                .where(c.id.in_(candidates), *waiting_and_free(c))
                .values(claimed_by=worker, lease_until=now + lease)
            )
            mine = conn.execute(
                select(relay_backlog)
                .where(c.claimed_by == worker, c.delivered_at.is_(None))
                .order_by(c.id)
            ).all()
            if not mine:
                return []
            queues = conn.execute(
                select(c.id, c.sender_id)
                .where(c.delivered_at.is_(None), c.sender_id.in_(sorted({r.sender_id for r in mine})))
                .order_by(c.id)
            ).all()
            # A person's messages go in order: only a run from their oldest waiting message is
            # ours to relay; what sits behind another's claim (or a backing-off message) waits.
            ours = {r.id for r in mine}
            relayable: set[int] = set()
            stopped: set[str] = set()
            for row in queues:
                if row.sender_id in stopped:
                    continue
                if row.id in ours:
                    relayable.add(row.id)
                else:
                    stopped.add(row.sender_id)
            if ours - relayable:
                conn.execute(
                    update(relay_backlog)
                    .where(c.id.in_(ours - relayable), c.claimed_by == worker)
                    .values(claimed_by=None, lease_until=None)
                )
        return [
            BacklogItem(
                r.id,
                r.sender_id,
                int(r.chat_id),
                self.cipher.decrypt(r.text) or "",
                self.cipher.decrypt_json(r.message_metadata) or {},
                r.attempts,
            )
            for r in mine
            if r.id in relayable
        ]

    async def backlog_claim(
        self, worker: str, lease: timedelta, limit: int = 50
    ) -> list[BacklogItem]:
        """Claim waiting messages for ``worker`` until ``lease`` has passed; oldest first.

        Only messages that are due and that no other process holds, and of each person only
        the run from their oldest waiting message: their order is kept across processes.
        """
        return await self._run(self._backlog_claim, worker, lease, limit)

    def _backlog_renew(self, worker: str, lease: timedelta) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(relay_backlog)
                .where(relay_backlog.c.claimed_by == worker, relay_backlog.c.delivered_at.is_(None))
                .values(lease_until=self._now() + lease)
            )

    async def backlog_renew(self, worker: str, lease: timedelta) -> None:
        """Hold ``worker``'s claims for another ``lease`` (a long pass outlives the first)."""
        await self._run(self._backlog_renew, worker, lease)

    def _backlog_release(self, worker: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(relay_backlog)
                .where(relay_backlog.c.claimed_by == worker, relay_backlog.c.delivered_at.is_(None))
                .values(claimed_by=None, lease_until=None)
            )

    async def backlog_release(self, worker: str) -> None:
        """Give up ``worker``'s remaining claims (the end of a pass)."""
        await self._run(self._backlog_release, worker)

    def _backlog_delivered(self, item_id: int, worker: str) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(
                update(relay_backlog)
                .where(relay_backlog.c.id == item_id, relay_backlog.c.claimed_by == worker)
                .values(
                    delivered_at=self._now(),
                    # Rasa has the words now: the bot keeps none of them.
                    text="",
                    message_metadata={},
                    claimed_by=None,
                    lease_until=None,
                )
            )
        return bool(result.rowcount)

    async def backlog_mark_delivered(self, item_id: int, worker: str) -> bool:
        """Rasa has the message: mark it relayed and scrub its text.  False if ``worker`` no
        longer held it (its lease ran out and another process took it)."""
        return await self._run(self._backlog_delivered, item_id, worker)

    def _backlog_failed(self, item_id: int, worker: str) -> None:
        with self.engine.begin() as conn:
            attempts = conn.execute(
                select(relay_backlog.c.attempts).where(relay_backlog.c.id == item_id)
            ).scalar_one()
            conn.execute(
                update(relay_backlog)
                .where(relay_backlog.c.id == item_id, relay_backlog.c.claimed_by == worker)
                .values(
                    attempts=attempts + 1,
                    next_attempt_at=self._now() + backoff(attempts + 1),
                    claimed_by=None,
                    lease_until=None,
                )
            )

    async def backlog_mark_failed(self, item_id: int, worker: str) -> None:
        """One more failed attempt: kept (there is no giving up on a villager's words), and
        not tried again before its back-off has passed."""
        await self._run(self._backlog_failed, item_id, worker)

    def _backlog_count(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(relay_backlog)
                    .where(relay_backlog.c.delivered_at.is_(None))
                ).scalar_one()
            )

    async def backlog_count(self) -> int:
        """Messages still waiting (for health checks and tests)."""
        return await self._run(self._backlog_count)

    # ----- key rotation -------------------------------------------------------------------

    def _rekey(self) -> int:
        box, changed = self.cipher, 0
        with self.engine.begin() as conn:
            for row in conn.execute(select(bot_state)).all():
                conn.execute(
                    update(bot_state)
                    .where(bot_state.c.kind == row.kind, bot_state.c.key == row.key)
                    .values(data=box.encrypt_json(box.decrypt_json(row.data)))
                )
                changed += 1
            waiting = relay_backlog.c.delivered_at.is_(None)
            for row in conn.execute(select(relay_backlog).where(waiting)).all():
                conn.execute(
                    update(relay_backlog)
                    .where(relay_backlog.c.id == row.id)
                    .values(
                        text=box.encrypt(box.decrypt(row.text)),
                        message_metadata=box.encrypt_json(box.decrypt_json(row.message_metadata)),
                    )
                )
                changed += 1
        return changed

    async def rekey(self) -> int:
        """Rewrite the bot's encrypted values under the cipher's first key (rows written
        before encryption are encrypted on the way); how many rows changed.  ``xiangyin cases
        rekey`` runs it after the case records' own."""
        return await self._run(self._rekey)
