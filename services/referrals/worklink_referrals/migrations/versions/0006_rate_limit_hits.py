"""rate limit hits: sliding-window counts for self-referral starts, shared by every web worker

Revision ID: referrals_0006
Revises: referrals_0005
Create Date: 2026-11-25 17:35:27.453307
"""
from alembic import op
import sqlalchemy as sa


revision = "referrals_0006"
down_revision = 'referrals_0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rate_limit_hits',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('bucket', sa.String(length=64), nullable=False),
    sa.Column('hit_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_limit_hits'))
    )
    with op.batch_alter_table('rate_limit_hits', schema=None) as batch_op:
        batch_op.create_index('ix_rate_limit_hits_bucket_hit_at', ['bucket', 'hit_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('rate_limit_hits', schema=None) as batch_op:
        batch_op.drop_index('ix_rate_limit_hits_bucket_hit_at')

    op.drop_table('rate_limit_hits')
