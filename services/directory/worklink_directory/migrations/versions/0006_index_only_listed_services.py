"""the full-text index holds listed services only (no "listed" facet token on every entry)

Revision ID: directory_0006
Revises: directory_0005
Create Date: 2026-11-25 20:10:00
"""
import sqlalchemy as sa
from alembic import op

from worklink_directory import search
from worklink_directory.models import LISTED

revision = "directory_0006"
down_revision = "directory_0005"
branch_labels = None
depends_on = None


def _index(bind) -> search.SearchIndex:
    return search.PostgresIndex() if bind.dialect.name == "postgresql" else search.SqliteIndex()


def upgrade() -> None:
    """Every entry rebuilt: listed services without the old facet token, unlisted ones removed."""
    from sqlalchemy.orm import Session

    bind = op.get_bind()
    index = _index(bind)
    terms: dict = {}
    for service_id, name, term_id, taxonomy_id in bind.execute(sa.text(
            "SELECT st.service_id, tt.name, tt.id, tt.taxonomy_id "
            "FROM service_term st JOIN taxonomy_term tt ON tt.id = st.taxonomy_term_id")):
        terms.setdefault(service_id, []).append((name, term_id, taxonomy_id))
    session = Session(bind=bind)
    for key, service_id, name, description, how_to, status in bind.execute(sa.text(
            "SELECT d.key, s.id, s.name, s.description, s.application_process, s.status "
            "FROM search_document d JOIN service s ON s.id = d.service_id")).all():
        mine = terms.get(service_id, [])
        index.replace(session, key, search.document(
            name=name, description=description, how_to=how_to, labels=[t[0] for t in mine],
            listed=status in LISTED, term_ids=[t[1] for t in mine], taxonomy_ids=[t[2] for t in mine]))


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
