"""web sessions token issued at: each session keeps its token's iat, so a sign-out everywhere heard late
also ends a session begun since with a token issued before it (worklink.web.sessions); rows from before
have none and go by when they began

Revision ID: notifications_0019
Revises: notifications_0018
Create Date: 2026-11-26 15:30:00
"""
from alembic import op

from worklink.migrations import add_platform_columns, drop_platform_columns

revision = "notifications_0019"
down_revision = "notifications_0018"
branch_labels = None
depends_on = None
COLUMNS = ("token_issued_at",)


def upgrade() -> None:
    add_platform_columns(op, "web_sessions", *COLUMNS)


def downgrade() -> None:
    drop_platform_columns(op, "web_sessions", *COLUMNS)
