"""personal data encrypted at rest: the villager's name, phone and words, event details,
outbox payloads

The columns become TEXT to hold Fernet tokens (records/adapters/crypto.py).  Values written
before stay readable as plaintext until ``xiangyin cases rekey`` encrypts them under the
first key of XIANGYIN_DATA_KEY (run it once after upgrading).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.alter_column("villager_name", existing_type=sa.String(255), type_=sa.Text())
        batch.alter_column("villager_phone", existing_type=sa.String(32), type_=sa.Text())
        batch.alter_column(
            "facts",
            existing_type=Json,
            type_=sa.Text(),
            existing_nullable=False,
            postgresql_using="facts::text",
        )
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column(
            "payload",
            existing_type=Json,
            type_=sa.Text(),
            existing_nullable=False,
            postgresql_using="payload::text",
        )
    with op.batch_alter_table("case_events") as batch:
        batch.alter_column(
            "details",
            existing_type=Json,
            type_=sa.Text(),
            existing_nullable=False,
            postgresql_using="details::text",
        )


def downgrade() -> None:
    raise NotImplementedError("0007 is not reversible: restore the backup taken before upgrading")
