"""Where cases are kept: engine, migrations, the case repository and the unit of work.

* ``DATABASE_URL`` picks the database: unset → the SQLite file ``var/xiangyin.db`` in the
  project (the folder is created); PostgreSQL via ``postgresql+psycopg2://user@host/db``.
* The schema is created and upgraded only by the Alembic migrations in
  ``records/migrations`` — ``alembic upgrade head`` from the project root, or
  :func:`migrate` from code and tests.
* :class:`SqlAlchemyCaseRepository` maps :class:`records.domain.Case` to rows by hand (SQLAlchemy
  Core in 2.0 style), so the domain model stays plain Python.
* :class:`UnitOfWork` is one transaction: on :meth:`UnitOfWork.commit` it saves every case it
  handed out, turns their new domain events into outbox rows, and commits both together.

SQLite is used in single-writer mode (every transaction starts with ``BEGIN IMMEDIATE``,
WAL journal, 30 s busy timeout): concurrent writers queue instead of failing half-way.
"""

from __future__ import annotations

import contextlib
import logging
import random
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, delete, event, insert, select, update
from sqlalchemy.engine import Connection, Engine, Row, make_url
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.pool import QueuePool, StaticPool

from records.domain import (
    AgencyRef,
    Case,
    CaseDeadline,
    CaseError,
    CaseEvent,
    Jurisdiction,
    Redirect,
    Screening,
    Status,
    Villager,
)
from records.orm import case_deadlines, case_events, cases
from records.outbox import NewMessage, OutboxWriter, messages_for_event, utcnow

