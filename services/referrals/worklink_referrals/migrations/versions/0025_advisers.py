"""advisers: each adviser organisation's advisers, as their own tokens named them when they acted or read here
(organisation id, login id, role, display name, last seen): accept and assign name an adviser from it, and pages
show the assigned adviser by name. Empty at first: advisers are recorded as they next use the service.

Revision ID: referrals_0025
Revises: referrals_0024
Create Date: 2026-11-29 12:45:00
"""
from alembic import op
import sqlalchemy as sa

revision = "referrals_0025"
down_revision = "referrals_0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('advisers',
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('org_id', 'subject', name=op.f('pk_advisers'))
    )


def downgrade() -> None:
    op.drop_table('advisers')
