"""Self-referrals have no referring organisation: they record a fixed stand-in id (domain.SELF_REFERRAL_ORG).
A staff token carrying that id as its organisation is no referrer of them."""

from __future__ import annotations

from worklink_referrals.domain import SELF_REFERRAL_ORG
from tests.services.referrals.test_api import audit_rows, self_referral


def test_a_token_naming_the_self_referral_stand_in_organisation_reads_no_self_referral(harness):
    h = harness
    pending = h.client.post("/self-referrals", json=self_referral("kim@example.org")).get_json()
    verified = h.client.post(f"/self-referrals/{pending['id']}/verification", json={"code": pending["code"]})
    assert verified.status_code == 201
    [rid] = [item["id"] for item in h.client.get("/referrals", headers=h.adviser()).get_json()["items"]]
    stand_in = str(SELF_REFERRAL_ORG)
    for role in ("gp", "adviser", "org_admin"):
        headers = h.token(role, org=stand_in, sub=f"{role}-of-nobody")
        read = h.client.get(f"/referrals/{rid}", headers=headers)
        assert read.status_code == 404 and read.mimetype == "application/problem+json", role
        listed = h.client.get("/referrals?view=referred", headers=headers)
        assert rid not in {item["id"] for item in listed.get_json().get("items", [])}, role
        cancel = h.client.post(f"/referrals/{rid}/actions/cancel", headers=headers,
                               json={"version": 1, "reason": "referrer"})
        assert cancel.status_code == 404, role
    assert {r.actor_org for r in audit_rows(h, resource_id=rid, action="denied")} == {stand_in}  # refusals audited
    # The assigned organisation still reads it.
    assert h.client.get(f"/referrals/{rid}", headers=h.adviser()).status_code == 200
