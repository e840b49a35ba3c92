"""Add drop reminder choices

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 15:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "drop_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("drop_id", sa.Integer(), nullable=False),
        sa.Column("attendee_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["attendee_id"],
            ["attendees.id"],
            name=op.f("fk_drop_reminders_attendee_id_attendees"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["drop_id"],
            ["drops.id"],
            name=op.f("fk_drop_reminders_drop_id_drops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drop_reminders")),
        sa.UniqueConstraint(
            "drop_id", "attendee_id", name=op.f("uq_drop_reminders_drop_id_attendee_id")
        ),
    )
    with op.batch_alter_table("drop_reminders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_drop_reminders_drop_id"), ["drop_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("drop_reminders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_drop_reminders_drop_id"))

    op.drop_table("drop_reminders")
