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

__all__ = [
    "audit_log",
    "case_deadlines",
    "case_events",
    "case_notes",
    "cases",
    "case_sessions",
    "digests_sent",
    "evidence",
    "metadata",
    "outbox",
    "reminders_sent",
    "staff",
    "staff_conversations",
    "staff_invites",
]

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
    # Encrypted (records/adapters/crypto.py): the name, the phone and the facts.
    Column("villager_name", Text, nullable=True),
    Column("villager_phone", Text, nullable=True),
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
    Column("facts", Text, nullable=False),
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
    # When ``xiangyin cases purge`` removed its personal data (records/adapters/retention.py).
    Column("purged_at", DateTime, nullable=True),
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
    Column("details", Text, nullable=False),  # encrypted JSON
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
    Column("payload", Text, nullable=False),  # encrypted JSON
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


# ---------------------------------------------------------------------------
# Staff, their notes, appointments, talks and the villagers' files (channel identities:
# "tg:123" is Telegram user 123 — see records/domain/identity.py)
# ---------------------------------------------------------------------------

#: People who handle cases.  Nobody is staff by saying so: a row is written only when a
#: one-time invite code (staff_invites) is redeemed.
staff = Table(
    "staff",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("channel", String(16), nullable=False),
    Column("channel_user_id", String(64), nullable=False),
    Column("name", String(255), nullable=False),
    Column("agency_id", String(255), nullable=False),
    Column("role", String(16), nullable=False),  # mediator | agent | agency_staff | admin
    Column("active", Boolean, nullable=False, server_default=text("true")),
    # Set when their messenger refused a message (blocked the bot); cleared when heard from.
    Column("unreachable_since", DateTime, nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    UniqueConstraint("channel", "channel_user_id"),
    Index(None, "agency_id", "active"),
)

#: One-time invite codes; only a hash is kept, so a database dump gives nobody a way in.
staff_invites = Table(
    "staff_invites",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("code_hash", String(64), nullable=False),
    Column("agency_id", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("used_by", String(255), nullable=True),  # the actor who redeemed it
    Column("used_at", DateTime, nullable=True),
    UniqueConstraint("code_hash"),
)


case_notes = Table(
    "case_notes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("case_number", String(16), nullable=False),
    Column("author", String(255), nullable=False),  # "tg:<user id>"
    Column("author_name", String(255), nullable=True),
    Column("text", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Index(None, "case_number"),
)

#: Photos, documents and voice messages a villager sent about a case.  ``case_number`` is
#: NULL while the case is not filed yet (sent during the form): submit_case attaches them.
evidence = Table(
    "evidence",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("case_number", String(16), nullable=True),
    Column("sender_id", String(255), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("file_id", String(255), nullable=False),
    Column("file_unique_id", String(255), nullable=False),
    Column("kind", String(16), nullable=False),  # photo | document | voice | audio
    Column("size", Integer, nullable=True),
    Column("duration", Integer, nullable=True),  # seconds, for voice notes
    Column("received_at", DateTime, nullable=False),
    Column("stored_path", Text, nullable=True),
    UniqueConstraint("case_number", "file_unique_id"),
    Index(None, "sender_id", "case_number"),
)

#: Appointments a handler set with the villager (records/services/sessions.py).
case_sessions = Table(
    "case_sessions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("case_number", String(16), nullable=False),
    Column("day", Date, nullable=False),
    Column("details", Text, nullable=False),
    Column("scheduled_by", String(255), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Index(None, "case_number"),
    Index(None, "day"),
)

#: Daily digests already queued: one per staff member and county day.
digests_sent = Table(
    "digests_sent",
    metadata,
    Column("staff", String(255), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("cases", Integer, nullable=False),
    Column("sent_at", DateTime, nullable=False),
)


#: Reminders already queued, so each (case, deadline, due day, kind) is sent once.
reminders_sent = Table(
    "reminders_sent",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("case_number", String(16), nullable=False),
    Column("deadline_id", String(64), nullable=False),
    Column("due", Date, nullable=False),
    Column("kind", String(16), nullable=False),  # due_in_<n> | overdue
    Column("sent_at", DateTime, nullable=False),
    UniqueConstraint("case_number", "deadline_id", "due", "kind"),
)

#: A staff member talking with a villager through the bot (与当事人对话).  While a row is open
#: the villager's messages go to the staff member instead of Rasa.
staff_conversations = Table(
    "staff_conversations",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("case_number", String(16), nullable=False),
    Column("staff", String(255), nullable=False),
    Column("villager_sender_id", String(255), nullable=False),
    Column("villager_chat", String(64), nullable=False),
    Column("opened_at", DateTime, nullable=False),
    Column("closed_at", DateTime, nullable=True),
    # At most one open conversation per villager and per staff member.
    Index(
        "uq_staff_conversations_open_villager",
        "villager_sender_id",
        unique=True,
        postgresql_where=text("closed_at IS NULL"),
        sqlite_where=text("closed_at IS NULL"),
    ),
    # An agent's chat speaks for several villagers: one open talk per chat, or the messages
    # of two talks would cross.
    Index(
        "uq_staff_conversations_open_chat",
        "villager_chat",
        unique=True,
        postgresql_where=text("closed_at IS NULL"),
        sqlite_where=text("closed_at IS NULL"),
    ),
    Index(
        "uq_staff_conversations_open_staff",
        "staff",
        unique=True,
        postgresql_where=text("closed_at IS NULL"),
        sqlite_where=text("closed_at IS NULL"),
    ),
)


#: The audit trail (权力运行可追溯): every staff read of personal data and every staff action.
#: Append-only: the migration adds triggers that refuse UPDATE and DELETE.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(32), nullable=False),
    Column("case_number", String(16), nullable=True),
    Column("details", Json, nullable=True),
    Index(None, "case_number"),
    Index(None, "actor"),
)
