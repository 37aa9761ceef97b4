"""staff.unreachable_since: a member whose messenger refuses our messages

One outbox row per recipient: when Telegram answers 403 for a staff member (they blocked the
bot), their rows stop at once, and the agency's messages go to the colleagues who can be
reached — or up to the supervising agency — until the member is heard from again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("unreachable_since", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("unreachable_since")
