"""Library wording reveals no health need either: reword what the clinical vocabulary catches

The wording scan (titles, employer wording, phrase templates: what the employer's letter prints) now
reads the same terms as the id scan (knowledge.need_terms: the library's conditions and the clinical
vocabulary of data/need_revealing_id_words.json), and caught wording that said the need: 'Plan for low
blood sugar', 'Access to Work Mental Health Support Service', 'Phased return after surgery', 'during
flare-ups', 'glucose monitor', 'physiotherapy stretches', 'an injection', 'lose awareness or collapse',
'check levels'. As 0006 did, a new guidance version rewords them (data/wording_reveals_no_need.json,
through knowledge.update_wording): each item changes only while it still reads as 'from', and
suggestions keep the version and wording they were written with.

Revision ID: adjustments_0009
Revises: adjustments_0008
"""
from alembic import op
from sqlalchemy.orm import Session

revision = "adjustments_0009"
down_revision = "adjustments_0008"
branch_labels = None
depends_on = None

CHANGE = "wording_reveals_no_need.json"


def _change() -> dict:
    from worklink_adjustments.knowledge import data_file
    return data_file(CHANGE)


def upgrade() -> None:
    from worklink_adjustments.knowledge import update_wording

    session = Session(bind=op.get_bind())
    update_wording(session, _change(), published_by="starter-library")
    session.flush()


def downgrade() -> None:
    from worklink_adjustments.knowledge import undo_wording

    undo_wording(op.get_bind(), _change())
