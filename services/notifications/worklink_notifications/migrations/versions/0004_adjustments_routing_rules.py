"""Routing rules for the adjustments events (they name the practice, not the clinician).

Revision ID: notifications_0004
Revises: notifications_0003
"""
import uuid
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "notifications_0004"
down_revision = "notifications_0003"
branch_labels = None
depends_on = None

RULES = [
    ("adjustments.suggestion.issued", "practice", "inbox", "suggestion_issued"),
    ("adjustments.suggestion.amended", "practice", "inbox", "suggestion_amended"),
    ("adjustments.suggestion.withdrawn", "practice", "inbox", "suggestion_withdrawn"),
    ("adjustments.suggestion.expired", "practice", "inbox", "suggestion_expired"),
    ("adjustments.suggestion.review_due", "practice", "inbox,email", "suggestion_review_due"),
]

rule = sa.table("routing_rule", sa.column("id", sa.Uuid), sa.column("event_type", sa.String),
                sa.column("audience", sa.String), sa.column("channels", sa.String),
                sa.column("message_code", sa.String), sa.column("enabled", sa.Boolean),
                sa.column("updated_by", sa.String), sa.column("updated_at", sa.DateTime(timezone=True)))
EMPLOYER = "adjustments.employer_response.recorded"


def upgrade() -> None:
    now = datetime.now(timezone.utc)
    op.execute(rule.update().where(rule.c.event_type == EMPLOYER, rule.c.audience == "clinician")
               .values(audience="practice", channels="inbox,email,webhook", updated_at=now))
    op.bulk_insert(rule, [dict(id=uuid.uuid4(), event_type=t, audience=a, channels=c, message_code=m,
                               enabled=True, updated_by="migration", updated_at=now)
                          for t, a, c, m in RULES])


def downgrade() -> None:
    op.execute(rule.delete().where(rule.c.event_type.in_([t for t, *_ in RULES]),
                                   rule.c.updated_by == "migration"))
    op.execute(rule.update().where(rule.c.event_type == EMPLOYER, rule.c.audience == "practice")
               .values(audience="clinician", channels="inbox,email"))
