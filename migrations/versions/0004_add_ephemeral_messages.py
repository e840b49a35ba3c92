"""Add ephemeral messages and let deliveries outlive their chat id

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ephemeral_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delete_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ephemeral_messages")),
        sa.UniqueConstraint(
            "chat_id", "message_id", name=op.f("uq_ephemeral_messages_chat_id_message_id")
        ),
    )
    with op.batch_alter_table("ephemeral_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ephemeral_messages_delete_after"), ["delete_after"], unique=False
        )

    # /forget and the purge null the chat id of a delivery and keep the row for the figures.
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.alter_column("chat_id", existing_type=sa.BigInteger(), nullable=True)


def downgrade() -> None:
    # 0003 has no place for a delivery without a chat id: those of forgotten attendees go.
    op.execute("DELETE FROM deliveries WHERE chat_id IS NULL")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.alter_column("chat_id", existing_type=sa.BigInteger(), nullable=False)

    with op.batch_alter_table("ephemeral_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ephemeral_messages_delete_after"))

    op.drop_table("ephemeral_messages")
