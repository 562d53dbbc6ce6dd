"""the full-text index holds listed services only (no "listed" facet token on every entry)

Revision ID: directory_0006
Revises: directory_0005
Create Date: 2026-11-25 20:10:00
"""
import sqlalchemy as sa
from alembic import op

from worklink_directory import search

revision = "directory_0006"
down_revision = "directory_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Every entry rebuilt: listed services without the old facet token, unlisted ones removed."""
    search.index_every_service(op.get_bind())


def downgrade() -> None:
    """Searches of the older code filter on a "listed" token: give it back to listed entries."""
    from sqlalchemy.orm import Session

    bind = op.get_bind()
    session = Session(bind=bind)
    if bind.dialect.name == "postgresql":
        session.execute(sa.text("UPDATE service_search SET document = document || "
                                "setweight(to_tsvector('simple', 'listed'), 'D')"))
    else:
        session.execute(sa.text("UPDATE service_search SET facets = trim(facets || ' listed')"))
