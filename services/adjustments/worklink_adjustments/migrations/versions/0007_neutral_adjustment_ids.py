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
import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision = "adjustments_0007"
down_revision = "adjustments_0006"
branch_labels = None
depends_on = None


def _change() -> dict:
    from importlib import resources
    return json.loads(resources.files("worklink_adjustments").joinpath(
        "data", "neutral_adjustment_ids.json").read_text("utf-8"))


def upgrade() -> None:
    from worklink_adjustments.knowledge import rename_adjustments

    session = Session(bind=op.get_bind())
    rename_adjustments(session, _change(), published_by="starter-library")
    session.flush()


def downgrade() -> None:
    """Bring each old adjustment back with its replacement's review state, re-point the rules and
    phrases to it and drop the replacement and the version. Suggestions written since keep the
    new ids they recorded."""
    change = _change()
    adjustments = sa.table("adjustments", sa.column("id"), sa.column("review_status"), sa.column("reviewed_by"),
                           sa.column("reviewed_at"), sa.column("revision"))
    rules = sa.table("guidance_rules", sa.column("adjustment_id"))
    phrases = sa.table("phrase_templates", sa.column("adjustment_id"))
    bind = op.get_bind()
    for item in change["adjustments"]:
        new = bind.execute(sa.select(adjustments.c.review_status, adjustments.c.reviewed_by,
                                     adjustments.c.reviewed_at).where(adjustments.c.id == item["to"])).first()
        if new is None:
            continue
        op.execute(sa.update(adjustments).where(adjustments.c.id == item["from"]).values(
            review_status=new.review_status, reviewed_by=new.reviewed_by, reviewed_at=new.reviewed_at,
            revision=adjustments.c.revision + 1))
        for table in (rules, phrases):
            op.execute(sa.update(table).where(table.c.adjustment_id == item["to"]).values(adjustment_id=item["from"]))
        op.execute(sa.delete(adjustments).where(adjustments.c.id == item["to"]))
    versions = sa.table("guidance_versions", sa.column("change"))
    op.execute(sa.delete(versions).where(versions.c.change == change["title"][:255]))
