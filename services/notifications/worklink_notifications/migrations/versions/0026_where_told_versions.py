"""a version on each organisation contact and webhook subscriber (optimistic locking)

Two administrators changing one contact or webhook at once: the later save silently undid the earlier one. Each row
now has a version that every change moves; a change made from an older version is refused (the API's 409, the
page's form again). Existing rows start at 1.

Revision ID: notifications_0026
Revises: notifications_0025
"""
import sqlalchemy as sa
from alembic import op

revision = "notifications_0026"
down_revision = "notifications_0025"
branch_labels = None
depends_on = None

TABLES = ("organisation_contact", "webhook_subscriber")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("version")
