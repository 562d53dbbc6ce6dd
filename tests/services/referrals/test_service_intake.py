"""An adviser organisation pauses and resumes new referrals to its services: routing passes a paused
service by (held, never dropped), the directory hears it through the capacity summary, and resuming
routes the held referrals it can take (SQLite and PostgreSQL)."""

from __future__ import annotations

from tests.services.referrals.conftest import ADVISERS, OTHER_ADVISERS, SERVICE, nhs_number
from tests.services.referrals.test_api import outbox_payloads
from worklink_referrals import jobs
from worklink_referrals.config import ReferralSettings


def intake(h, accepting: bool, headers=None, service=SERVICE):
    return h.client.put(f"/adviser-services/{service}/intake", json={"accepting_referrals": accepting},
                        headers=headers or h.token("org_admin", ADVISERS, "lead-1"))


def test_a_paused_service_gets_no_new_referrals_until_it_resumes(both):
    h = both
    first = h.refer().get_json()
    assert first["routing"] == "routed"
    paused = intake(h, False)
    assert paused.status_code == 200 and paused.get_json()["accepting_referrals"] is False
    jobs.run_once(h.ctx.database, ReferralSettings(), h.clock.now)
    assert outbox_payloads(h, "referrals.capacity.changed")[-1]["accepting_referrals"] is False  # to the directory

    held = h.refer({"nhs_number": nhs_number(1, 80), "given_name": "Bo"}).get_json()
    assert held["routing"] == "held" and held.get("service_id") is None  # held for the alliance, not dropped
    assert h.client.get(f"/referrals/{first['id']}", headers=h.adviser()).status_code == 200  # kept its own

    assert intake(h, True).get_json()["accepting_referrals"] is True
    routed = h.client.get(f"/referrals/{held['id']}", headers=h.adviser()).get_json()
    assert routed["routing"] == "routed" and routed["service_id"] == str(SERVICE)
    listed = h.client.get("/adviser-services", headers=h.adviser()).get_json()
    assert listed == [{"service_id": str(SERVICE), "organization_id": ADVISERS, "accepting_referrals": True}]


def test_only_the_owning_organisation_or_the_alliance_changes_a_services_intake(harness):
    h = harness
    assert intake(h, False, h.token("org_admin", OTHER_ADVISERS, "lead-9")).status_code == 404
    assert intake(h, False, h.adviser()).status_code == 403  # advisers see it, their lead changes it
    assert intake(h, False, h.token("org_admin", None, "lead-0")).status_code == 401  # refused at verification
    assert intake(h, False, h.admin()).get_json()["accepting_referrals"] is False
    assert h.client.get("/adviser-services", headers=h.adviser(org=OTHER_ADVISERS)).get_json() == []
    bad = h.client.put(f"/adviser-services/{SERVICE}/intake", json={}, headers=h.admin())
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["pointer"] == "/accepting_referrals"
