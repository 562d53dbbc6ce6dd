"""delivery status link: a resident's private status link (referral_status_link), erased with the address

Revision ID: notifications_0008
Revises: notifications_0007
Create Date: 2026-11-26 04:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = "notifications_0008"
down_revision = 'notifications_0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_link', sa.String(length=160), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_column('status_link')
