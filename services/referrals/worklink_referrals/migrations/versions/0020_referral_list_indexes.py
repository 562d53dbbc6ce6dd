"""referral list indexes: referrals by submitted_at (every list's order; the alliance's lists every referral), by
first_contact_at (the capacity summary's last 90 days), and by organisation with submitted_at (an adviser
organisation's queue, a referrer's list: a page read in order instead of the organisation's every referral sorted),
which replace the indexes on assigned_org_id and referrer_org_id alone

Revision ID: referrals_0020
Revises: referrals_0019
Create Date: 2026-11-27 19:10:00
"""
from alembic import op

revision = "referrals_0020"
down_revision = "referrals_0019"
branch_labels = None
depends_on = None
# (name, columns, the single-column index it replaces)
INDEXES = (("ix_referrals_submitted_at", ["submitted_at"], None),
           ("ix_referrals_first_contact_at", ["first_contact_at"], None),
           ("ix_referrals_assigned_org_id_submitted_at", ["assigned_org_id", "submitted_at"], "assigned_org_id"),
           ("ix_referrals_referrer_org_id_submitted_at", ["referrer_org_id", "submitted_at"], "referrer_org_id"))


def upgrade() -> None:
    for name, columns, replaces in INDEXES:
        op.create_index(name, "referrals", columns)
        if replaces:
            op.drop_index(f"ix_referrals_{replaces}", table_name="referrals")


def downgrade() -> None:
    for name, _, replaces in reversed(INDEXES):
        if replaces:
            op.create_index(f"ix_referrals_{replaces}", "referrals", [replaces])
        op.drop_index(name, table_name="referrals")
