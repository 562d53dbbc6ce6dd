"""audit_log append-only: the database refuses any change to an audit entry but renaming its person reference
(erasure, key rotation) and deleting one past retention (worklink.migrations.guard_audit_log)

Revision ID: notifications_0022
Revises: notifications_0021
Create Date: 2026-11-27 15:00:00
"""
from alembic import op

from worklink.migrations import guard_audit_log, unguard_audit_log

revision = "notifications_0022"
down_revision = "notifications_0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    guard_audit_log(op.get_bind())


def downgrade() -> None:
    unguard_audit_log(op.get_bind())
