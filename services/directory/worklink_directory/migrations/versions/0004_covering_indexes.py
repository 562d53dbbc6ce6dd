"""covering indexes for proximity and filtered search

Revision ID: directory_0004
Revises: directory_0003
Create Date: 2026-11-25 17:35:00
"""
from alembic import op

revision = "directory_0004"
down_revision = "directory_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_location_lat_lon", table_name="location")
    op.create_index("ix_location_nearby", "location", ["latitude", "longitude", "confidential", "id"])
    op.drop_index("ix_service_at_location_location_id", table_name="service_at_location")
    op.create_index("ix_service_at_location_located", "service_at_location", ["location_id", "service_id", "id"])
    op.create_index("ix_service_id_status", "service", ["id", "status"])


def downgrade() -> None:
    op.drop_index("ix_service_id_status", table_name="service")
    op.drop_index("ix_service_at_location_located", table_name="service_at_location")
    op.create_index("ix_service_at_location_location_id", "service_at_location", ["location_id"])
    op.drop_index("ix_location_nearby", table_name="location")
    op.create_index("ix_location_lat_lon", "location", ["latitude", "longitude"])
