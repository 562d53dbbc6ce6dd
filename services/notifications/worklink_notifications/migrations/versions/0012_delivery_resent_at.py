"""delivery resent_at: when an administrator last re-sent a delivery (an outage gives it up 72 h after that)

Revision ID: notifications_0012
Revises: notifications_0011
Create Date: 2026-11-26 07:06:39
"""
from alembic import op
import sqlalchemy as sa


revision = "notifications_0012"
down_revision = "notifications_0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resent_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_column("resent_at")
