"""mailbox key: each referral keeps an HMAC under REFERRALS_PERSON_KEY of the mailbox its email address delivers to
(services.mailbox_key), indexed, so a request for a new status link finds its referrals by that alone instead of
reading the address of everyone at the same domain

Existing rows with an address (not erased) are keyed with the key of the environment this migration runs in (the
service's own), as 0008 re-keyed match keys. Production without REFERRALS_PERSON_KEY stops here: a row left
without its key would never get a new link.

Revision ID: referrals_0022
Revises: referrals_0021
Create Date: 2026-11-27 23:20:00
"""
import os

from alembic import op
import sqlalchemy as sa

from worklink_referrals.config import person_key
from worklink_referrals.services import mailbox_key

revision = "referrals_0022"
down_revision = "referrals_0021"
branch_labels = None
depends_on = None

_REFERRALS = sa.table("referrals", sa.column("id", sa.Uuid), sa.column("email", sa.String),
                      sa.column("erased_at", sa.DateTime(timezone=True)), sa.column("mailbox_key", sa.String))


def upgrade() -> None:
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mailbox_key', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_referrals_mailbox_key', ['mailbox_key'])
    if op.get_context().as_sql:  # offline SQL script: there are no rows to read
        return
    key = person_key(os.environ)
    bind = op.get_bind()
    rows = bind.execute(sa.select(_REFERRALS.c.id, _REFERRALS.c.email).where(
        _REFERRALS.c.email.is_not(None), _REFERRALS.c.erased_at.is_(None))).all()
    if rows:
        bind.execute(sa.update(_REFERRALS).where(_REFERRALS.c.id == sa.bindparam("rid"))
                     .values(mailbox_key=sa.bindparam("key")),
                     [{"rid": row.id, "key": mailbox_key(row.email, key)} for row in rows])


def downgrade() -> None:
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index('ix_referrals_mailbox_key')
        batch_op.drop_column('mailbox_key')
