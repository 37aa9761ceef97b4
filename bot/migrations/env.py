"""Alembic environment for the bot's own tables (bot/state_store.py).

Reached through :func:`bot.state_store.migrate`, which passes an open connection in
``config.attributes["connection"]``.  The version is kept in ``bot_alembic_version``, apart
from the case records' ``alembic_version``: the two schemas move independently.
"""

from __future__ import annotations

from alembic import context

from bot.state_store import VERSION_TABLE, metadata

config = context.config


def _include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    # The case tables share the database; only the bot's tables are this schema's business.
    if type_ == "table":
        return name in metadata.tables
    return True


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise SystemExit("run the bot's migrations through `xiangyin migrate`")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        include_object=_include,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
