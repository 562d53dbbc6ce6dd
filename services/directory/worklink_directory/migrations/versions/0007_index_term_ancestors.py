"""the full-text index carries each term's ancestors as facets, so a category includes its sub-categories

Revision ID: directory_0007
Revises: directory_0006
Create Date: 2026-11-25 23:30:00
"""
from alembic import op

from worklink_directory import search

revision = "directory_0007"
down_revision = "directory_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    search.index_every_service(op.get_bind())


def downgrade() -> None:
    """Extra facet tokens do no harm to the older code's searches; nothing to undo."""
