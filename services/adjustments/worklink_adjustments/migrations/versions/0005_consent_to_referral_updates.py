"""consent to be emailed how a referral goes

Revision ID: adjustments_0005
Revises: adjustments_0004
Create Date: 2026-11-25 18:35:52
"""
from alembic import op
import sqlalchemy as sa


revision = "adjustments_0005"
down_revision = "adjustments_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("suggestions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("referral_updates_by_email", sa.Boolean(), server_default=sa.false(),
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("suggestions", schema=None) as batch_op:
        batch_op.drop_column("referral_updates_by_email")
