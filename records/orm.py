"""The case tables, as SQLAlchemy Core metadata.

This describes the schema for the repository's queries and for ``alembic revision
--autogenerate``; the schema itself is created and changed only by the Alembic migrations
in ``records/migrations`` (never by ``metadata.create_all``).  Keep the two in step.

Timestamps are stored as naive UTC (``DateTime`` without time zone) so that SQLite and
PostgreSQL behave the same; the repository attaches UTC when reading.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

__all__ = ["case_deadlines", "case_events", "cases", "metadata", "outbox"]

# Stable constraint names, so migrations on PostgreSQL and SQLite agree.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: JSON everywhere, JSONB on PostgreSQL (indexable, compact).
Json = JSON().with_variant(JSONB(), "postgresql")
#: SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key.
BigId = BigInteger().with_variant(Integer(), "sqlite")

cases = Table(
    "cases",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("number", String(16), nullable=False),
    # Idempotency: a retried submission (same conversation, same confirmation) finds this row.
    Column("submission_key", String(255), nullable=True),
    Column("route", String(16), nullable=False),
    Column("dispute_type", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("sender_id", String(255), nullable=False),
    Column("villager_name", String(255), nullable=True),
    Column("villager_phone", String(32), nullable=True),
    Column("filed_by", String(255), nullable=True),
    Column("county_id", String(64), nullable=False),
    Column("township_id", String(64), nullable=True),
    Column("township_name", String(255), nullable=True),
    Column("village_id", String(64), nullable=True),
    Column("village_name", String(255), nullable=True),
    Column("agency_id", String(255), nullable=True),
    Column("agency_name", String(255), nullable=True),
    Column("intake_id", String(255), nullable=True),
    Column("intake_name", String(255), nullable=True),
    Column("chain", Json, nullable=False),
    Column("tried", Json, nullable=False),
    Column("facts", Json, nullable=False),
    Column("screening", Json, nullable=True),
    Column("redirect", Json, nullable=True),
    Column("also_offer", Json, nullable=False),
    Column("urgent", Boolean, nullable=False, server_default=text("false")),
    Column("emergency", Boolean, nullable=False, server_default=text("false")),
    Column("redirected", Boolean, nullable=False, server_default=text("false")),
    Column("outcome", String(32), nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    # Optimistic locking: an UPDATE must name the version it read.
    Column("version", Integer, nullable=False),
    UniqueConstraint("number"),
    UniqueConstraint("submission_key"),
    Index(None, "sender_id"),
    Index(None, "agency_id", "status"),
    Index(None, "status"),
)

case_events = Table(
    "case_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("case_id", BigId, ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("at", DateTime, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("from_status", String(16), nullable=True),
    Column("to_status", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("details", Json, nullable=False),
    UniqueConstraint("case_id", "seq"),
)

case_deadlines = Table(
    "case_deadlines",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("case_id", BigId, ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("deadline_id", String(64), nullable=False),
    Column("name", String(255), nullable=False),
    Column("due", Date, nullable=True),
    Column("article", String(64), nullable=False),
    Column("law", String(255), nullable=False),
    Column("explain", Text, nullable=False),
    Column("start_event", String(32), nullable=False),
    Column("started_on", Date, nullable=True),
    Column("set_on", String(16), nullable=False),
    Column("information", Boolean, nullable=False, server_default=text("false")),
    UniqueConstraint("case_id", "deadline_id"),
    Index(None, "due"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("case_number", String(16), nullable=True),
    Column("recipient_kind", String(16), nullable=False),  # agency | villager
    Column("recipient_id", String(255), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("message_key", String(128), nullable=False),
    Column("payload", Json, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime, nullable=False),
    Column("claimed_by", String(255), nullable=True),
    Column("claim_token", String(64), nullable=True),
    Column("claimed_until", DateTime, nullable=True),
    Column("delivered_at", DateTime, nullable=True),
    Column("dead_at", DateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Index(
        "ix_outbox_pending",
        "next_attempt_at",
        postgresql_where=text("delivered_at IS NULL AND dead_at IS NULL"),
        sqlite_where=text("delivered_at IS NULL AND dead_at IS NULL"),
    ),
    Index(None, "case_number"),
    Index(None, "claim_token"),
)
