"""The case database as each process opens it, and the one way its schema moves.

``xiangyin migrate`` — and every process on start unless XIANGYIN_AUTO_MIGRATE=0 — calls
:func:`upgrade`: under the database's migration lock (a PostgreSQL advisory lock, so replicas
starting together take turns) the case records' migrations run, then the bot's own.
"""

from __future__ import annotations

import argparse

from sqlalchemy.engine import Engine

from bot import state_store
from knowledge.base import Knowledge
from knowledge.loader import load_knowledge
from records.adapters import database
from records.adapters.crypto import Cipher
from records.adapters.unit_of_work import SqlAlchemyUnitOfWork
from records.api import Records
from records.domain.clock import Clock
from xiangyin.settings import Settings, settings

__all__ = ["open_database", "open_records", "register", "upgrade"]


def upgrade(engine: Engine) -> None:
    """Bring every schema in the database to head: the case records', then the bot's."""
    with database.migration_lock(engine):
        database.migrate(engine)
        state_store.migrate(engine)


def open_database(config: Settings, url: str | None = None) -> Engine:
    """The engine on ``url`` (default DATABASE_URL), migrated unless the deployment migrates
    itself (XIANGYIN_AUTO_MIGRATE=0)."""
    engine = database.make_engine(url or config.database_url)
    if config.auto_migrate:
        upgrade(engine)
    return engine


def open_records(
    config: Settings, engine: Engine, *, knowledge: Knowledge | None = None, clock: Clock | None = None
) -> Records:
    """The case records of this process: on ``engine``, with the county's data and a clock."""
    clock = clock or Clock()
    knowledge = knowledge or load_knowledge(config.knowledge_dir)
    cipher = Cipher(config.data_key)
    return Records(
        lambda: SqlAlchemyUnitOfWork(engine, clock, cipher),
        knowledge,
        clock,
        config.secret.encode(),
    )


def _cmd_migrate(args: argparse.Namespace) -> int:
    engine = database.make_engine(args.db or settings().database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    print("database is up to date")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``xiangyin migrate``."""
    migrate = sub.add_parser("migrate", help="create or upgrade the database tables")
    migrate.add_argument("--db", default=None, help="database URL (default: DATABASE_URL)")
    migrate.set_defaults(func=_cmd_migrate)
