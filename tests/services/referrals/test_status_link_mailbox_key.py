"""A request for a new status link (POST /status-links) finds its referrals by the keyed mailbox each keeps
(referrals.mailbox_key: an HMAC under REFERRALS_PERSON_KEY of the address as mailbox() folds it, indexed): before,
it read the address of every referral at the typed address's domain and compared them in Python - thousands of
people's addresses on an anonymous request for a common domain, and more rows read than a miss would show. The key
is written at intake, erased with the person's details, re-keyed by a rotation and filled in by migration 0022.
On SQLite and PostgreSQL."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from tests.services.referrals.conftest import nhs_number, referral_row_before, referrals_table_before
from tests.services.referrals.test_retention import SIX_YEARS, run_job
from tests.services.referrals.test_status_link_expiry import gp_referral, harness_for, renewals
from worklink_referrals import jobs
from worklink_referrals.config import ReferralSettings
from worklink_referrals.jobs import send_new_links
from worklink_referrals.models import Referral
from worklink_referrals.rekeying import rekey_people
from worklink_referrals.services import mailbox_key

OLD, NEW = "old-key-" + "o" * 32, "new-key-" + "n" * 32
_FROM_REFERRALS = re.compile(r"\bFROM referrals\b", re.I)


def held_key(h, rid: str) -> str | None:
    with h.ctx.database.engine.connect() as conn:
        return conn.execute(sa.select(Referral.mailbox_key).where(Referral.id == uuid.UUID(rid))).scalar_one()


def someone(h, i: int, email: str) -> str:
    """Another person, followed by email at `email`."""
    rid, _token = gp_referral(h, email=email, given_name=f"P{i}", nhs_number=nhs_number(i, 71))
    return rid


def referral_rows_read(h, ask) -> int:
    """How many rows of the referrals table the statements `ask()` runs return: each SELECT from it run again,
    with the same parameters, once the request is over (nothing has changed them since)."""
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and _FROM_REFERRALS.search(statement):
            seen.append((statement, parameters))
    engine = h.ctx.database.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        ask()
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    with engine.connect() as conn:
        return sum(len(conn.exec_driver_sql(statement, parameters).all()) for statement, parameters in seen)


def test_the_lookup_folds_the_address_as_mailbox_does(make_harness, database_url):
    h = harness_for(make_harness, database_url, self_referral_limit_contact=50)
    kim = someone(h, 1, "Kim.Lee+work@GoogleMail.com")
    ada = someone(h, 2, "Ada@Example.org")
    someone(h, 3, "kim.lee@example.org")  # another mailbox: the dots count outside Gmail
    assert held_key(h, kim) == mailbox_key("kimlee@gmail.com", ReferralSettings().person_key)
    for typed, renewed in (("KIMLEE@gmail.com", kim), ("k.i.m.lee+x@googlemail.com", kim),
                           ("ada+news@EXAMPLE.ORG", ada)):
        h.clock.advance(minutes=16)  # past REFERRALS_STATUS_LINK_REPEAT_MINUTES: each is a new request
        before = len(renewals(h))
        assert h.client.post("/status-links", json={"email": typed}).status_code == 202
        assert [sent["referral_id"] for sent in renewals(h)[before:]] == [renewed], typed
    before = len(renewals(h))
    h.client.post("/status-links", json={"email": "kimlee@example.org"})
    assert len(renewals(h)) == before


def test_no_other_persons_row_is_read_whether_or_not_the_address_matched(make_harness, database_url):
    h = harness_for(make_harness, database_url, self_referral_limit_contact=50)
    for i in range(12):
        someone(h, i, f"person{i}@example.org")  # the same domain as those asked for
    asked = someone(h, 20, "ada@example.org")
    post, job = h.client.post, lambda: send_new_links(h.ctx.database, h.clock.now)
    # The request reads none (it leaves a request: test_status_link_request_alike); the new-links job, its own only.
    assert referral_rows_read(h, lambda: post("/status-links", json={"email": "nobody@example.org"})) == 0
    assert referral_rows_read(h, job) == 0
    assert referral_rows_read(h, lambda: post("/status-links", json={"email": "Ada@example.org"})) == 0
    assert referral_rows_read(h, job) == 1
    assert renewals(h)[-1]["referral_id"] == asked


def test_a_rotation_rewrites_the_mailbox_key_and_a_new_link_is_found_before_and_after(make_harness, database_url):
    before = harness_for(make_harness, database_url, person_key=OLD)
    rid, _token = gp_referral(before, email="ada@example.org")
    assert held_key(before, rid) == mailbox_key("ada@example.org", OLD)

    rotated_settings = ReferralSettings(expose_codes=True, person_key=NEW, previous_person_keys=(OLD,))
    rotated = make_harness(database_url, rotated_settings)
    rotated.client.post("/status-links", json={"email": "ada@example.org"})  # not yet re-keyed: found under OLD
    assert [sent["referral_id"] for sent in renewals(rotated)] == [rid]
    jobs.run_once(rotated.ctx.database, rotated_settings, now=rotated.clock.now)
    assert held_key(rotated, rid) == mailbox_key("ada@example.org", NEW)
    assert rekey_people(rotated.ctx.database, NEW, (OLD,)) == 0  # a second pass changes nothing

    retired = make_harness(database_url, ReferralSettings(expose_codes=True, person_key=NEW))  # OLD dropped
    retired.clock.advance(minutes=16)  # past REFERRALS_STATUS_LINK_REPEAT_MINUTES: a new request, not a repeat
    retired.client.post("/status-links", json={"email": "ada@example.org"})
    assert [sent["referral_id"] for sent in renewals(retired)] == [rid, rid]


def test_a_key_an_older_replica_left_out_is_filled_in_by_the_clock_pass(make_harness, database_url):
    h = harness_for(make_harness, database_url)
    rid, _token = gp_referral(h, email="ada@example.org")
    with h.ctx.database.engine.begin() as conn:  # as a replica older than migration 0022 writes it
        conn.execute(sa.update(Referral).where(Referral.id == uuid.UUID(rid)).values(mailbox_key=None))
    key = ReferralSettings().person_key
    assert rekey_people(h.ctx.database, key, (), unkeyed_since=h.clock.now - timedelta(days=1)) == 1
    assert held_key(h, rid) == mailbox_key("ada@example.org", key)


def test_the_erasure_empties_the_mailbox_key(make_harness, database_url):
    h = harness_for(make_harness, database_url)
    rid, token = gp_referral(h, email="ada@example.org")
    assert held_key(h, rid) is not None
    assert h.client.post(f"/status/{token}/cancel", json={}).status_code == 200
    run_job(h, h.clock.now + SIX_YEARS)
    assert held_key(h, rid) is None


def test_the_migration_keys_the_mailbox_of_each_referral_held(database_url, monkeypatch):
    from worklink.migrations import upgrade
    from worklink.service import get_service

    monkeypatch.setenv("REFERRALS_PERSON_KEY", NEW)
    migrations = get_service("referrals").migrations_dir
    upgrade(migrations, database_url, "referrals_0021")
    engine = sa.create_engine(database_url)
    referrals = referrals_table_before(moments=("erased_at",), texts=("email",))
    submitted = datetime(2026, 1, 5, 9, tzinfo=timezone.utc)
    rows = {"gmail": (uuid.uuid4(), "Kim.Lee+x@GoogleMail.com", None), "none": (uuid.uuid4(), None, None),
            "erased": (uuid.uuid4(), None, submitted)}
    try:
        with engine.begin() as conn:
            conn.execute(referrals.insert(), [
                referral_row_before(rid, f"R-{name[:6].upper()}", submitted, given_name="Kim", family_name="Lee",
                                    match_key=f"key-{name}", email=email, erased_at=erased)
                for name, (rid, email, erased) in rows.items()])
        upgrade(migrations, database_url, "referrals_0022")
        after = sa.table("referrals", sa.column("id", sa.Uuid()), sa.column("mailbox_key", sa.String()))
        with engine.connect() as conn:
            held = {name: conn.execute(sa.select(after.c.mailbox_key).where(after.c.id == rid)).scalar()
                    for name, (rid, _e, _d) in rows.items()}
        assert held == {"gmail": mailbox_key("kimlee@gmail.com", NEW), "none": None, "erased": None}
    finally:
        engine.dispose()
