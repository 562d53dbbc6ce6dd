"""delivery key by event source: a delivery is unique by the event's CloudEvents source and id together
(two producers may use the same id); rows from before have source "". A downgrade is refused while two
deliveries differ by source alone: the old key cannot hold both, and dropping one would lose a message.

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
    shared = op.get_bind().scalar(sa.text(
        "SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM delivery "
        "GROUP BY event_id, recipient_kind, recipient_id, channel HAVING count(*) > 1) AS same_key"))
    if shared:  # said by name: the key's rebuild would fail with a bare unique-constraint error
        raise RuntimeError(f"{shared} deliveries differ by event source alone (same event id, recipient and channel); "
                           "the key without the source cannot hold them, so notifications_0018 cannot be downgraded")
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_constraint('uq_delivery_key', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_delivery_key'), ['event_id', 'recipient_kind', 'recipient_id', 'channel'])
        batch_op.drop_column('event_source')
