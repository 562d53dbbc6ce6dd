"""organisations stored with a blank name or description (before the write API refused them) get the ones the
importer gives a feed's unnamed organisation, so every listing under them is valid ORUK 3.0 again and can be
changed (there is no organisation PATCH to mend them by hand)

Revision ID: directory_0011
Revises: directory_0010
Create Date: 2026-11-26 07:21:00
"""
import sqlalchemy as sa
from alembic import op

revision = "directory_0011"
down_revision = "directory_0010"
branch_labels = None
depends_on = None

PLACEHOLDER = "Unnamed organisation"
_ORGANIZATIONS = sa.table("organization", sa.column("id", sa.Uuid), sa.column("name", sa.String),
                          sa.column("description", sa.Text))


def upgrade() -> None:
    if op.get_context().as_sql:  # offline SQL script: there are no rows to read
        return
    # Blank as the write API judges it (Python's strip: tabs and new lines too), not SQL's trim (spaces only).
    bind = op.get_bind()
    for row in bind.execute(sa.select(_ORGANIZATIONS)).all():
        name = row.name if row.name.strip() else PLACEHOLDER
        description = row.description if row.description.strip() else name
        if (name, description) != (row.name, row.description):
            bind.execute(_ORGANIZATIONS.update().where(_ORGANIZATIONS.c.id == row.id)
                         .values(name=name, description=description))


def downgrade() -> None:
    pass  # the blank values are not worth restoring
