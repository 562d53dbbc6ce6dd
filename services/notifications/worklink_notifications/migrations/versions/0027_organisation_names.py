"""organisation names: each organisation's name as its own staff's tokens carried it (`org_name`), so the alliance's
page of where organisations are told names them; it listed bare ids. Filled as staff next sign in here.

Revision ID: notifications_0027
Revises: notifications_0026
"""
import sqlalchemy as sa
from alembic import op

revision = "notifications_0027"
down_revision = "notifications_0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organisation_names",
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_organisation_names")),
    )


def downgrade() -> None:
    op.drop_table("organisation_names")
