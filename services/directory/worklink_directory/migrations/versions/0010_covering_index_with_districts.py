"""ix_service_id_status also covers covered_districts: the postcode coverage check reads no service row

Revision ID: directory_0010
Revises: directory_0009
Create Date: 2026-11-26 04:35:00
"""
from alembic import op

revision = "directory_0010"
down_revision = "directory_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_service_id_status", table_name="service")
    op.create_index("ix_service_id_status", "service", ["id", "status", "covered_districts"])
    op.execute("ANALYZE service")  # the planner's statistics for the new index


def downgrade() -> None:
    op.drop_index("ix_service_id_status", table_name="service")
    op.create_index("ix_service_id_status", "service", ["id", "status"])
