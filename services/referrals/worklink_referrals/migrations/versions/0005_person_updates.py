"""person updates: the person agreed to general status emails (self-referrers, and GP patients who said so)

Revision ID: referrals_0005
Revises: referrals_0004
Create Date: 2026-11-25 17:36:00
"""
from alembic import op
import sqlalchemy as sa

revision = "referrals_0005"
down_revision = "referrals_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('person_updates', sa.Boolean(), nullable=False, server_default=sa.false()))
    # Self-referrers with an email were told how it goes before this column existed.
    referrals = sa.table("referrals", sa.column("person_updates", sa.Boolean()), sa.column("source", sa.String()),
                         sa.column("email", sa.String()))
    op.execute(referrals.update().where(referrals.c.source == "self", referrals.c.email.is_not(None))
               .values(person_updates=True))
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.alter_column('person_updates', server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_column('person_updates')
