"""case records: cases, case_events, case_deadlines, outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-27

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out rather than imported from records.adapters.orm: a migration must keep describing the
# schema of its own day even after the metadata moves on.
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FALSE = sa.text("false")


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("number", sa.String(16), nullable=False),
        sa.Column("submission_key", sa.String(255), nullable=True),
        sa.Column("route", sa.String(16), nullable=False),
        sa.Column("dispute_type", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sender_id", sa.String(255), nullable=False),
        sa.Column("villager_name", sa.String(255), nullable=True),
        sa.Column("villager_phone", sa.String(32), nullable=True),
        sa.Column("filed_by", sa.String(255), nullable=True),
        sa.Column("county_id", sa.String(64), nullable=False),
        sa.Column("township_id", sa.String(64), nullable=True),
        sa.Column("township_name", sa.String(255), nullable=True),
        sa.Column("village_id", sa.String(64), nullable=True),
        sa.Column("village_name", sa.String(255), nullable=True),
        sa.Column("agency_id", sa.String(255), nullable=True),
        sa.Column("agency_name", sa.String(255), nullable=True),
        sa.Column("intake_id", sa.String(255), nullable=True),
        sa.Column("intake_name", sa.String(255), nullable=True),
        sa.Column("chain", Json, nullable=False),
        sa.Column("tried", Json, nullable=False),
        sa.Column("facts", Json, nullable=False),
        sa.Column("screening", Json, nullable=True),
        sa.Column("redirect", Json, nullable=True),
        sa.Column("also_offer", Json, nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False, server_default=FALSE),
        sa.Column("emergency", sa.Boolean(), nullable=False, server_default=FALSE),
        sa.Column("redirected", sa.Boolean(), nullable=False, server_default=FALSE),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cases"),
        sa.UniqueConstraint("number", name="uq_cases_number"),
        sa.UniqueConstraint("submission_key", name="uq_cases_submission_key"),
    )
    op.create_index("ix_cases_sender_id", "cases", ["sender_id"])
    op.create_index("ix_cases_agency_id_status", "cases", ["agency_id", "status"])
    op.create_index("ix_cases_status", "cases", ["status"])

    op.create_table(
        "case_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", Json, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_case_events"),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name="fk_case_events_case_id_cases", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("case_id", "seq", name="uq_case_events_case_id_seq"),
    )

    op.create_table(
        "case_deadlines",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("deadline_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("due", sa.Date(), nullable=True),
        sa.Column("article", sa.String(64), nullable=False),
        sa.Column("law", sa.String(255), nullable=False),
        sa.Column("explain", sa.Text(), nullable=False),
        sa.Column("start_event", sa.String(32), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=True),
        sa.Column("set_on", sa.String(16), nullable=False),
        sa.Column("information", sa.Boolean(), nullable=False, server_default=FALSE),
        sa.PrimaryKeyConstraint("id", name="pk_case_deadlines"),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name="fk_case_deadlines_case_id_cases", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("case_id", "deadline_id", name="uq_case_deadlines_case_id_deadline_id"),
    )
    op.create_index("ix_case_deadlines_due", "case_deadlines", ["due"])

    op.create_table(
        "outbox",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("case_number", sa.String(16), nullable=True),
        sa.Column("recipient_kind", sa.String(16), nullable=False),
        sa.Column("recipient_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("message_key", sa.String(128), nullable=False),
        sa.Column("payload", Json, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(255), nullable=True),
        sa.Column("claim_token", sa.String(64), nullable=True),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("dead_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    # Only undelivered, live rows are ever scanned by the dispatcher.
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["next_attempt_at"],
        postgresql_where=sa.text("delivered_at IS NULL AND dead_at IS NULL"),
        sqlite_where=sa.text("delivered_at IS NULL AND dead_at IS NULL"),
    )
    op.create_index("ix_outbox_case_number", "outbox", ["case_number"])
    op.create_index("ix_outbox_claim_token", "outbox", ["claim_token"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("case_deadlines")
    op.drop_table("case_events")
    op.drop_table("cases")
