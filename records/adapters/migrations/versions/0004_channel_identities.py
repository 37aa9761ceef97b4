"""staff, talks, digests and files keyed by channel identity, not by Telegram ids

A person is ``tg:123`` (channel ``tg``, id ``123``) everywhere in the case records, so a
second channel (a web chat) needs no new columns:

* ``staff``: ``telegram_user_id`` → ``channel`` + ``channel_user_id``;
* ``staff_invites.used_by``, ``digests_sent.staff`` and ``staff_conversations.staff``: the
  actor string (``tg:123``); ``staff_conversations.villager_chat`` the channel's chat id as
  text, with at most one open talk per chat (an agent's chat speaks for several villagers);
* ``evidence``: ``telegram_file_id`` → ``file_id``, plus ``channel``.

The bot's own tables (``processed_updates``, ``bot_state``, ``relay_backlog``) created by
0002 and 0003 stay where they are: from now on the bot's state store (bot/state_store.py)
owns and migrates them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("closed_at IS NULL")


def _actor(column: str) -> str:
    return f"'tg:' || CAST({column} AS VARCHAR(64))"


def upgrade() -> None:
    # staff -------------------------------------------------------------------------------
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("channel", sa.String(16), nullable=True))
        batch.add_column(sa.Column("channel_user_id", sa.String(64), nullable=True))
    op.execute(
        "UPDATE staff SET channel = 'tg', channel_user_id = CAST(telegram_user_id AS VARCHAR(64))"
    )
    with op.batch_alter_table("staff") as batch:
        batch.alter_column("channel", existing_type=sa.String(16), nullable=False)
        batch.alter_column("channel_user_id", existing_type=sa.String(64), nullable=False)
        batch.drop_constraint("uq_staff_telegram_user_id", type_="unique")
        batch.drop_column("telegram_user_id")
        batch.create_unique_constraint(
            "uq_staff_channel_channel_user_id", ["channel", "channel_user_id"]
        )

    # staff_invites.used_by ------------------------------------------------------------------
    with op.batch_alter_table("staff_invites") as batch:
        batch.add_column(sa.Column("used_by_actor", sa.String(255), nullable=True))
    op.execute(
        f"UPDATE staff_invites SET used_by_actor = {_actor('used_by')} WHERE used_by IS NOT NULL"
    )
    with op.batch_alter_table("staff_invites") as batch:
        batch.drop_column("used_by")
        batch.alter_column("used_by_actor", new_column_name="used_by", existing_type=sa.String(255))

    # evidence ------------------------------------------------------------------------------
    with op.batch_alter_table("evidence") as batch:
        batch.add_column(sa.Column("channel", sa.String(16), nullable=True))
        batch.alter_column(
            "telegram_file_id", new_column_name="file_id", existing_type=sa.String(255)
        )
    op.execute("UPDATE evidence SET channel = 'tg'")
    with op.batch_alter_table("evidence") as batch:
        batch.alter_column("channel", existing_type=sa.String(16), nullable=False)

    # digests_sent: the key changes, so the table is rebuilt -----------------------------------
    op.create_table(
        "digests_sent_new",
        sa.Column("staff", sa.String(255), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
    )
    op.execute(
        "INSERT INTO digests_sent_new (staff, day, cases, sent_at) "
        f"SELECT {_actor('staff_user_id')}, day, cases, sent_at FROM digests_sent"
    )
    op.drop_table("digests_sent")
    op.rename_table("digests_sent_new", "digests_sent")
    with op.batch_alter_table("digests_sent") as batch:
        batch.create_primary_key("pk_digests_sent", ["staff", "day"])

    # staff_conversations -----------------------------------------------------------------------
    # The partial unique indexes are dropped around the rebuild (SQLite's batch mode would
    # copy them back without their WHERE clause).
    op.drop_index("uq_staff_conversations_open_staff", table_name="staff_conversations")
    op.drop_index("uq_staff_conversations_open_villager", table_name="staff_conversations")
    with op.batch_alter_table("staff_conversations") as batch:
        batch.add_column(sa.Column("staff", sa.String(255), nullable=True))
        batch.add_column(sa.Column("villager_chat", sa.String(64), nullable=True))
    op.execute(
        f"UPDATE staff_conversations SET staff = {_actor('staff_user_id')}, "
        "villager_chat = CAST(villager_chat_id AS VARCHAR(64))"
    )
    with op.batch_alter_table("staff_conversations") as batch:
        batch.alter_column("staff", existing_type=sa.String(255), nullable=False)
        batch.alter_column("villager_chat", existing_type=sa.String(64), nullable=False)
        batch.drop_column("staff_user_id")
        batch.drop_column("villager_chat_id")
    op.create_index(
        "uq_staff_conversations_open_villager",
        "staff_conversations",
        ["villager_sender_id"],
        unique=True,
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
    op.create_index(
        "uq_staff_conversations_open_chat",
        "staff_conversations",
        ["villager_chat"],
        unique=True,
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
    op.create_index(
        "uq_staff_conversations_open_staff",
        "staff_conversations",
        ["staff"],
        unique=True,
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )


def downgrade() -> None:
    raise NotImplementedError("0004 is not reversible: restore the backup taken before upgrading")
