"""service.listed_at: when a listing was first listed, so an unassured one's review period runs from then

Revision ID: directory_0008
Revises: directory_0007
Create Date: 2026-11-26 03:45:00
"""
import sqlalchemy as sa
from alembic import op

revision = "directory_0008"
down_revision = "directory_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("service", schema=None) as batch_op:
        batch_op.add_column(sa.Column("listed_at", sa.DateTime(timezone=True), nullable=True))
    # Existing listings: when their trail says they were created, else their last change.
    op.execute("UPDATE service SET listed_at = COALESCE((SELECT MIN(m.last_action_date) FROM metadata m "
               "WHERE m.resource_id = service.id AND m.last_action_type = 'create'), last_modified)")


def downgrade() -> None:
    # Not a batch "recreate": on SQLite that drops the service table, and with foreign keys on the drop
    # cascades to every listing's locations, schedules and contacts. Both databases drop a column in place.
    op.execute("ALTER TABLE service DROP COLUMN listed_at")
