"""The transactional outbox: messages about cases, written with the case, delivered later.

Why an outbox: telling an agency about a new case (or a villager about a status change) must
happen if and only if the case change is committed.  Sending from inside the transaction
could notify about a case that is then rolled back; sending after the commit could be lost
if the process dies in between.  So the unit of work writes one outbox row per message in
the *same* transaction as the case, and the :class:`Dispatcher` delivers the rows afterwards:

* a crash between "case written" and "message sent" loses nothing — the row stays until a
  dispatcher marks it delivered;
* several dispatchers may run: each claims rows with a lease (``claimed_until``), on
  PostgreSQL with ``SELECT … FOR UPDATE SKIP LOCKED`` so they never claim the same row, on
  SQLite inside a ``BEGIN IMMEDIATE`` transaction (one writer at a time does the same job);
* a failing send is retried with exponential back-off up to ``max_attempts``, after which
  the row is kept as a dead letter (``dead_at``) for staff to look at, never dropped;
* a dispatcher that dies after claiming simply lets its lease expire; the next one
  re-delivers those rows once.

Delivery is at-least-once: if a send outlives its lease, another dispatcher may send the
same row again, so pick a lease well above the send timeout.  ``mark_delivered`` is
idempotent.  Payloads carry structured data and a ``message_key``; the Chinese text is
built by the sender from knowledge/ and domain.yml.  No phone number goes into a payload, and
payloads are encrypted at rest (a digest names villagers).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import Connection, Engine

from records.adapters.orm import outbox
from records.adapters.crypto import Cipher
from records.domain.clock import Clock, aware_utc, naive_utc
from records.services.messages import OutboxMessage, RecipientUnreachable, SendFunction

__all__ = [
    "DispatchReport",
    "Dispatcher",
    "OutboxMessage",
    "SendFunction",
    "dispatchers",
    "OutboxRow",
    "outbox_counts",
    "outbox_rows",
    "requeue_dead",
]

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------
# Dispatcher
# ---------------------------------------------------------------------------



@dataclass
class DispatchReport:
    """What one :meth:`Dispatcher.run_once` did."""

    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    delivered_ids: list[int] = field(default_factory=list)


class Dispatcher:
    """Claims due outbox rows, sends them, and records the result.

    ``send`` may be a plain function or a coroutine function; raising means "not delivered,
    try again later".  ``worker_id`` names this dispatcher in ``claimed_by`` (for staff
    looking at a stuck row).  ``clock`` is the process's clock (records/domain/clock.py).
    """

    def __init__(
        self,
        engine: Engine,
        send: SendFunction,
        worker_id: str,
        *,
        lease: timedelta = timedelta(minutes=5),
        batch_size: int = 20,
        base_delay: timedelta = timedelta(seconds=10),
        max_delay: timedelta = timedelta(hours=1),
        max_attempts: int = 8,
        jitter: float = 0.1,
        clock: Clock,
        cipher: Cipher,
        rng: random.Random | None = None,
        on_unreachable: Callable[[OutboxMessage], object] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.engine = engine
        self.send = send
        self.worker_id = worker_id
        self.lease = lease
        self.batch_size = batch_size
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_attempts = max_attempts
        self.jitter = jitter
        self.clock = clock
        self.cipher = cipher
        self._rng = rng or random.Random()
        #: Called (in a worker thread) with a row whose recipient can no longer be reached.
        self.on_unreachable = on_unreachable

    # ----- claiming -------------------------------------------------------

    def claim_batch(self, n: int | None = None) -> list[OutboxMessage]:
        """Claim up to ``n`` due rows for this worker for one lease, and return them.

        A row is due when it is neither delivered nor dead, its ``next_attempt_at`` has come,
        and nobody holds a live lease on it.  Claiming counts as an attempt, so a message that
        crashes every dispatcher that touches it still ends up as a dead letter.
        """
        limit = n or self.batch_size
        now = naive_utc(self.clock.now())
        token = uuid.uuid4().hex
        with self.engine.begin() as conn:
            due = (
                select(outbox.c.id)
                .where(
                    outbox.c.delivered_at.is_(None),
                    outbox.c.dead_at.is_(None),
                    outbox.c.next_attempt_at <= now,
                    or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now),
                )
                .order_by(outbox.c.next_attempt_at, outbox.c.id)
                .limit(limit)
            )
            if conn.dialect.name == "postgresql":
                # Rows another dispatcher is claiming right now are skipped, not waited for.
                due = due.with_for_update(skip_locked=True)
            # On SQLite the engine opens every transaction with BEGIN IMMEDIATE, so this
            # select-then-update runs with the single write lock held: equally atomic.
            ids = list(conn.execute(due).scalars())
            if not ids:
                return []
            conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(ids))
                .values(
                    claimed_by=self.worker_id,
                    claim_token=token,
                    claimed_until=now + self.lease,
                    attempts=outbox.c.attempts + 1,
                )
            )
            rows = conn.execute(
                select(outbox).where(outbox.c.claim_token == token).order_by(outbox.c.id)
            ).all()
        return [
            OutboxMessage(
                id=row.id,
                case_number=row.case_number,
                recipient_kind=row.recipient_kind,
                recipient_id=row.recipient_id,
                kind=row.kind,
                message_key=row.message_key,
                payload=self.cipher.decrypt_json(row.payload) or {},
                attempts=row.attempts,
                created_at=aware_utc(row.created_at),
                claim_token=row.claim_token,
            )
            for row in rows
        ]

    # ----- results ----------------------------------------------------------

    def mark_delivered(self, message_id: int) -> bool:
        """Record delivery.  Idempotent: True the first time, False if already delivered."""
        now = naive_utc(self.clock.now())
        with self.engine.begin() as conn:
            result = conn.execute(
                update(outbox)
                .where(outbox.c.id == message_id, outbox.c.delivered_at.is_(None))
                .values(delivered_at=now, claimed_until=None)
            )
        return bool(result.rowcount == 1)

    def retry_delay(self, attempts: int) -> timedelta:
        """Back-off after the ``attempts``-th failure: base · 2^(attempts−1), capped, ± jitter."""
        delay: timedelta = min(self.max_delay, self.base_delay * (2 ** max(attempts - 1, 0)))
        if self.jitter:
            # Spread retries so that a recovering agency endpoint is not hit all at once.
            factor = 1 + self._rng.uniform(-self.jitter, self.jitter)
            delay = timedelta(seconds=delay.total_seconds() * factor)
        return delay

    def mark_failed(
        self, message: OutboxMessage, error: BaseException | str, *, give_up: bool = False
    ) -> str:
        """Schedule a retry, or keep the row as a dead letter after ``max_attempts``.

        Returns "retry", "dead", or "lost" when this worker no longer held the claim (its
        lease expired and another dispatcher took the row over).
        """
        now = naive_utc(self.clock.now())
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        values: dict[str, Any] = {
            "claimed_until": None,
            "claimed_by": None,
            "claim_token": None,
            "last_error": text[:2000],
        }
        if give_up or message.attempts >= self.max_attempts:
            outcome, values["dead_at"] = "dead", now
        else:
            outcome = "retry"
            values["next_attempt_at"] = now + self.retry_delay(message.attempts)
        with self.engine.begin() as conn:
            result = conn.execute(
                update(outbox)
                .where(
                    outbox.c.id == message.id,
                    outbox.c.claim_token == message.claim_token,
                    outbox.c.delivered_at.is_(None),
                )
                .values(**values)
            )
        return outcome if result.rowcount == 1 else "lost"

    # ----- the loop -----------------------------------------------------------

    async def run_once(self, n: int | None = None) -> DispatchReport:
        """Claim one batch, send each message, record each result."""
        report = DispatchReport()
        # Database calls block; keep them off the event loop the bot also runs on.
        messages = await asyncio.to_thread(self.claim_batch, n)
        report.claimed = len(messages)
        for message in messages:
            try:
                result = self.send(message)
                if inspect.isawaitable(result):
                    await result
            except RecipientUnreachable as exc:
                # Retrying cannot reach them: give the row up now, and let the records send
                # it to whoever can still act on it.
                outcome = await asyncio.to_thread(self.mark_failed, message, exc, give_up=True)
                log.warning("outbox %s (%s): recipient unreachable", message.id, message.kind)
                report.dead += 1
                if self.on_unreachable is not None and outcome == "dead":
                    try:
                        await asyncio.to_thread(self.on_unreachable, message)
                    except Exception:  # noqa: BLE001 - the next pass must still run
                        log.exception("outbox %s: readdressing failed", message.id)
                continue
            except Exception as exc:  # noqa: BLE001 - any failure means "try again later"
                outcome = await asyncio.to_thread(self.mark_failed, message, exc)
                # Log the id and kind only: payloads and error texts may quote the villager.
                log.warning(
                    "outbox %s (%s to %s) attempt %s failed: %s → %s",
                    message.id,
                    message.kind,
                    message.recipient_kind,
                    message.attempts,
                    type(exc).__name__,
                    outcome,
                )
                if outcome == "dead":
                    report.dead += 1
                elif outcome == "retry":
                    report.retried += 1
                continue
            await asyncio.to_thread(self.mark_delivered, message.id)
            report.delivered += 1
            report.delivered_ids.append(message.id)
        return report

    async def run_forever(
        self, *, idle_seconds: float = 1.0, stop: asyncio.Event | None = None
    ) -> None:
        """Dispatch until ``stop`` is set, sleeping ``idle_seconds`` when nothing is due."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                report = await self.run_once()
            except Exception:  # noqa: BLE001 - a database hiccup must not kill the loop
                log.exception("outbox dispatcher %s: claim failed", self.worker_id)
                report = DispatchReport()
            if report.claimed == 0:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=idle_seconds)
                except asyncio.TimeoutError:
                    pass


