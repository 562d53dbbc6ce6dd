"""organisation names blank by strip: 0011 judged a name or description blank by SQL's trim(), which strips
spaces only, so one of a tab or a new line (pasted before the write API refused blank text) kept it; the write
API strips any white space (Python's str.strip). Such organisations get the importer's placeholders now,
whichever 0011 ran. No schema change.

Revision ID: directory_0015
Revises: directory_0014
Create Date: 2026-11-27 03:45:00
"""
import sqlalchemy as sa
from alembic import op

revision = "directory_0015"
down_revision = "directory_0014"
branch_labels = None
depends_on = None

PLACEHOLDER = "Unnamed organisation"  # the importer's, as 0011
_ORGANIZATIONS = sa.table("organization", sa.column("id", sa.Uuid), sa.column("name", sa.String),
                          sa.column("description", sa.Text))


def upgrade() -> None:
    if op.get_context().as_sql:  # offline SQL script: there are no rows to read
        return
    bind = op.get_bind()
    for row in bind.execute(sa.select(_ORGANIZATIONS)).all():
        name = row.name if row.name.strip() else PLACEHOLDER
        description = row.description if row.description.strip() else name
        if (name, description) != (row.name, row.description):
            bind.execute(_ORGANIZATIONS.update().where(_ORGANIZATIONS.c.id == row.id)
                         .values(name=name, description=description))


def downgrade() -> None:
    pass  # the blank values are not worth restoring
