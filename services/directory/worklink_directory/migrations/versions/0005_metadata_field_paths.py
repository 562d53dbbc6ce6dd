"""metadata trail: field names are paths into a listing (contacts/<id>/phones/<id>/number)

Revision ID: directory_0005
Revises: directory_0004
Create Date: 2026-11-25 20:05:00
"""
import sqlalchemy as sa
from alembic import op

revision = "directory_0005"
down_revision = "directory_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("metadata") as batch:  # SQLite rebuilds the table; PostgreSQL alters it
        batch.alter_column("field_name", existing_type=sa.String(64), type_=sa.String(255), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("metadata") as batch:
        batch.alter_column("field_name", existing_type=sa.String(255), type_=sa.String(64), existing_nullable=False)