__all__ = [
    "CaseRepository",
    "ConcurrentUpdate",
    "DuplicateSubmission",
    "NumberTaken",
    "SqlAlchemyCaseRepository",
    "StoreError",
    "UnitOfWork",
    "is_transient",
    "make_engine",
    "migrate",
    "open_engine",
    "retry_transient",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


# ---------------------------------------------------------------------------
# Engine and migrations
# ---------------------------------------------------------------------------


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's BEGIN below be the only transaction control (pysqlite would
        # otherwise open its own deferred transactions, which break savepoints and locking).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Take the write lock up front: a deferred transaction that reads and then writes can
        # fail with "database is locked" instead of waiting its turn.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(
    url: str,
    *,
    connect_args: Mapping[str, Any] | None = None,
    pool_size: int = 10,
    max_overflow: int = 20,
    echo: bool = False,
) -> Engine:
    """A SQLAlchemy 2.0-style engine for ``url``.

    SQL parameters are hidden from error messages and echo logs: a failed INSERT would
    otherwise print the villager's phone number into whatever logs the exception.

    For PostgreSQL, ``connect_args`` is passed to psycopg2 (e.g.
    ``{"options": "-csearch_path=myschema"}``).
    """
    raw = url
    if raw.startswith("postgres://"):  # the form some hosting dashboards hand out
        raw = "postgresql+psycopg2://" + raw[len("postgres://") :]
    parsed = make_url(raw)
    args = dict(connect_args or {})
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
        if not in_memory:
            Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        args.setdefault("check_same_thread", False)
        args.setdefault("timeout", 30)
        kwargs: dict[str, Any] = (
            {"poolclass": StaticPool}
            if in_memory
            else {
                "pool_size": pool_size,
                "max_overflow": max_overflow,
            }
        )
        if not in_memory:
            # pysqlite defaults to NullPool for files: a new connection (and PRAGMAs) per
            # transaction.  A small pool is faster and safe with check_same_thread=False.
            kwargs["poolclass"] = QueuePool
        engine = create_engine(
            raw, future=True, echo=echo, hide_parameters=True, connect_args=args, **kwargs
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(
        raw,
        future=True,
        echo=echo,
        hide_parameters=True,
        connect_args=args,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
    )


def alembic_config() -> Config:
    """Alembic configuration pointing at records/migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["configure_logger"] = False
    return config


def open_engine(url: str, *, migrate_schema: bool) -> Engine:
    """The engine a process works with — the one way the bot, the action server and the
    command line open the case store.  ``migrate_schema`` (Settings.auto_migrate) brings the
    schema to head first."""
    engine = make_engine(url)
    if migrate_schema:
        migrate(engine)
    return engine


def migrate(target: str | Engine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` with the Alembic migrations.

    ``target`` is a URL or an engine — pass the engine when
    it carries connection options such as a PostgreSQL ``search_path``.
    """
    engine = target if isinstance(target, Engine) else make_engine(target)
    config = alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        if not isinstance(target, Engine):
            engine.dispose()


@contextlib.contextmanager
def scratch_schema(
    url: str, prefix: str = "xiangyin_scratch", *, pool_size: int = 10, max_overflow: int = 20
) -> Iterator[Engine]:
    """A migrated engine on a fresh PostgreSQL schema of its own, dropped afterwards.

    For tests and benchmarks that share one database with other runs: each gets its own
    tables, and nothing is left behind.
    """
    schema = f"{prefix}_{secrets.token_hex(6)}"
    admin = create_engine(url, future=True)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine = make_engine(
        url,
        connect_args={"options": f"-csearch_path={schema}"},
        pool_size=pool_size,
        max_overflow=max_overflow,
    )
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying the whole transaction for (deadlock, busy database)."""
    if not isinstance(exc, DBAPIError) or isinstance(exc, IntegrityError):
        return False
    code = getattr(exc.orig, "pgcode", None)
    if code in ("40001", "40P01"):  # serialization failure, deadlock detected
        return True
    return "database is locked" in str(exc.orig)


def retry_transient(action: Callable[[], T], *, attempts: int = 5) -> T:
    """Run ``action()`` (a whole transaction), again after a deadlock or a busy database.

    Only :func:`is_transient` errors are retried, with a short, jittered pause; anything
    else — and the last transient error — is raised.
    """
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except DBAPIError as exc:
            if not is_transient(exc) or attempt == attempts:
                raise
            log.info("transient database error (attempt %s), retrying", attempt)
            time.sleep(0.02 * attempt + random.random() * 0.02)
    raise AssertionError("unreachable: the loop returns or raises")


# ---------------------------------------------------------------------------
# Repository
# ---------------------------------------------------------------------------


class NumberTaken(CaseError):
    """Another case already has this number (the caller picks a new one)."""


class DuplicateSubmission(CaseError):
    """A case with this submission key exists already (a retried submission)."""


class ConcurrentUpdate(CaseError):
    """Somebody else changed the case since it was read; reload and try again."""


class StoreError(CaseError):
    """The database refused a write.  The message names the table, column and constraint
    but never the row's values: PostgreSQL's "Failing row contains (…)" would print the
    villager's phone number into whatever log records the exception."""


def _safe_description(exc: DBAPIError) -> str:
    """What went wrong, without DETAIL lines or parameters."""
    orig = exc.orig
    diag = getattr(orig, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(orig).split("\n")[0]
    parts = [f"{type(orig).__name__}: {primary}"]
    for attr in ("table_name", "column_name", "constraint_name"):
        value = getattr(diag, attr, None)
        if value:
            parts.append(f"{attr}={value}")
    return "; ".join(parts)


class CaseRepository(Protocol):
    """What the service layer needs from a case store."""

    seen: list[Case]

    def add(self, case: Case) -> None: ...
    def get(self, number: str, *, lock: bool = False) -> Case | None: ...
    def get_by_submission_key(self, key: str) -> Case | None: ...
    def list_for_villager(self, sender_id: str) -> list[Case]: ...
    def list_for_agency(self, agency_id: str, status: str | None = None) -> list[Case]: ...
    def list(self, **filters: Any) -> list[Case]: ...


def _naive(at: datetime) -> datetime:
    return at.astimezone(timezone.utc).replace(tzinfo=None) if at.tzinfo else at


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at


def _refs(items: Iterable[AgencyRef]) -> list[dict[str, str]]:
    return [{"id": a.id, "name": a.name} for a in items]


def _case_row(case: Case) -> dict[str, Any]:
    """The ``cases`` row for a case (without id and version)."""
    j = case.jurisdiction
    return {
        "number": case.number,
        "submission_key": case.submission_key,
        "route": case.route,
        "dispute_type": case.dispute_type,
        "status": case.status.value,
        "sender_id": case.villager.sender_id,
        "villager_name": case.villager.name,
        "villager_phone": case.villager.phone,
        "filed_by": case.filed_by,
        "county_id": j.county_id,
        "township_id": j.township_id,
        "township_name": j.township_name,
        "village_id": j.village_id,
        "village_name": j.village_name,
        "agency_id": case.agency.id if case.agency else None,
        "agency_name": case.agency.name if case.agency else None,
        "intake_id": case.intake.id if case.intake else None,
        "intake_name": case.intake.name if case.intake else None,
        "chain": _refs(case.chain),
        "tried": _refs(case.tried),
        "facts": dict(case.facts),
        "screening": case.screening.to_dict() if case.screening else None,
        "redirect": case.redirect.to_dict() if case.redirect else None,
        "also_offer": list(case.also_offer),
        "urgent": case.urgent,
        "emergency": case.emergency,
        "redirected": case.redirected,
        "outcome": case.outcome,
        "created_at": _naive(case.created_at),
        "updated_at": _naive(case.updated_at),
    }


def _event_row(case_id: int, e: CaseEvent) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "seq": e.seq,
        "at": _naive(e.at),
        "actor": e.actor,
        "from_status": e.from_status.value if e.from_status else None,
        "to_status": e.to_status.value,
        "reason": e.reason,
        "details": dict(e.details),
    }


def _deadline_row(case_id: int, d: CaseDeadline) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "deadline_id": d.deadline_id,
        "name": d.name,
        "due": d.due,
        "article": d.article,
        "law": d.law,
        "explain": d.explain,
        "start_event": d.start_event,
        "started_on": d.started_on,
        "set_on": d.set_on.value,
        "information": d.information,
    }


