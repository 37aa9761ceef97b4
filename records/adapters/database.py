"""The database: engine, migrations, and what counts as a passing failure.

* The URL comes from the caller (settings are read where a process starts): SQLite for the
  embedded default, PostgreSQL via ``postgresql+psycopg2://user@host/db``.
* The schema is created and upgraded only by the Alembic migrations in
  ``records/adapters/migrations``, through :func:`migrate` — which the command line's one
  migration entry point calls (``xiangyin migrate``, and every process on start unless
  XIANGYIN_AUTO_MIGRATE=0).

SQLite runs in single-writer mode: a writing transaction starts with ``BEGIN IMMEDIATE``
(WAL journal, 30 s busy timeout), so concurrent writers queue instead of failing half-way;
a reading one starts with a plain ``BEGIN`` and never waits for a writer.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.pool import QueuePool, StaticPool

__all__ = [
    "READ_ONLY",
    "is_transient",
    "make_engine",
    "migrate",
    "migration_lock",
    "scratch_schema",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: Execution option of a connection whose transactions only read (SQLite: no write lock).
READ_ONLY = "xiangyin_read_only"


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
        # Deleted rows are overwritten, not left in free pages for anyone reading the file.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
            return
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


#: The PostgreSQL advisory lock key the migrations hold ("xiangyin" in ASCII, as a number).
MIGRATION_LOCK = 0x7869616E6779696E


@contextlib.contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Hold the database's migration lock: on PostgreSQL an advisory lock, so that replicas
    starting together migrate one after the other; SQLite needs none (a migration runs in a
    write transaction, and writers queue)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK})")
        conn.commit()
        try:
            yield
        finally:
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK})")
            conn.commit()


@contextlib.contextmanager
def scratch_schema(
    url: str,
    prefix: str = "xiangyin_scratch",
    *,
    pool_size: int = 10,
    max_overflow: int = 20,
    prepare: Callable[[Engine], None] | None = None,
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
        (prepare or migrate)(engine)
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
