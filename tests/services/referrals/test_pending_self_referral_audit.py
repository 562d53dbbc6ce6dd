"""A self-referral waiting for its code holds the person's details before any referral exists: its start (API or
form), a change of its email address and its end by expiry are audited on the waiting record, by the anonymous
resident who holds it (`self:<id>`) or by the system (retention). Found by the audit of 27 November: only the
referral's "create" at verification was audited; the clock job's sweep of expired records was tested for one
record only, not for one whose address was changed. On SQLite and PostgreSQL: expiry is a comparison of
stored times, and the trail is read in the order it was written."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from tests.services.referrals.test_api import audit_rows
from tests.services.referrals.test_page_forms import post
from tests.services.referrals.test_self_referral_status_emails import FORM
from worklink_referrals import jobs
from worklink_referrals.config import ReferralSettings
from worklink_referrals.models import PendingSelfReferral


def test_the_waiting_record_is_audited_from_start_to_its_end(both):
    h = both
    started = post(h, "/refer-yourself", {**FORM, "updates_by_email": "no"}, {})
    first = started.headers["Location"].split("/")[2]
    changed = post(h, f"/refer-yourself/{first}/email", {"email": "sam.jones@example.org"}, {})
    second = changed.headers["Location"].split("/")[2]
    api = h.client.post("/self-referrals", json={
        "person": {"given_name": "Kim", "family_name": "Lee", "birth_date": "1991-03-04", "email": "kim@example.org"},
        "consent": {"explicit": True, "updates_by_email": True}, "employment_situation": "unemployed"}).get_json()
    jobs.run_once(h.ctx.database, ReferralSettings(), h.clock.now + timedelta(minutes=31))  # none verified: swept
    with h.ctx.database.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(PendingSelfReferral)) == 0
    trail = [(a.actor, a.actor_role, a.action, a.resource_id, a.person_id, a.purpose)
             for a in audit_rows(h, resource_type="pending_self_referral")]
    assert trail[:4] == [
        (f"self:{first}", "resident", "create", first, first, None),
        (f"self:{first}", "resident", "delete", first, first, "email address changed"),
        (f"self:{first}", "resident", "create", second, second, "email address changed"),
        (f"self:{api['id']}", "resident", "create", api["id"], api["id"], None)]
    assert sorted(trail[4:]) == sorted([("system", "system", "delete", second, second, "retention"),
                                        ("system", "system", "delete", api["id"], api["id"], "retention")])


def test_an_expired_code_tried_deletes_the_record_and_says_so_in_the_trail(both):
    h = both
    pending = h.client.post("/self-referrals", json={
        "person": {"given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02", "email": "sam@example.org"},
        "consent": {"explicit": True, "updates_by_email": True}, "employment_situation": "unemployed"}).get_json()
    h.clock.advance(minutes=31)
    late = h.client.post(f"/self-referrals/{pending['id']}/verification", json={"code": pending["code"]})
    assert late.status_code == 410
    assert [(a.actor, a.action, a.purpose) for a in audit_rows(h, resource_id=pending["id"])] == [
        (f"self:{pending['id']}", "create", None), ("system", "delete", "retention")]
