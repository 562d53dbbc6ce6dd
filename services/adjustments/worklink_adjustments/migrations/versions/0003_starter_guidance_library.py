"""Load the starter guidance library (guidance version 1) into an empty knowledge base.

Revision ID: adjustments_0003
Revises: adjustments_0002
"""
from alembic import op
from sqlalchemy.orm import Session

revision = "adjustments_0003"
down_revision = "adjustments_0002"
branch_labels = None
depends_on = None

TABLES = ("phrase_templates", "guidance_rules", "adjustments", "conditions", "work_functions",
          "functional_limitations", "guidance_sources", "guidance_versions")


def upgrade() -> None:
    from worklink_adjustments.knowledge import load_library, starter_library

    session = Session(bind=op.get_bind())
    load_library(session, starter_library())
    session.flush()


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DELETE FROM {table}")
