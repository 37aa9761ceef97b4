"""relay backlog: claims and retries (claimed_by, lease_until, next_attempt_at)

Several bot processes share the backlog: one claims an item for a while (``claimed_by``,
``lease_until``) and no other relays it meanwhile; an item that failed waits until
``next_attempt_at`` while the pass goes on to the others.  Messages already relayed keep no
text from now on: those relayed before are scrubbed here.

Revision ID: b0002
Revises: b0001
Create Date: 2026-11-30

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "b0002"
down_revision: str | None = "b0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("relay_backlog") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(255), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(), nullable=True))
    backlog = sa.table(
        "relay_backlog",
        sa.column("text", sa.Text()),
        sa.column("message_metadata", Json),
        sa.column("delivered_at", sa.DateTime()),
    )
    op.execute(
        backlog.update()
        .where(backlog.c.delivered_at.isnot(None))
        .values(text="", message_metadata={})
    )


def downgrade() -> None:
    with op.batch_alter_table("relay_backlog") as batch:
        batch.drop_column("next_attempt_at")
        batch.drop_column("lease_until")
        batch.drop_column("claimed_by")
