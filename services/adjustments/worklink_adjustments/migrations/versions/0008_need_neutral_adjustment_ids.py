"""Adjustment ids name no health need either: rename six more starter adjustments

The id scan now also reads a maintained vocabulary of clinical words (data/need_revealing_id_words.json),
and six live ids hinted at a need through them (`hypo_plan`, `glucose_monitor_phone`,
`mental_health_support_service`, `phased_return_after_surgery`, `home_working_flare`,
`window_seat_breathing`). As in 0007, a new guidance version retires each and adds it again under an id
that says what the employer provides or does, with the same content and review state, its rules and
phrase templates re-pointed (data/need_neutral_adjustment_ids.json, through knowledge.rename_adjustments).
Suggestions and employer answers keep the ids they recorded.

Revision ID: adjustments_0008
Revises: adjustments_0007
"""
from alembic import op
from sqlalchemy.orm import Session

revision = "adjustments_0008"
down_revision = "adjustments_0007"
branch_labels = None
depends_on = None

CHANGE = "need_neutral_adjustment_ids.json"


def _change() -> dict:
    from worklink_adjustments.knowledge import data_file
    return data_file(CHANGE)


def upgrade() -> None:
    from worklink_adjustments.knowledge import rename_adjustments

    session = Session(bind=op.get_bind())
    rename_adjustments(session, _change(), published_by="starter-library")
    session.flush()


def downgrade() -> None:
    from worklink_adjustments.knowledge import undo_renames

    undo_renames(op.get_bind(), _change())
