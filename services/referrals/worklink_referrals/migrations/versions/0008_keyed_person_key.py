"""keyed person key: each referral's match key (and so the person id notifications keeps) becomes an HMAC
under REFERRALS_PERSON_KEY instead of a plain hash of name, birth date and postcode

Existing rows are re-keyed from the details they hold, with the key of the environment this migration
runs in (the service's own). Production without REFERRALS_PERSON_KEY stops here: a half re-keyed table
would miss duplicates between old and new referrals. No schema change.

Revision ID: referrals_0008
Revises: referrals_0007
Create Date: 2026-11-26 07:10:00
"""
import hashlib
import os

from alembic import op
import sqlalchemy as sa

from worklink_referrals.config import person_key
from worklink_referrals.services import match_key

revision = "referrals_0008"
down_revision = "referrals_0007"
branch_labels = None
depends_on = None

_REFERRALS = sa.table("referrals", sa.column("id", sa.Uuid), sa.column("given_name", sa.String),
                      sa.column("family_name", sa.String), sa.column("birth_date", sa.Date),
                      sa.column("postcode", sa.String), sa.column("match_key", sa.String))


def upgrade() -> None:
    if op.get_context().as_sql:  # offline SQL script: there are no rows to read
        return
    key = person_key(os.environ)
    _rewrite(lambda row: match_key(row.given_name, row.family_name, row.birth_date, row.postcode, key))


def downgrade() -> None:
    if op.get_context().as_sql:
        return
    _rewrite(_plain_match_key)  # what the code before this revision computes


def _rewrite(make_key) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(_REFERRALS.c.id, _REFERRALS.c.given_name, _REFERRALS.c.family_name,
                                  _REFERRALS.c.birth_date, _REFERRALS.c.postcode)).all()
    for row in rows:
        bind.execute(sa.update(_REFERRALS).where(_REFERRALS.c.id == row.id).values(match_key=make_key(row)))


def _plain_match_key(row) -> str:
    postcode = "".join((row.postcode or "").split()).upper()
    parts = [row.given_name.strip().lower(), row.family_name.strip().lower(), str(row.birth_date), postcode]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()
