"""The employer's response reaches the clinician who advised, as well as the practice.

adjustments.employer_response.recorded now carries clinician_id (an optional v1 field).

Revision ID: notifications_0006
Revises: notifications_0005
"""
import uuid
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "notifications_0006"
down_revision = "notifications_0005"
branch_labels = None
depends_on = None

EMPLOYER = "adjustments.employer_response.recorded"
rule = sa.table("routing_rule", sa.column("id", sa.Uuid), sa.column("event_type", sa.String),
                sa.column("audience", sa.String), sa.column("channels", sa.String),
                sa.column("message_code", sa.String), sa.column("enabled", sa.Boolean),
                sa.column("updated_by", sa.String), sa.column("updated_at", sa.DateTime(timezone=True)))


def upgrade() -> None:
    op.bulk_insert(rule, [dict(id=uuid.uuid4(), event_type=EMPLOYER, audience="clinician", channels="inbox,email",
                               message_code="employer_response", enabled=True, updated_by="migration",
                               updated_at=datetime.now(timezone.utc))])


def downgrade() -> None:
    op.execute(rule.delete().where(rule.c.event_type == EMPLOYER, rule.c.audience == "clinician",
                                   rule.c.updated_by == "migration"))