def dispatchers(
    engine: Engine,
    clock: Clock,
    cipher: Cipher,
    *,
    retry_base_s: float = 10.0,
    lease: timedelta = timedelta(minutes=5),
    on_unreachable: Callable[[OutboxMessage], object] | None = None,
) -> Callable[[SendFunction, str], Dispatcher]:
    """What makes a process's dispatcher for a ``send`` function and a worker name, bound to
    ``engine`` and ``clock`` — the front end gets this, never the engine.  A send waits at
    most a few retry_after pauses; the lease must outlast it."""

    def make(send: SendFunction, worker_id: str) -> Dispatcher:
        return Dispatcher(
            engine,
            send,
            worker_id,
            base_delay=timedelta(seconds=retry_base_s),
            lease=lease,
            clock=clock,
            cipher=cipher,
            on_unreachable=on_unreachable,
        )

    return make


def requeue_dead(engine: Engine, message_id: int, clock: Clock) -> bool:
    """Give a dead letter another round of attempts (after staff fixed the cause)."""
    with engine.begin() as conn:
        result = conn.execute(
            update(outbox)
            .where(outbox.c.id == message_id, outbox.c.dead_at.is_not(None))
            .values(dead_at=None, attempts=0, next_attempt_at=naive_utc(clock.now()))
        )
    return bool(result.rowcount == 1)


