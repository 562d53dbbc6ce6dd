"""status link renewed at: when a link the person asked for was last made and emailed, so a request for a new link
soon after (REFERRALS_STATUS_LINK_REPEAT_MINUTES) emails no second one. None before: the next request sends one.

Revision ID: referrals_0024
Revises: referrals_0023
Create Date: 2026-11-28 10:20:00
"""
from alembic import op
import sqlalchemy as sa

revision = "referrals_0024"
down_revision = "referrals_0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_link_renewed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_column('status_link_renewed_at')