def _case_from(row: Row, events: Sequence[Row], deadlines: Sequence[Row]) -> Case:
    def ref(id_: str | None, name: str | None) -> AgencyRef | None:
        return AgencyRef(id_, name or "") if id_ else None

    case = Case(
        number=row.number,
        route=row.route,
        dispute_type=row.dispute_type,
        facts=row.facts or {},
        villager=Villager(row.sender_id, row.villager_name, row.villager_phone),
        jurisdiction=Jurisdiction(
            row.county_id, row.township_id, row.township_name, row.village_id, row.village_name
        ),
        created_at=_aware(row.created_at),
        filed_by=row.filed_by,
        submission_key=row.submission_key,
        status=Status(row.status),
        agency=ref(row.agency_id, row.agency_name),
        intake=ref(row.intake_id, row.intake_name),
        chain=[AgencyRef(a["id"], a["name"]) for a in row.chain or []],
        tried=[AgencyRef(a["id"], a["name"]) for a in row.tried or []],
        history=[
            CaseEvent(
                seq=e.seq,
                at=_aware(e.at),
                actor=e.actor,
                from_status=Status(e.from_status) if e.from_status else None,
                to_status=Status(e.to_status),
                reason=e.reason,
                details=e.details or {},
            )
            for e in events
        ],
        deadlines=[
            CaseDeadline(
                deadline_id=d.deadline_id,
                name=d.name,
                due=d.due,
                article=d.article,
                law=d.law,
                explain=d.explain,
                start_event=d.start_event,
                started_on=d.started_on,
                set_on=Status(d.set_on),
                information=d.information,
            )
            for d in deadlines
        ],
        screening=Screening.from_dict(row.screening) if row.screening else None,
        redirect=Redirect.from_dict(row.redirect) if row.redirect else None,
        also_offer=row.also_offer or [],
        urgent=row.urgent,
        emergency=row.emergency,
        redirected=row.redirected,
        outcome=row.outcome,
        updated_at=_aware(row.updated_at),
        version=row.version,
    )
    return case


@dataclass
class _Tracked:
    """What the database holds for a case this repository handed out."""

    case: Case
    db_id: int
    row: dict[str, Any]
    events_saved: int
    deadlines: list[CaseDeadline]


