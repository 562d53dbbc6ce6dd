"""A new status link the person asks for (POST /status-links) is not a change to the referral an adviser has to
read again: it leaves the referral's version (optimistic concurrency) and history alone, so an adviser who has the
referral's form open saves it without a conflict. Before, the renewal wrote the link through the versioned row and
the adviser's save was refused (409) with nothing in the history to say why. On SQLite and PostgreSQL."""

from __future__ import annotations

from tests.services.referrals.test_status_link_expiry import gp_referral, harness_for, renewals


def test_a_renewed_link_leaves_the_version_and_history_alone(make_harness, database_url):
    h = harness_for(make_harness, database_url)
    rid, old = gp_referral(h)
    opened = h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()  # the adviser's form, open
    assert h.client.post("/status-links", json={"email": "ada@example.org"}).status_code == 202
    [sent] = renewals(h)
    new = sent["status_link"].rsplit("/", 1)[1]
    assert h.client.get(f"/status/{new}").status_code == 200 and h.client.get(f"/status/{old}").status_code == 404
    now = h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()
    assert (now["version"], now["history"]) == (opened["version"], opened["history"])
    saved = h.act(rid, "acknowledge", version=opened["version"])
    assert saved.status_code == 200, saved.get_json()
