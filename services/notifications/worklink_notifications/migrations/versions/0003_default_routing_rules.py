"""Default routing rules (a frozen copy: later rule changes are data, made by alliance_admin).

Revision ID: notifications_0003
Revises: notifications_0002
"""
import uuid
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "notifications_0003"
down_revision = "notifications_0002"
branch_labels = None
depends_on = None

RULES = [
    ('directory.service.published', 'service_owner', 'inbox', 'listing_published'),
    ('directory.service.updated', 'service_owner', 'inbox', 'listing_updated'),
    ('directory.service.withdrawn', 'service_owner', 'inbox,email', 'listing_withdrawn'),
    ('directory.service.review_due', 'service_owner', 'inbox,email,webhook', 'listing_review_due'),
    ('referrals.capacity.changed', 'service_owner', 'inbox', 'capacity_changed'),
    ('referrals.referral.submitted', 'assigned_org', 'inbox,email,webhook', 'referral_submitted'),
    ('referrals.referral.received', 'referrer_org', 'inbox', 'referral_received'),
    ('referrals.referral.accepted', 'referrer_org', 'inbox,email,webhook', 'referral_accepted'),
    ('referrals.referral.rejected', 'referrer_org', 'inbox,email,webhook', 'referral_rejected'),
    ('referrals.referral.allocated', 'assigned_org', 'inbox,email,webhook', 'referral_allocated'),
    ('referrals.referral.first_contact_made', 'referrer_org', 'inbox', 'referral_first_contact'),
    ('referrals.referral.put_on_hold', 'referrer_org', 'inbox', 'referral_on_hold'),
    ('referrals.referral.resumed', 'referrer_org', 'inbox', 'referral_resumed'),
    ('referrals.referral.cancelled', 'assigned_org', 'inbox,email,webhook', 'referral_cancelled'),
    ('referrals.referral.failed', 'referrer_org', 'inbox,email', 'referral_failed'),
    ('referrals.referral.completed', 'referrer_org', 'inbox,email,webhook', 'referral_completed'),
    ('referrals.referral.entered_in_error', 'assigned_org', 'inbox', 'referral_entered_in_error'),
    ('referrals.referral.held', 'alliance', 'inbox,email', 'referral_held'),
    ('referrals.referral.routed', 'assigned_org', 'inbox,email,webhook', 'referral_routed'),
    ('referrals.referral.outcome_recorded', 'referrer_org', 'inbox', 'referral_outcome'),
    ('referrals.referral.feedback_ready', 'referrer_org', 'inbox,email,webhook', 'referral_feedback'),
    ('referrals.referral.sla_breached', 'assigned_org_lead', 'inbox,email,webhook', 'referral_sla_breached'),
    ('referrals.referral.sla_breached', 'alliance', 'inbox,email', 'referral_sla_breached'),
    ('adjustments.employer_response.recorded', 'clinician', 'inbox,email', 'employer_response'),
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
    op.execute(rule.delete().where(rule.c.updated_by == "migration"))
