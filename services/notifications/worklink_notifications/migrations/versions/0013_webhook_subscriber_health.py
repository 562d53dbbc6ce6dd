"""webhook subscriber health: failed tries in a row, failing since, last error, when its organisation was told

Revision ID: notifications_0013
Revises: notifications_0012
Create Date: 2026-11-26 09:55:15
"""
from alembic import op
import sqlalchemy as sa


revision = "notifications_0013"
down_revision = "notifications_0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_subscriber", schema=None) as batch_op:
        batch_op.add_column(sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column("failure_reported_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_subscriber", schema=None) as batch_op:
        batch_op.drop_column("failure_reported_at")
        batch_op.drop_column("last_error")
        batch_op.drop_column("failing_since")
        batch_op.drop_column("consecutive_failures")
