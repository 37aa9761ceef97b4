"""the bot's tables: processed updates, PTB user/chat data, the relay backlog

Until this revision the case records' migrations 0002 and 0003 created these tables.  A
database that has them already keeps them (and their rows); a new one gets them here.

Revision ID: b0001
Revises:
Create Date: 2026-11-29

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "b0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "processed_updates" not in existing:
        op.create_table(
            "processed_updates",
            sa.Column("bot_id", sa.BigInteger(), autoincrement=False, nullable=False),
            sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
            sa.Column("received_at", sa.DateTime(), nullable=False),
            sa.PrimaryKeyConstraint("bot_id", "update_id", name="pk_processed_updates"),
        )
        op.create_index("ix_processed_updates_received_at", "processed_updates", ["received_at"])
    if "bot_state" not in existing:
        op.create_table(
            "bot_state",
            sa.Column("kind", sa.String(8), nullable=False),
            sa.Column("key", sa.BigInteger(), nullable=False),
            sa.Column("data", Json, nullable=False),
            sa.Column("updated_at", sa.DateTime(), nullable=False),
            sa.PrimaryKeyConstraint("kind", "key", name="pk_bot_state"),
        )
    if "relay_backlog" not in existing:
        op.create_table(
            "relay_backlog",
            sa.Column("id", BigId, primary_key=True, autoincrement=True),
            sa.Column("sender_id", sa.String(255), nullable=False),
            sa.Column("chat_id", sa.BigInteger(), nullable=False),
            sa.Column("text", sa.Text(), nullable=False),
            sa.Column("message_metadata", Json, nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
            sa.Column("delivered_at", sa.DateTime(), nullable=True),
            sa.PrimaryKeyConstraint("id", name="pk_relay_backlog"),
        )
        op.create_index(
            "ix_relay_backlog_sender_id_delivered_at",
            "relay_backlog",
            ["sender_id", "delivered_at"],
        )


def downgrade() -> None:
    op.drop_table("relay_backlog")
    op.drop_table("bot_state")
    op.drop_table("processed_updates")
