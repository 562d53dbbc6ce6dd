"""Routing rules for adjustments.referral_request.unanswered: a referral request the referrals service never
answered tells the clinician who referred (their inbox and email) and the alliance, who re-drive it.

Revision ID: notifications_0020
Revises: notifications_0019
"""
import uuid
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "notifications_0020"
down_revision = "notifications_0019"
branch_labels = None
depends_on = None

UNANSWERED = "adjustments.referral_request.unanswered"
RULES = [
    (UNANSWERED, "clinician", "inbox,email", "suggestion_referral_not_received"),
    (UNANSWERED, "alliance", "inbox,email", "referral_request_unanswered"),
]

rule = sa.table("routing_rule", sa.column("id", sa.Uuid), sa.column("event_type", sa.String),
                sa.column("audience", sa.String), sa.column("channels", sa.String),
                sa.column("message_code", sa.String), sa.column("enabled", sa.Boolean),
                sa.column("updated_by", sa.String), sa.column("updated_at", sa.DateTime(timezone=True)))


def upgrade() -> None:
    now = datetime.now(timezone.utc)
    op.bulk_insert(rule, [dict(id=uuid.uuid4(), event_type=t, audience=a, channels=c, message_code=m,
                               enabled=True, updated_by="migration", updated_at=now)
                          for t, a, c, m in RULES])


def downgrade() -> None:
    # The type is routed from this revision on: every rule for it goes, an admin's edit of them too, so an upgrade
    # again does not install a second pair beside an edited one.
    op.execute(rule.delete().where(rule.c.event_type == UNANSWERED))
