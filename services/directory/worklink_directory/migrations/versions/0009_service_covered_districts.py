"""service.covered_districts: a copy of the service areas' postcode districts on the service row, for the
postcode coverage filter

Revision ID: directory_0009
Revises: directory_0008
Create Date: 2026-11-26 04:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = "directory_0009"
down_revision = "directory_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("service", schema=None) as batch_op:
        batch_op.add_column(sa.Column("covered_districts", sa.String(length=2000), server_default="",
                                      nullable=False))
    bind = op.get_bind()
    districts: dict = {}
    for service_id, codes in bind.execute(sa.text("SELECT service_id, postcode_districts FROM service_area")):
        districts.setdefault(service_id, set()).update((codes or "").split())
    service = sa.table("service", sa.column("id"), sa.column("covered_districts"))
    for service_id, codes in districts.items():
        if codes:
            bind.execute(service.update().where(service.c.id == service_id)
                         .values(covered_districts=f" {' '.join(sorted(codes))} "))


def downgrade() -> None:
    # Not a batch "recreate": on SQLite that drops the service table, and with foreign keys on the drop
    # cascades to every listing's locations, schedules and contacts. Both databases drop a column in place.
    op.execute("ALTER TABLE service DROP COLUMN covered_districts")
