"""Adjustment ids name the adjustment, never a condition: rename six starter adjustments

Broadcast events (`adjustments.suggestion.issued` / `.amended`, `adjustments.employer_response.recorded`)
carry library adjustment ids, and six of them named a condition or treatment (`dark_room_migraine`,
`seizure_plan`...). A new guidance version retires each and adds it again under a neutral id with the
same content and review state, its rules and phrase templates re-pointed
(data/neutral_adjustment_ids.json, through knowledge.rename_adjustments). Suggestions and employer
answers keep the ids they recorded.

Revision ID: adjustments_0007
Revises: adjustments_0006
"""
from alembic import op
from sqlalchemy.orm import Session

revision = "adjustments_0007"
down_revision = "adjustments_0006"
branch_labels = None
depends_on = None


def _change() -> dict:
    from worklink_adjustments.knowledge import data_file
    return data_file("neutral_adjustment_ids.json")


def upgrade() -> None:
    from worklink_adjustments.knowledge import rename_adjustments

    session = Session(bind=op.get_bind())
    rename_adjustments(session, _change(), published_by="starter-library")
    session.flush()


def downgrade() -> None:
    """Bring each old adjustment back with its replacement's review state, re-point the rules and
    phrases to it and drop the replacement and the version. Suggestions written since keep the
    new ids they recorded."""
    from worklink_adjustments.knowledge import undo_renames

    undo_renames(op.get_bind(), _change())
