"""consent that the employment adviser may report a referral's outcome back to the practice

Earlier suggestions never asked it, so they record no (false), whatever was sent before.

Revision ID: adjustments_0010
Revises: adjustments_0009
Create Date: 2026-11-26 04:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = "adjustments_0010"
down_revision = "adjustments_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("suggestions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outcomes_to_gp", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("suggestions", schema=None) as batch_op:
        batch_op.drop_column("outcomes_to_gp")
