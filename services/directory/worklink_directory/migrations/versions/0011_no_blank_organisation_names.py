"""organisations stored with a blank name or description (before the write API refused them) get the ones the
importer gives a feed's unnamed organisation, so every listing under them is valid ORUK 3.0 again and can be
changed (there is no organisation PATCH to mend them by hand)

Revision ID: directory_0011
Revises: directory_0010
Create Date: 2026-11-26 07:21:00
"""
from alembic import op

revision = "directory_0011"
down_revision = "directory_0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE organization SET name = 'Unnamed organisation' WHERE trim(name) = ''")
    op.execute("UPDATE organization SET description = name WHERE trim(description) = ''")


def downgrade() -> None:
    pass  # the blank values are not worth restoring
