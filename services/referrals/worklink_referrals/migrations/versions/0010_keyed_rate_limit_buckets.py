"""keyed rate limit buckets: rate_limit_hits.bucket becomes an HMAC under REFERRALS_PERSON_KEY of the
e-mail address, phone number or client IP it counts, instead of a plain SHA-256 (reversible by hashing
every candidate phone number)

The plain hashes held cannot be re-keyed (the values are gone, as they should be) and would never
match a keyed bucket: they are deleted. They count for an hour at most, so limits start afresh at
the upgrade. No schema change.

Revision ID: referrals_0010
Revises: referrals_0009
Create Date: 2026-11-26 10:10:00
"""
from alembic import op


revision = "referrals_0010"
down_revision = "referrals_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM rate_limit_hits")


def downgrade() -> None:
    op.execute("DELETE FROM rate_limit_hits")  # keyed buckets mean nothing to the code before this revision
