"""The person's status page and `GET /status/{token}` say why support ended as it did: a referral closed as
disengaged (the adviser reached the person, who stopped taking part) said "The adviser could not reach you", the
words for a failed contact."""

from __future__ import annotations

import pytest

from tests.services.referrals.conftest import with_updates


def _closed_as(h, reason: str) -> str:
    rid = h.client.post("/referrals", json=with_updates(), headers=h.gp()).get_json()["id"]
    h.act(rid, "accept", adviser_id="adviser-1")
    for channel in ("phone", "text", "email"):
        h.act(rid, "record_contact_attempt", channel=channel, result="no_answer")
    if reason == "disengaged":
        h.act(rid, "make_first_contact")
    assert h.act(rid, "fail", reason=reason).status_code == 200
    return h.person_link(rid).rsplit("/", 1)[-1]


@pytest.mark.parametrize("reason, said, not_said", [
    ("disengaged", "Your support has ended because you stopped taking part.", "could not reach you"),
    ("failed_contact", "The adviser could not reach you.", "stopped taking part"),
])
def test_the_person_reads_why_their_support_ended(harness, reason, said, not_said):
    h = harness
    token = _closed_as(h, reason)
    status = h.client.get(f"/status/{token}").get_json()
    assert status["status"] == "failed" and status["status_text"].startswith(said)
    page = h.client.get(f"/my-referral/{token}").get_data(as_text=True)
    assert said in page and not_said not in page
