"""phrase template and limitation revision: the optimistic lock a guidance rule has (0018), for the edits alliance
admins can now make to ready wording and to functional limitations (PATCH /guidance/phrases/<id> and
/guidance/limitations/<id>, with the revision read: a 409 when another admin changed it since). Both were create-only,
so a mistake in wording printed on fit notes could only be fixed by hand in the database. Every row starts at
revision 1.

Revision ID: adjustments_0019
Revises: adjustments_0018
Create Date: 2026-11-29 12:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = "adjustments_0019"
down_revision = "adjustments_0018"
branch_labels = None
depends_on = None

TABLES = ("phrase_templates", "functional_limitations")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("revision")