class SqlAlchemyCaseRepository:
    """Cases in SQL tables, through one session.  Tracks every case it adds or loads, so
    that the unit of work can save their changes and collect their events."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._tracked: dict[int, _Tracked] = {}

    @property
    def seen(self) -> list[Case]:
        """Every case added or loaded through this repository."""
        return [t.case for t in self._tracked.values()]

    # ----- writing --------------------------------------------------------

    def add(self, case: Case) -> None:
        """Insert a new case with its history and deadlines, at once.

        Runs in a SAVEPOINT so that a collision can be handled inside the same transaction:
        :class:`DuplicateSubmission` when the submission key exists (a retry, possibly
        concurrent), :class:`NumberTaken` when only the number does (pick another one).
        """
        row = _case_row(case)
        try:
            with self.session.begin_nested():
                result = self.session.execute(insert(cases).values(**row, version=1))
                db_id = int(result.inserted_primary_key[0])
                if case.history:
                    self.session.execute(
                        insert(case_events), [_event_row(db_id, e) for e in case.history]
                    )
                if case.deadlines:
                    self.session.execute(
                        insert(case_deadlines), [_deadline_row(db_id, d) for d in case.deadlines]
                    )
        except IntegrityError as exc:
            if case.submission_key and self._exists(cases.c.submission_key, case.submission_key):
                raise DuplicateSubmission(case.submission_key) from None
            if self._exists(cases.c.number, case.number):
                raise NumberTaken(case.number) from None
            raise StoreError(_safe_description(exc)) from None
        except DataError as exc:
            raise StoreError(_safe_description(exc)) from None
        case.version = 1
        self._tracked[id(case)] = _Tracked(
            case, db_id, row, len(case.history), list(case.deadlines)
        )

    def _exists(self, column: Any, value: str) -> bool:
        return self.session.execute(select(cases.c.id).where(column == value)).first() is not None

    def save(self, case: Case) -> None:
        """Write a tracked case's changes (status, agency, new history, deadlines).

        Optimistic locking: the UPDATE names the version that was read; if another
        transaction changed the case meanwhile, :class:`ConcurrentUpdate` is raised.
        """
        tracked = self._tracked.get(id(case))
        if tracked is None:
            raise CaseError(f"case {case.number} was not added or loaded through this repository")
        row = _case_row(case)
        new_events = case.history[tracked.events_saved :]
        deadlines_changed = case.deadlines != tracked.deadlines
        if row == tracked.row and not new_events and not deadlines_changed:
            return
        try:
            self._write_changes(case, tracked, row, new_events, deadlines_changed)
        except (IntegrityError, DataError) as exc:
            raise StoreError(_safe_description(exc)) from None

    def _write_changes(
        self,
        case: Case,
        tracked: _Tracked,
        row: dict[str, Any],
        new_events: list[CaseEvent],
        deadlines_changed: bool,
    ) -> None:
        """The UPDATE (version-checked) and the child-row writes behind :meth:`save`."""
        result = self.session.execute(
            update(cases)
            .where(cases.c.id == tracked.db_id, cases.c.version == case.version)
            .values(**row, version=case.version + 1)
        )
        if result.rowcount != 1:
            raise ConcurrentUpdate(f"case {case.number} was changed by someone else; reload it")
        case.version += 1
        if new_events:
            self.session.execute(
                insert(case_events), [_event_row(tracked.db_id, e) for e in new_events]
            )
        if deadlines_changed:
            self.session.execute(
                delete(case_deadlines).where(case_deadlines.c.case_id == tracked.db_id)
            )
            if case.deadlines:
                self.session.execute(
                    insert(case_deadlines),
                    [_deadline_row(tracked.db_id, d) for d in case.deadlines],
                )
        tracked.row = row
        tracked.events_saved = len(case.history)
        tracked.deadlines = list(case.deadlines)

    # ----- reading --------------------------------------------------------

    def _load(self, rows: Sequence[Row]) -> list[Case]:
        """Build cases from rows, loading all their events and deadlines in two queries."""
        if not rows:
            return []
        ids = [row.id for row in rows]
        events: dict[int, list[Row]] = {i: [] for i in ids}
        for e in self.session.execute(
            select(case_events).where(case_events.c.case_id.in_(ids)).order_by(case_events.c.seq)
        ):
            events[e.case_id].append(e)
        deadlines: dict[int, list[Row]] = {i: [] for i in ids}
        for d in self.session.execute(
            select(case_deadlines)
            .where(case_deadlines.c.case_id.in_(ids))
            .order_by(case_deadlines.c.due, case_deadlines.c.deadline_id)
        ):
            deadlines[d.case_id].append(d)
        loaded = []
        for row in rows:
            case = _case_from(row, events[row.id], deadlines[row.id])
            case.set_deadlines([])  # re-sort exactly as the domain sorts (undated last)
            self._tracked[id(case)] = _Tracked(
                case, row.id, _case_row(case), len(case.history), list(case.deadlines)
            )
            loaded.append(case)
        return loaded

    def get(self, number: str, *, lock: bool = False) -> Case | None:
        """The case with this number, or None.  ``lock`` holds a row lock (PostgreSQL) until
        the transaction ends, so two staff moving the same case queue instead of clashing."""
        query = select(cases).where(cases.c.number == number)
        if lock:
            query = query.with_for_update()
        found = self._load(self.session.execute(query).all())
        return found[0] if found else None

    def get_by_submission_key(self, key: str) -> Case | None:
        """The case a submission with this idempotency key created, or None."""
        found = self._load(
            self.session.execute(select(cases).where(cases.c.submission_key == key)).all()
        )
        return found[0] if found else None

    def list_for_villager(self, sender_id: str) -> list[Case]:
        """A villager's cases, newest first."""
        return self.list(sender_id=sender_id)

    def list_for_agency(self, agency_id: str, status: str | None = None) -> list[Case]:
        """Cases currently with an agency (optionally in one status), newest first."""
        return self.list(agency_id=agency_id, status=status)

    def list(
        self,
        *,
        status: str | Iterable[str] | None = None,
        agency_id: str | None = None,
        route: str | None = None,
        township_id: str | None = None,
        sender_id: str | None = None,
        filed_by: str | None = None,
        urgent: bool | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Case]:
        """Cases matching every filter given, newest first."""
        query = select(cases)
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            query = query.where(cases.c.status.in_([Status(s).value for s in wanted]))
        if agency_id is not None:
            query = query.where(cases.c.agency_id == agency_id)
        if route is not None:
            query = query.where(cases.c.route == route)
        if township_id is not None:
            query = query.where(cases.c.township_id == township_id)
        if sender_id is not None:
            query = query.where(cases.c.sender_id == sender_id)
        if filed_by is not None:
            query = query.where(cases.c.filed_by == filed_by)
        if urgent is not None:
            query = query.where(cases.c.urgent == urgent)
        query = query.order_by(cases.c.created_at.desc(), cases.c.id.desc()).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        return self._load(self.session.execute(query).all())