@dataclass(frozen=True)
class OutboxRow:
    """An outbox row as staff see it (no payload: it may quote a villager)."""

    id: int
    kind: str
    recipient_kind: str
    recipient_id: str
    case_number: str | None
    attempts: int
    created_at: datetime
    delivered_at: datetime | None
    dead_at: datetime | None
    last_error: str | None


def outbox_rows(engine: Engine, *, state: str = "all", limit: int = 50) -> list[OutboxRow]:
    """The latest rows first; ``state`` is all, pending (not delivered, not dead) or dead."""
    query = select(outbox).order_by(outbox.c.id.desc()).limit(limit)
    if state == "dead":
        query = query.where(outbox.c.dead_at.is_not(None))
    elif state == "pending":
        query = query.where(outbox.c.delivered_at.is_(None), outbox.c.dead_at.is_(None))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        OutboxRow(
            r.id,
            r.kind,
            r.recipient_kind,
            r.recipient_id,
            r.case_number,
            r.attempts,
            aware_utc(r.created_at),
            aware_utc(r.delivered_at) if r.delivered_at else None,
            aware_utc(r.dead_at) if r.dead_at else None,
            r.last_error,
        )
        for r in rows
    ]


def outbox_counts(bind: Engine | Connection) -> dict[str, int]:
    """Rows by state: pending (incl. claimed), delivered, dead, total."""
    query = select(
        func.count().label("total"),
        func.count(outbox.c.delivered_at).label("delivered"),
        func.count(outbox.c.dead_at).label("dead"),
    )
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            row = conn.execute(query).one()
    else:
        row = bind.execute(query).one()
    return {
        "total": row.total,
        "delivered": row.delivered,
        "dead": row.dead,
        "pending": row.total - row.delivered - row.dead,
    }
