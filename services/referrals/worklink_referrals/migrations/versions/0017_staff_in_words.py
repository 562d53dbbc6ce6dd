"""staff in words: other organisations see an adviser or note author by name or by role and organisation, never
by login id - the display names their tokens carried (an assigned adviser's, a note's or a contact attempt's
author's, with the author's role) and the organisations' names tokens carried (`org_name`), which the
directory's events cannot (broadcast events carry no free text); rows written before this revision have none

Revision ID: referrals_0017
Revises: referrals_0016
Create Date: 2026-11-27 09:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "referrals_0017"
down_revision = "referrals_0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('organisation_names',
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('org_id', name=op.f('pk_organisation_names'))
    )
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assigned_adviser_name', sa.String(length=200), nullable=True))
    for table in ('notes', 'contact_attempts'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('by_name', sa.String(length=200), nullable=True))
            batch_op.add_column(sa.Column('by_role', sa.String(length=32), nullable=True))


def downgrade() -> None:
    for table in ('contact_attempts', 'notes'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('by_role')
            batch_op.drop_column('by_name')
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_column('assigned_adviser_name')
    op.drop_table('organisation_names')
