"""referral request unanswered: when the sweep found a referral request with no answer from the referrals
service for ADJUSTMENTS_REFERRAL_ANSWER_HOURS (shown to the clinician as not yet received; cleared by any
answer). Requests from before start unmarked: the sweep's next pass marks those still unanswered.

Revision ID: adjustments_0016
Revises: adjustments_0015
Create Date: 2026-11-27 06:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = "adjustments_0016"
down_revision = "adjustments_0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("referral_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unanswered_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("referral_requests", schema=None) as batch_op:
        batch_op.drop_column("unanswered_at")
