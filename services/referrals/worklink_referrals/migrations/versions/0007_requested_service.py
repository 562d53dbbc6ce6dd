"""requested service: the service the referrer named (routing, duplicates) apart from the consent's scope,
which now records the service a referral routed by area was sent to

Revision ID: referrals_0007
Revises: referrals_0006
Create Date: 2026-11-26 04:26:24
"""
from alembic import op
import sqlalchemy as sa


revision = "referrals_0007"
down_revision = 'referrals_0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requested_service_id', sa.Uuid(), nullable=True))
    # Until now the consent's scope was the service the referrer named, and nothing when routed by area.
    op.execute("UPDATE referrals SET requested_service_id = consent_scope_service_id")
    op.execute("UPDATE referrals SET consent_scope_service_id = service_id "
               "WHERE consent_scope_service_id IS NULL AND service_id IS NOT NULL")


def downgrade() -> None:
    op.execute("UPDATE referrals SET consent_scope_service_id = requested_service_id")
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_column('requested_service_id')