# ---------------------------------------------------------------------------
# Unit of work
# ---------------------------------------------------------------------------


class UnitOfWork:
    """One transaction around the case repository and the outbox (cosmicpython's UoW).

    Use as ``with uow: …; uow.commit()``.  Leaving the block without commit rolls back.
    A UnitOfWork may be entered again after it is left; each entry is a new transaction.
    """

    cases: SqlAlchemyCaseRepository
    outbox: OutboxWriter
    session: Session

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    def __enter__(self) -> UnitOfWork:
        self.session = Session(self.engine, future=True, expire_on_commit=False)
        self.cases = SqlAlchemyCaseRepository(self.session)
        self.outbox = OutboxWriter(self.session, clock=self.clock)
        #: Messages to queue after those of the cases' events (e.g. a case's voice notes,
        #: which its staff should get after the case itself).
        self.after_events: list[NewMessage] = []
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.rollback()
        finally:
            self.session.close()

    def commit(self) -> None:
        """Save every touched case, write the outbox rows for their new events, commit.

        All in one database transaction: either the case changes and their messages are
        both stored, or neither is.
        """
        touched = self.cases.seen
        for case in touched:
            self.cases.save(case)
        for case in touched:
            for domain_event in case.events:
                for message in messages_for_event(domain_event, case):
                    self.outbox.add(message)
        for message in self.after_events:
            self.outbox.add(message)
        self.session.commit()
        self.after_events.clear()
        # Only now: if the commit had failed, the events would still be there to retry.
        for case in touched:
            case.events.clear()

    def rollback(self) -> None:
        """Forget everything since the last commit."""
        self.session.rollback()
