"""retention: redacted_at on delivery and digest; a digest's address may be removed

Revision ID: notifications_0014
Revises: notifications_0013
Create Date: 2026-11-26 12:17:37
"""
from alembic import op
import sqlalchemy as sa


revision = "notifications_0014"
down_revision = "notifications_0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("redacted_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("digest", schema=None) as batch_op:
        batch_op.add_column(sa.Column("redacted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column("address", existing_type=sa.VARCHAR(length=254), nullable=True)


def downgrade() -> None:
    # A removed address stays removed: an empty string satisfies the old NOT NULL.
    op.execute("UPDATE digest SET address = '' WHERE address IS NULL")
    with op.batch_alter_table("digest", schema=None) as batch_op:
        batch_op.alter_column("address", existing_type=sa.VARCHAR(length=254), nullable=False)
        batch_op.drop_column("redacted_at")

    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_column("redacted_at")
