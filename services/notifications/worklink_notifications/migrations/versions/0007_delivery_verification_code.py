"""delivery verification code: a resident's one-time code (self_referral_code), erased with the address

Revision ID: notifications_0007
Revises: notifications_0006
Create Date: 2026-11-25 17:25:46.694456
"""
from alembic import op
import sqlalchemy as sa


revision = "notifications_0007"
down_revision = 'notifications_0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verification_code', sa.String(length=8), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_column('verification_code')

