"""channel pause: one row per channel (mail) with the moment every delivery worker waits for and the failures in a
row, so several workers share one pause while the mail relay cannot be reached

Revision ID: notifications_0017
Revises: notifications_0016
Create Date: 2026-11-26 12:48:07
"""
from alembic import op
import sqlalchemy as sa


revision = "notifications_0017"
down_revision = "notifications_0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_pause",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel", name=op.f("pk_channel_pause")),
    )


def downgrade() -> None:
    op.drop_table("channel_pause")
