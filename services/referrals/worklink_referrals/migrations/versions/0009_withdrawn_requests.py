"""withdrawn requests: a consent withdrawal that came before its request (ids and times only), so the
request makes no referral if it is re-driven or redelivered later

Revision ID: referrals_0009
Revises: referrals_0008
Create Date: 2026-11-26 09:52:12.687379
"""
from alembic import op
import sqlalchemy as sa


revision = "referrals_0009"
down_revision = "referrals_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('withdrawn_requests',
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('consent_id', sa.Uuid(), nullable=False),
    sa.Column('practice_id', sa.Uuid(), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('request_id', name=op.f('pk_withdrawn_requests'))
    )
    with op.batch_alter_table('withdrawn_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_withdrawn_requests_consent_id'), ['consent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_withdrawn_requests_recorded_at'), ['recorded_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('withdrawn_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_withdrawn_requests_recorded_at'))
        batch_op.drop_index(batch_op.f('ix_withdrawn_requests_consent_id'))

    op.drop_table('withdrawn_requests')
