"""Link announcements to short links

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 15:33:49.949084
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("announcements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("short_link_code", sa.String(length=16), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_announcements_short_link_code_short_links"),
            "short_links",
            ["short_link_code"],
            ["code"],
        )

    with op.batch_alter_table("short_links", schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f("uq_short_links_payload"), ["payload"])


def downgrade() -> None:
    with op.batch_alter_table("short_links", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_short_links_payload"), type_="unique")

    with op.batch_alter_table("announcements", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_announcements_short_link_code_short_links"), type_="foreignkey"
        )
        batch_op.drop_column("short_link_code")
