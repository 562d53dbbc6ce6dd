"""The self-referral rate limit stores what it counts (an e-mail address, a phone number, a client IP) as
a keyed hash: a plain SHA-256 of a phone number is reversed by hashing every candidate."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

from worklink_referrals.config import ReferralSettings
from worklink_referrals.models import RateLimitHit
from worklink_referrals.services import rate_limit_bucket
from tests.services.referrals.test_api import self_referral

KEY = "a-person-key-of-the-test-only-0123456789"


def stored_buckets(h) -> set[str]:
    with h.ctx.database.engine.connect() as conn:
        return set(conn.execute(sa.select(RateLimitHit.bucket)).scalars())


def plain(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_stored_buckets_are_keyed_and_the_limits_still_apply(make_harness, database_url):
    h = make_harness(database_url, referral_settings=ReferralSettings(
        expose_codes=True, self_referral_limit_contact=2, self_referral_limit_ip=3, person_key=KEY))
    for _ in range(2):
        assert h.client.post("/self-referrals", json=self_referral("sam@example.org")).status_code == 202
    assert h.client.post("/self-referrals", json=self_referral("SAM+x@example.org")).status_code == 429
    phone_only = self_referral(None, phone="07700 900123")
    del phone_only["person"]["email"]
    assert h.client.post("/self-referrals", json=phone_only).status_code == 202
    assert h.client.post("/self-referrals", json=self_referral("kim@example.org")).status_code == 429  # IP: 3

    counted = ("contact:sam@example.org", "contact:07700900123", "ip:127.0.0.1")
    buckets = stored_buckets(h)
    assert buckets == {rate_limit_bucket(value, KEY) for value in counted}
    assert not buckets & {plain(value) for value in counted}  # no unkeyed hash to enumerate
    assert not buckets & {rate_limit_bucket(value, KEY + "-other") for value in counted}  # the key matters


def test_the_migration_drops_the_plain_hashes_stored_before_it(make_harness, database_url):
    from alembic import command

    from worklink.migrations import alembic_config, upgrade
    from worklink.service import get_service

    h = make_harness(database_url)
    migrations = get_service("referrals").migrations_dir
    command.downgrade(alembic_config(migrations, database_url), "referrals_0009")
    with h.ctx.database.engine.begin() as conn:
        conn.execute(RateLimitHit.__table__.insert(), [{"bucket": plain("contact:07700900123"),
                                                        "hit_at": h.clock.now}])
    upgrade(migrations, database_url)
    assert stored_buckets(h) == set()


def test_a_person_key_rotation_does_not_start_the_windows_afresh(make_harness, database_url):
    before = make_harness(database_url, referral_settings=ReferralSettings(
        expose_codes=True, self_referral_limit_contact=2, person_key=KEY))
    for _ in range(2):
        assert before.client.post("/self-referrals", json=self_referral("sam@example.org")).status_code == 202

    new_key = KEY[::-1]
    rotated = make_harness(database_url, referral_settings=ReferralSettings(
        expose_codes=True, self_referral_limit_contact=2, person_key=new_key, previous_person_keys=(KEY,)))
    assert rotated.client.post("/self-referrals", json=self_referral("sam@example.org")).status_code == 429
    assert rotated.client.post("/self-referrals", json=self_referral("kim@example.org")).status_code == 202
    assert rate_limit_bucket("contact:kim@example.org", new_key) in stored_buckets(rotated)  # new hits: new key
