"""audit review indexes: audit_log by moment and by record, for the audit trail's review
(worklink.audit_review); databases made since the first migration have them already

Revision ID: notifications_0016
Revises: notifications_0015
Create Date: 2026-11-26 12:45:00
"""
from alembic import op

from worklink.migrations import add_platform_indexes, drop_platform_indexes

revision = "notifications_0016"
down_revision = "notifications_0015"
branch_labels = None
depends_on = None
INDEXES = ("ix_audit_log_occurred_at", "ix_audit_log_resource_id")


def upgrade() -> None:
    add_platform_indexes(op.get_bind(), *INDEXES)


def downgrade() -> None:
    drop_platform_indexes(op.get_bind(), *INDEXES)
