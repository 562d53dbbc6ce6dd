"""referrer in words: who referred as the adviser can use it to reach them - their name, profession and
organisation's name, as their token or the adjustment suggestion gives them (staff details, never the
person's); a referral taken in before this revision has none and is described by role and organisation id

Revision ID: referrals_0016
Revises: referrals_0015
Create Date: 2026-11-27 03:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "referrals_0016"
down_revision = "referrals_0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('referrer_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('referrer_profession', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('referrer_org_name', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_column('referrer_org_name')
        batch_op.drop_column('referrer_profession')
        batch_op.drop_column('referrer_name')
