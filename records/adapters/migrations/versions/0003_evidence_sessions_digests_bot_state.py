"""media before a case exists, appointments, daily digests, the bot's conversation state

* ``evidence.case_number`` may be NULL: a photo or voice note sent while the form is still
  being filled is kept for its sender and attached when the case is filed.
* ``case_sessions``: appointments a handler sets with the villager (date, time, place).
* ``digests_sent``: one daily digest per staff member and day.
* ``bot_state``: python-telegram-bot's user/chat data (button payloads, /file mode, what the
  bot asked a staff member), so a restart or another replica does not forget them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("evidence") as batch:
        batch.alter_column("case_number", existing_type=sa.String(16), nullable=True)
        batch.add_column(sa.Column("duration", sa.Integer(), nullable=True))
    op.create_index("ix_evidence_sender_id_case_number", "evidence", ["sender_id", "case_number"])

    op.create_table(
        "case_sessions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("case_number", sa.String(16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("scheduled_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_case_sessions"),
    )
    op.create_index("ix_case_sessions_case_number", "case_sessions", ["case_number"])
    op.create_index("ix_case_sessions_day", "case_sessions", ["day"])

    op.create_table(
        "digests_sent",
        sa.Column("staff_user_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("staff_user_id", "day", name="pk_digests_sent"),
    )

    op.create_table(
        "bot_state",
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("key", sa.BigInteger(), nullable=False),
        sa.Column("data", Json, nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", name="pk_bot_state"),
    )


def downgrade() -> None:
    op.drop_table("bot_state")
    op.drop_table("digests_sent")
    op.drop_table("case_sessions")
    op.drop_index("ix_evidence_sender_id_case_number", table_name="evidence")
    op.execute("DELETE FROM evidence WHERE case_number IS NULL")
    with op.batch_alter_table("evidence") as batch:
        batch.drop_column("duration")
        batch.alter_column("case_number", existing_type=sa.String(16), nullable=False)
