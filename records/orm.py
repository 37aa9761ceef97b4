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
    "case_deadlines",
    "case_events",
    "case_notes",
    "cases",
    "bot_state",
    "case_sessions",
    "digests_sent",
    "evidence",
    "metadata",
    "outbox",
    "processed_updates",
    "relay_backlog",
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


# ---------------------------------------------------------------------------
# Staff and the Telegram front end (migration 0002)
# ---------------------------------------------------------------------------

#: People who handle cases on Telegram.  Nobody is staff by saying so: a row is written only
#: when a one-time invite code (staff_invites) is redeemed.
staff = Table(
    "staff",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("telegram_user_id", BigInteger, nullable=False),
    Column("name", String(255), nullable=False),
    Column("agency_id", String(255), nullable=False),
    Column("role", String(16), nullable=False),  # mediator | agent | agency_staff | admin
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    UniqueConstraint("telegram_user_id"),
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
    Column("used_by", BigInteger, nullable=True),
    Column("used_at", DateTime, nullable=True),
    UniqueConstraint("code_hash"),
)

#: Telegram update ids already handled: a redelivered update is answered once.  Update ids
#: count per bot, so the bot's id is part of the key (several bots may share a database).
processed_updates = Table(
    "processed_updates",
    metadata,
    Column("bot_id", BigInteger, primary_key=True, autoincrement=False),
    Column("update_id", BigInteger, primary_key=True, autoincrement=False),
    Column("received_at", DateTime, nullable=False),
    Index(None, "received_at"),
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
    Column("telegram_file_id", String(255), nullable=False),
    Column("file_unique_id", String(255), nullable=False),
    Column("kind", String(16), nullable=False),  # photo | document | voice
    Column("size", Integer, nullable=True),
    Column("duration", Integer, nullable=True),  # seconds, for voice notes
    Column("received_at", DateTime, nullable=False),
    Column("stored_path", Text, nullable=True),
    UniqueConstraint("case_number", "file_unique_id"),
    Index(None, "sender_id", "case_number"),
)

#: Appointments a handler set with the villager (records/sessions.py).
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
    Column("staff_user_id", BigInteger, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("cases", Integer, nullable=False),
    Column("sent_at", DateTime, nullable=False),
)

#: python-telegram-bot's per-user and per-chat data (bot/persistence.py): ``kind`` is
#: ``user`` or ``chat``, ``key`` the Telegram id.
bot_state = Table(
    "bot_state",
    metadata,
    Column("kind", String(8), primary_key=True),
    Column("key", BigInteger, primary_key=True),
    Column("data", Json, nullable=False),
    Column("updated_at", DateTime, nullable=False),
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
    Column("staff_user_id", BigInteger, nullable=False),
    Column("villager_sender_id", String(255), nullable=False),
    Column("villager_chat_id", BigInteger, nullable=False),
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
    Index(
        "uq_staff_conversations_open_staff",
        "staff_user_id",
        unique=True,
        postgresql_where=text("closed_at IS NULL"),
        sqlite_where=text("closed_at IS NULL"),
    ),
)

#: Villagers' messages that could not reach Rasa (server down after every retry): kept here
#: and relayed, in order, once Rasa answers again — a message is never lost.
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
    Index(None, "sender_id", "delivered_at"),
)
