"""Only the browser that started a self-referral may send its code to another email address.

The waiting record's id is in the code page's address (history, a shared computer), and in the audit trail the
alliance reads. With the id alone, anyone could give their own address, receive the code and take over the
person's referral - their status page, their news. Found on 27 November, when the change of address came in."""

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


def test_another_browser_holding_the_id_cannot_send_the_code_elsewhere(harness):
    h = harness
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


def test_the_key_is_forgotten_once_the_code_is_used(harness):
    h = harness
    started = post(h, "/refer-yourself", {**FORM, "updates_by_email": "yes"}, {})
    pending = started.headers["Location"].split("/")[2]
    with h.ctx.database.sessions() as session:
        code = session.get(PendingSelfReferral, uuid.UUID(pending)).payload["shown_code"]
    sent = post(h, f"/refer-yourself/{pending}/code", {"code": code}, {})
    assert sent.status_code == 303 and sent.headers["Location"].startswith("/my-referral/")
    assert any(c.startswith("wl_self_referral=;") for c in sent.headers.getlist("Set-Cookie"))
    assert h.client.get_cookie("wl_self_referral", path="/refer-yourself") is None


def test_a_self_referral_started_through_the_api_has_no_browser_to_change_it_from(harness):
    h = harness
    started = h.client.post("/self-referrals", json={
        "person": {"given_name": "Kim", "family_name": "Lee", "birth_date": "1991-03-04", "email": "kim@example.org"},
        "consent": {"explicit": True, "updates_by_email": True}, "employment_situation": "unemployed"}).get_json()
    refused = post(h, f"/refer-yourself/{started['id']}/email", {"email": ELSEWHERE}, {})
    assert refused.status_code == 403 and _codes_sent_to(h, ELSEWHERE) == 0
    assert _waiting(h) == [(started["id"], "kim@example.org")]
