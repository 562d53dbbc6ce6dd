"""Only the browser that started a self-referral may send its code to another email address.

The waiting record's id is in the code page's address (history, a shared computer), and in the audit trail the
alliance reads. With the id alone, anyone could give their own address, receive the code and take over the
person's referral - their status page, their news. Found on 27 November, when the change of address came in.
On SQLite and PostgreSQL: the waiting record's details are JSON, an address is compared without its case, and starts
are counted in a time window."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from tests.services.referrals.test_api import outbox_payloads
from tests.services.referrals.test_page_forms import CSRF, HTML, post
from tests.services.referrals.test_self_referral_status_emails import FORM, MESSAGES
from worklink_referrals.models import PendingSelfReferral

ELSEWHERE = "someone.else@example.net"


def _codes_sent_to(h, address: str) -> int:
    return sum(m["contact"]["address"] == address for m in outbox_payloads(h, MESSAGES))


def _waiting(h) -> list[tuple[str, str]]:
    with h.ctx.database.sessions() as session:
        return [(str(p.id), p.payload["person"]["email"]) for p in session.scalars(sa.select(PendingSelfReferral))]


def test_another_browser_holding_the_id_cannot_send_the_code_elsewhere(both):
    h = both
    started = post(h, "/refer-yourself", {**FORM, "updates_by_email": "yes"}, {})
    pending = started.headers["Location"].split("/")[2]
    cookie = started.headers.getlist("Set-Cookie")
    kept = next(c for c in cookie if c.startswith("wl_self_referral="))
    assert all(part in kept for part in ("HttpOnly", "SameSite=Strict", "Path=/refer-yourself"))
    assert "Max-Age" not in kept and "Expires" not in kept  # gone with the browser: a shared computer's next user

    stranger = h.app.test_client()  # has the address (history, the audit trail), not the browser's cookie
    stranger.set_cookie("worklink_csrf", CSRF)
    refused = stranger.post(f"/refer-yourself/{pending}/email", data={"csrf_token": CSRF, "email": ELSEWHERE},
                            headers=HTML)
    assert refused.status_code == 403
    assert "only be changed in the browser the referral was started in" in refused.get_data(as_text=True)
    assert _waiting(h) == [(pending, "sam@example.org")] and _codes_sent_to(h, ELSEWHERE) == 0

    # The person's own browser still can, and keeps being able to (a second slip of the keyboard).
    moved = post(h, f"/refer-yourself/{pending}/email", {"email": "sam.jones@example.org"}, {})
    assert moved.status_code == 303
    again = post(h, f"/refer-yourself/{moved.headers['Location'].split('/')[2]}/email", {"email": "sam.j@example.org"},
                 {})
    assert again.status_code == 303 and [email for _, email in _waiting(h)] == ["sam.j@example.org"]


def test_the_key_is_forgotten_once_the_code_is_used(both):
    h = both
    started = post(h, "/refer-yourself", {**FORM, "updates_by_email": "yes"}, {})
    pending = started.headers["Location"].split("/")[2]
    with h.ctx.database.sessions() as session:
        code = session.get(PendingSelfReferral, uuid.UUID(pending)).payload["shown_code"]
    sent = post(h, f"/refer-yourself/{pending}/code", {"code": code}, {})
    assert sent.status_code == 303 and sent.headers["Location"].startswith("/my-referral/")
    assert any(c.startswith("wl_self_referral=;") for c in sent.headers.getlist("Set-Cookie"))
    assert h.client.get_cookie("wl_self_referral", path="/refer-yourself") is None


def test_a_self_referral_started_through_the_api_has_no_browser_to_change_it_from(both):
    h = both
    started = h.client.post("/self-referrals", json={
        "person": {"given_name": "Kim", "family_name": "Lee", "birth_date": "1991-03-04", "email": "kim@example.org"},
        "consent": {"explicit": True, "updates_by_email": True}, "employment_situation": "unemployed"}).get_json()
    refused = post(h, f"/refer-yourself/{started['id']}/email", {"email": ELSEWHERE}, {})
    assert refused.status_code == 403 and _codes_sent_to(h, ELSEWHERE) == 0
    assert _waiting(h) == [(started["id"], "kim@example.org")]


# What the next user of a shared computer could still do within the 30 minutes: open the code page from the
# history, in the same browser session, and send the code elsewhere. The owner of the old address is told, the
# changes are few, and starting a self-referral of their own takes the earlier one's key away.

def _start(h) -> str:
    started = post(h, "/refer-yourself", {**FORM, "updates_by_email": "yes"}, {})
    assert started.status_code == 303
    return started.headers["Location"].split("/")[2]


def _change(h, pending: str, email: str, headers=None):
    return post(h, f"/refer-yourself/{pending}/email", {"email": email}, headers or {})


def test_the_old_address_is_told_of_the_change_without_the_code(both):
    h = both
    pending = _start(h)
    assert _change(h, pending, ELSEWHERE).status_code == 303

    notices = [m for m in outbox_payloads(h, MESSAGES) if m["message_code"] == "self_referral_email_changed"]
    assert [(m["contact"]["address"], m.get("verification_code")) for m in notices] == [("sam@example.org", None)]
    [first_code, new_code] = [m for m in outbox_payloads(h, MESSAGES) if m["message_code"] == "self_referral_code"]
    assert new_code["contact"]["address"] == ELSEWHERE
    # the same person and the agreement they gave on the form; a message of its own, sent once
    assert (notices[0]["person_id"], notices[0]["consent_id"]) == (first_code["person_id"], first_code["consent_id"])
    assert notices[0]["message_id"] == str(uuid.uuid5(uuid.UUID(pending), "email-changed"))


def test_the_same_address_again_tells_nobody(both):
    h = both
    assert _change(h, _start(h), "SAM@example.org").status_code == 303  # the person checking it: no change
    assert [m["message_code"] for m in outbox_payloads(h, MESSAGES)] == ["self_referral_code"] * 2


def test_a_fourth_change_is_refused_on_the_page_and_to_a_program(both):
    h = both
    pending = _start(h)
    for n in range(1, 4):
        moved = _change(h, pending, f"sam.{n}@example.org")
        assert moved.status_code == 303, moved.get_data(as_text=True)
        pending = moved.headers["Location"].split("/")[2]

    refused = _change(h, pending, ELSEWHERE)
    assert refused.status_code == 429 and "Retry-After" not in refused.headers  # waiting does not help
    page = refused.get_data(as_text=True)
    assert "has already been changed 3 times" in page and "Start your referral again" in page
    by_program = h.client.post(f"/refer-yourself/{pending}/email", data={"csrf_token": CSRF, "email": ELSEWHERE},
                               headers={"Accept": "application/json"})
    assert by_program.status_code == 429 and by_program.mimetype == "application/problem+json"
    assert "has already been changed 3 times" in by_program.get_json()["detail"]
    assert _waiting(h) == [(pending, "sam.3@example.org")] and _codes_sent_to(h, ELSEWHERE) == 0


def test_starting_a_new_self_referral_takes_the_earlier_ones_key_away(both):
    """The next user's own start replaces the key; one the form refuses (a slip, too many starts) clears it."""
    h = both
    earlier = _start(h)
    refused = post(h, "/refer-yourself", {**FORM, "given_name": ""}, {})
    assert refused.status_code == 422
    assert any(c.startswith("wl_self_referral=;") for c in refused.headers.getlist("Set-Cookie"))
    assert _change(h, earlier, ELSEWHERE).status_code == 403

    earlier = _start(h)
    latest = _start(h)  # someone else's, in the same browser
    assert _change(h, earlier, ELSEWHERE).status_code == 403

    too_many = post(h, "/refer-yourself", {**FORM, "updates_by_email": "yes"}, {})  # a 4th start for this address
    assert too_many.status_code == 429  # the error page clears it too
    assert any(c.startswith("wl_self_referral=;") for c in too_many.headers.getlist("Set-Cookie"))
    assert _change(h, latest, ELSEWHERE).status_code == 403
    assert _codes_sent_to(h, ELSEWHERE) == 0
