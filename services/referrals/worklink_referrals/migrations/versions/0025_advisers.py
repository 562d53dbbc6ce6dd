"""advisers: each adviser organisation's advisers, as their own tokens named them when they acted or read here
(organisation id, login id, role, display name, last seen): accept and assign name an adviser from it, and pages
show the assigned adviser by name. Filled at first with the advisers the records already show - each note's adviser
(its organisation, login id and display name) and each adviser who acted on a referral they hold - so a team lead can
assign to them straight after the upgrade; others are recorded as they next use the service.

Revision ID: referrals_0025
Revises: referrals_0024
Create Date: 2026-11-29 12:45:00
"""
from alembic import op
import sqlalchemy as sa

revision = "referrals_0025"
down_revision = "referrals_0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('advisers',
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('org_id', 'subject', name=op.f('pk_advisers'))
    )
    _add_the_advisers_already_seen(op.get_bind())


def _add_the_advisers_already_seen(bind) -> None:
    """One row per (organisation, login id) seen acting as an adviser, named as they were last seen, at the time."""
    seen = bind.execute(sa.text(
        "SELECT by_org, by, by_name, written_at FROM notes WHERE by_role = 'adviser' AND by_org IS NOT NULL "
        "UNION ALL "
        "SELECT r.assigned_org_id, t.actor, r.assigned_adviser_name, t.occurred_at FROM transitions t "
        "JOIN referrals r ON r.id = t.referral_id "
        "WHERE t.actor_role = 'adviser' AND t.actor = r.assigned_adviser AND r.assigned_org_id IS NOT NULL")
        .columns(by_org=sa.String, by=sa.String, by_name=sa.String, written_at=sa.DateTime(timezone=True)))
    advisers: dict[tuple[str, str], dict] = {}
    for org_id, subject, name, at in seen:
        known = advisers.setdefault((org_id, subject), {"org_id": org_id, "subject": subject, "role": "adviser",
                                                        "name": None, "last_seen_at": at})
        if at >= known["last_seen_at"]:
            known["last_seen_at"] = at
            known["name"] = name or known["name"]
        elif known["name"] is None:
            known["name"] = name
    if advisers:
        table = sa.table("advisers", *(sa.column(c) for c in ("org_id", "subject", "role", "name")),
                         sa.column("last_seen_at", sa.DateTime(timezone=True)))
        bind.execute(table.insert(), list(advisers.values()))


def downgrade() -> None:
    op.drop_table('advisers')
