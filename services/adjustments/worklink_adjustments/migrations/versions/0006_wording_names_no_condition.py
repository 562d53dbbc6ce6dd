"""Library wording names no condition: reword the adjustments whose employer wording did

A new guidance version (2 on a fresh database) rewords nine starter adjustments, e.g. 'Somewhere
dark to rest during a migraine' -> 'Somewhere dark and quiet to rest': a letter prints this wording
for patients who keep their diagnosis from their employer. Suggestions keep the version and the
wording snapshot they were written with. The change is data/wording_names_no_condition.json.

Revision ID: adjustments_0006
Revises: adjustments_0005
"""
from alembic import op
from sqlalchemy.orm import Session

revision = "adjustments_0006"
down_revision = "adjustments_0005"
branch_labels = None
depends_on = None

CHANGE = "wording_names_no_condition.json"


def _change() -> dict:
    from worklink_adjustments.knowledge import data_file
    return data_file(CHANGE)


def upgrade() -> None:
    from worklink_adjustments.knowledge import update_wording

    session = Session(bind=op.get_bind())
    update_wording(session, _change(), published_by="starter-library")
    session.flush()


def downgrade() -> None:
    """Put the earlier wording back where this change is still in place, and drop its version."""
    from worklink_adjustments.knowledge import undo_wording

    undo_wording(op.get_bind(), _change())
