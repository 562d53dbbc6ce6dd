"""delivery key by event source: a delivery is unique by the event's CloudEvents source and id together
(two producers may use the same id); rows from before have source "". A downgrade fails if two deliveries
now differ by source alone.

Revision ID: notifications_0018
Revises: notifications_0017
Create Date: 2026-11-26 13:10:27.390218
"""
from alembic import op
import sqlalchemy as sa


revision = "notifications_0018"
down_revision = "notifications_0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.add_column(sa.Column('event_source', sa.String(length=255), server_default='', nullable=False))
        batch_op.drop_constraint(batch_op.f('uq_delivery_key'), type_='unique')
        batch_op.create_unique_constraint('uq_delivery_key', ['event_id', 'event_source', 'recipient_kind', 'recipient_id', 'channel'])


def downgrade() -> None:
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_constraint('uq_delivery_key', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_delivery_key'), ['event_id', 'recipient_kind', 'recipient_id', 'channel'])
        batch_op.drop_column('event_source')
