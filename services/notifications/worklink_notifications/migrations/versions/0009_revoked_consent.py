"""revoked consent: consents a resident withdrew (notifications.person_messages.revoked); nothing is sent under them

Revision ID: notifications_0009
Revises: notifications_0008
Create Date: 2026-11-26 03:47:44
"""
from alembic import op
import sqlalchemy as sa


revision = "notifications_0009"
down_revision = 'notifications_0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('revoked_consent',
    sa.Column('consent_id', sa.Uuid(), nullable=False),
    sa.Column('person_id', sa.String(length=255), nullable=False),
    sa.Column('referral_id', sa.Uuid(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('consent_id', name=op.f('pk_revoked_consent'))
    )


def downgrade() -> None:
    op.drop_table('revoked_consent')
