"""Platform tables: outbox, processed_events, audit_log.

Revision ID: directory_0001
Revises:
"""
from alembic import op

from worklink.migrations import create_platform_tables, drop_platform_tables

revision = "directory_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_platform_tables(op.get_bind())


def downgrade() -> None:
    drop_platform_tables(op.get_bind())
