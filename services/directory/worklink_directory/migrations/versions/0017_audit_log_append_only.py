"""audit_log append-only: the database refuses any change to an audit entry but renaming its person reference
(erasure, key rotation) and deleting one past retention (worklink.migrations.guard_audit_log)

Revision ID: directory_0017
Revises: directory_0016
Create Date: 2026-11-27 15:00:00
"""
from alembic import op

from worklink.migrations import guard_audit_log, unguard_audit_log

revision = "directory_0017"
down_revision = "directory_0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    guard_audit_log(op.get_bind())


def downgrade() -> None:
    unguard_audit_log(op.get_bind())
