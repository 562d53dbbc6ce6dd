"""A hold's review date is an ISO 8601 date in the API, like every other date (not an HTTP date)."""

from __future__ import annotations


def test_the_hold_review_date_is_an_iso_date(harness):
    h = harness
    rid = h.refer().get_json()["id"]
    h.act(rid, "accept", adviser_id="adviser-1")
    held = h.act(rid, "put_on_hold", reason="person_request", review_date="2026-12-01")
    assert held.status_code == 200
    assert held.get_json()["hold"] == {"reason": "person_request", "review_date": "2026-12-01"}
    assert h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()["hold"]["review_date"] == "2026-12-01"
    spec = h.client.get("/openapi.json").get_json()["components"]["schemas"]
    assert spec["Hold"]["properties"]["review_date"]["format"] == "date"
