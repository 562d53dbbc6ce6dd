"""audit review indexes: audit_log by moment and by record, for the audit trail's review
(worklink.audit_review); databases made since the first migration have them already

Revision ID: referrals_0013
Revises: referrals_0012
Create Date: 2026-11-26 12:45:00
"""
from alembic import op

from worklink.migrations import add_platform_indexes, drop_platform_indexes

revision = "referrals_0013"
down_revision = "referrals_0012"
branch_labels = None
depends_on = None
INDEXES = ("ix_audit_log_occurred_at", "ix_audit_log_resource_id")


def upgrade() -> None:
    add_platform_indexes(op.get_bind(), *INDEXES)


def downgrade() -> None:
    drop_platform_indexes(op.get_bind(), *INDEXES)
