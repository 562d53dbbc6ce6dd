"""status link issued at: when the person's status link was made, so it can stop working some time after it was
sent and after the referral ended (REFERRALS_STATUS_LINK_MAX_DAYS, REFERRALS_STATUS_LINK_DAYS_AFTER_END). A link
made before this was sent with the first email (received_message_at) or, failing that, at intake (submitted_at).

Revision ID: referrals_0021
Revises: referrals_0020
Create Date: 2026-11-27 23:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "referrals_0021"
down_revision = "referrals_0020"
branch_labels = None
depends_on = None

REFERRALS = sa.table("referrals", sa.column("submitted_at", sa.DateTime(timezone=True)),
                     sa.column("received_message_at", sa.DateTime(timezone=True)),
                     sa.column("status_link_hash", sa.String()),
                     sa.column("status_link_issued_at", sa.DateTime(timezone=True)))


def upgrade() -> None:
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_link_issued_at', sa.DateTime(timezone=True), nullable=True))
    op.execute(REFERRALS.update().where(REFERRALS.c.status_link_hash.is_not(None)).values(
        status_link_issued_at=sa.func.coalesce(REFERRALS.c.received_message_at, REFERRALS.c.submitted_at)))


def downgrade() -> None:
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_column('status_link_issued_at')
