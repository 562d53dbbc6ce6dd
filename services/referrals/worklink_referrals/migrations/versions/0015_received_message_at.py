"""received message at: the person hears "we have your referral" (with their status link) when it is taken
in, no longer when the adviser organisation first receives it; a referral taken in before this revision and
not yet received has none, so it is still told then

Revision ID: referrals_0015
Revises: referrals_0014
Create Date: 2026-11-26 16:40:00
"""
from alembic import op
import sqlalchemy as sa

revision = "referrals_0015"
down_revision = "referrals_0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('received_message_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_column('received_message_at')
