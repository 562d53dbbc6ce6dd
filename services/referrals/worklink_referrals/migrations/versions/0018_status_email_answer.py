"""status email answer: when and how the person's answer about status emails was given, and the consent id the
emails go under (a new one each time they agree again, so stopping them - notifications never sends under a
revoked id - does not stop those they agree to later). Rows written before it keep what they do: a referrer's
answer was given with the referral's consent (its time, its id); a self-referrer was never asked - their emails
followed their verified address - so theirs reads `not_asked`, still on, and they can stop them on their page

Revision ID: referrals_0018
Revises: referrals_0017
Create Date: 2026-11-27 09:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "referrals_0018"
down_revision = "referrals_0017"
branch_labels = None
depends_on = None

REFERRALS = sa.table("referrals", sa.column("source", sa.String()), sa.column("person_updates", sa.Boolean()),
                     sa.column("consent_id", sa.Uuid()), sa.column("consent_captured_at", sa.DateTime(timezone=True)),
                     sa.column("updates_consent_id", sa.Uuid()),
                     sa.column("person_updates_at", sa.DateTime(timezone=True)),
                     sa.column("person_updates_how", sa.String()))


def upgrade() -> None:
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('updates_consent_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('person_updates_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('person_updates_how', sa.String(length=32), nullable=True))
    # What was recorded: the answer came with the referral's consent, at its time; a self-referrer's was not asked.
    op.execute(REFERRALS.update().values(
        person_updates_at=REFERRALS.c.consent_captured_at,
        person_updates_how=sa.case((REFERRALS.c.source == "self", "not_asked"), else_="with_consent"),
        updates_consent_id=sa.case((REFERRALS.c.person_updates, REFERRALS.c.consent_id), else_=None)))


def downgrade() -> None:
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_column('person_updates_how')
        batch_op.drop_column('person_updates_at')
        batch_op.drop_column('updates_consent_id')
