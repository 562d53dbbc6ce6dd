"""status link requests: POST /status-links writes a waiting request (the address's keyed mailbox, never the
address) whatever the address matches, and the new-links job renews and emails the links, so the request's time
no longer tells whether an address has a referral

Revision ID: referrals_0023
Revises: referrals_0022
Create Date: 2026-11-28 02:05:00
"""
from alembic import op
import sqlalchemy as sa


revision = "referrals_0023"
down_revision = "referrals_0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('status_link_requests',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('mailbox_keys', sa.JSON(), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_status_link_requests'))
    )


def downgrade() -> None:
    op.drop_table('status_link_requests')
