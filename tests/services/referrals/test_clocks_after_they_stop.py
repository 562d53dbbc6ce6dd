"""A response-time target missed before the referral closed, or before it was put on hold, stays missed on the
referral (`clocks[].breached`, the page's "missed"): it read "not met yet", with no "missed", as soon as the clocks
stopped (services.breaching, the work still to do, says nothing of a closed or held referral). A target the referral
ended before reaching says so instead of "not met yet"."""

from __future__ import annotations

from datetime import date

from tests.services.referrals.test_page_forms import page


def _clocks(h, rid) -> dict[str, bool]:
    return {c["clock"]: c["breached"] for c in h.client.get(f"/referrals/{rid}", headers=h.gp()).get_json()["clocks"]}


def _targets(h, rid) -> str:
    html = page(h, f"/queue/{rid}", h.gp())
    return html.split("<h2>Targets</h2>", 1)[1].split("</ul>", 1)[0]


def test_a_target_missed_before_the_referral_was_cancelled_stays_missed(harness):
    h = harness
    rid = h.refer().get_json()["id"]
    h.clock.advance(days=3)  # Thursday: acknowledging was due by Wednesday 09:00
    assert _clocks(h, rid) == {"acknowledge": True}
    assert h.act(rid, "cancel", h.gp(), reason="referrer_withdrew").status_code == 200
    h.clock.advance(days=10)
    assert _clocks(h, rid) == {"acknowledge": True}
    targets = _targets(h, rid)
    assert "missed" in targets and "not met yet" not in targets


def test_a_target_the_referral_ended_before_is_not_missed_nor_still_awaited(harness):
    h = harness
    rid = h.refer().get_json()["id"]
    assert h.act(rid, "cancel", h.gp(), reason="referrer_withdrew").status_code == 200
    h.clock.advance(days=10)
    assert _clocks(h, rid) == {"acknowledge": False}
    targets = _targets(h, rid)
    assert "stopped when the referral ended" in targets and "not met yet" not in targets and "missed" not in targets


def test_a_target_missed_before_a_hold_stays_missed_and_one_the_hold_paused_is_not(harness):
    h = harness
    rid = h.refer().get_json()["id"]
    h.act(rid, "accept", adviser_id="adviser-1")  # Monday: first attempt due in 5 working days, meeting in 10
    h.clock.advance(days=8)  # the Tuesday after: the attempt was due Monday
    assert h.act(rid, "put_on_hold", reason="person_unwell", review_date=date(2026, 12, 20).isoformat()
                 ).status_code == 200
    h.clock.advance(days=14)
    assert _clocks(h, rid) == {"acknowledge": False, "first_contact_attempt": True, "first_meeting": False}
