"""the full-text index is rebuilt with the words the stemmer no longer folds together ("employer" apart
from "employment") and without the "s" of a possessive ("carer's" is "carer"), as search.tokens now reads text

Revision ID: directory_0016
Revises: directory_0015
Create Date: 2026-11-27 12:00:00
"""
from alembic import op

from worklink_directory import search

revision = "directory_0016"
down_revision = "directory_0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    search.index_every_service(op.get_bind())


def downgrade() -> None:
    """Older code reads "employer" as "employ" in queries, so an entry holding "employer" would not match
    it; rebuild the index with that code (search.index_every_service) after downgrading."""
