"""service intake: whether each adviser service was taking new referrals when its capacity was last heard

The owner of an adviser service heard "Capacity changed" for every capacity summary the referrals service sent: its
counts move with every referral taken on or closed, and on a first start every service sent one, so an adviser
organisation's inbox opened on dozens of notices that said nothing (49 in the demo, above its referrals). Routing now
tells the owner only when a service stops or starts taking new referrals, against the state kept here; the first
summary heard of a service is its starting point. Notices already in inboxes stay as they are.

Revision ID: notifications_0024
Revises: notifications_0023
"""
import sqlalchemy as sa
from alembic import op

revision = "notifications_0024"
down_revision = "notifications_0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_intake",
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("accepting_referrals", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("service_id", name=op.f("pk_service_intake")),
    )


def downgrade() -> None:
    op.drop_table("service_intake")
