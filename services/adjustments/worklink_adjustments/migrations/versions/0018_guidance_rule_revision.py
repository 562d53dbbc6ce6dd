"""guidance rule revision: an optimistic lock for a rule, as an adjustment has one. A clinical review of a rule, and
an edit, send the revision they read; a review of a rule that changed since (its rationale or priority edited by
another admin) is a 409, where it marked the changed rule reviewed by someone who never read it. Every rule starts
at revision 1.

Revision ID: adjustments_0018
Revises: adjustments_0017
Create Date: 2026-11-29 10:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = "adjustments_0018"
down_revision = "adjustments_0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("guidance_rules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("guidance_rules", schema=None) as batch_op:
        batch_op.drop_column("revision")
