"""A referral request the referrals service never answers is not lost: after ADJUSTMENTS_REFERRAL_ANSWER_HOURS
with no answer at all, the sweep marks it not yet received (our read model; its status stays `requested`), the
clinician sees it on the suggestion's page and their home list with what to do, and operations get one broadcast
`adjustments.referral_request.unanswered` per request. A late answer clears the mark (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.browser import assert_accessible, live_server, sign_in
from tests.services.adjustments.conftest import PRACTICE
from tests.services.adjustments.test_pages import _overflows
from tests.services.adjustments.test_referral_consent_withdrawal import lifecycle_event
from tests.services.adjustments.test_retention import issue, outbox
from tests.services.adjustments.test_stale_referral_requests import events, request_of
from worklink.config import ConfigError
from worklink.db import utcnow
from worklink.events.contracts.adjustments import clinician_reference
from worklink_adjustments import config, sweep
from worklink_adjustments.events import on_referral_lifecycle
from worklink_adjustments.domain import uk_today
from worklink_adjustments.letters import long_date
from worklink_adjustments.models import ReferralRequest

pytestmark = pytest.mark.timeout(180)
REFER = {"consent.refer_to_employment_adviser": True}
UNANSWERED = "adjustments.referral_request.unanswered"
PAGE = {"Accept": "text/html"}


def referred(app, client, tokens, hours_ago: float = 0) -> tuple[str, str]:
    """A suggestion issued with the referral consent, its request sent `hours_ago`: (suggestion id, request id)."""
    sid = issue(client, tokens, **REFER)["id"]
    with app.extensions["worklink"].database.transaction() as session:
        session.execute(sa.update(ReferralRequest).where(ReferralRequest.suggestion_id == uuid.UUID(sid))
                        .values(requested_at=utcnow() - timedelta(hours=hours_ago)))
    return sid, str(request_of(app, sid).id)


def run_sweep(app, **kwargs) -> int:
    kwargs.setdefault("clinician_key", app.config["CLINICIAN_REFERENCE_KEY"])
    return sweep.run_once(app.extensions["worklink"].database, outbox(app), **kwargs)["referral_requests_unanswered"]


def answer(app, request_id: str, step: str = "received", version: int = 1) -> None:
    with app.extensions["worklink"].database.transaction() as session:
        on_referral_lifecycle(session, lifecycle_event(step, request_id, version))


def test_the_sweep_marks_exactly_the_old_unanswered_requests_and_announces_each_once(svc):
    app, client, tokens = svc
    lost, lost_request = referred(app, client, tokens, hours_ago=25)
    recent, _ = referred(app, client, tokens, hours_ago=23)
    answered, answered_request = referred(app, client, tokens, hours_ago=25)
    answer(app, answered_request)
    withdrawn, _ = referred(app, client, tokens, hours_ago=25)
    version = client.get(f"/suggestions/{withdrawn}", headers=tokens.header()).get_json()["version"]
    assert client.post(f"/suggestions/{withdrawn}/referral-consent-withdrawal", json={"version": version},
                       headers=tokens.header()).status_code == 200

    assert run_sweep(app) == 1
    flagged = request_of(app, lost)
    assert flagged.unanswered_at is not None and flagged.status == "requested"  # not a lie about referrals' state
    assert all(request_of(app, sid).unanswered_at is None for sid in (recent, answered, withdrawn))
    [told] = events(app, UNANSWERED)
    assert told == {"request_id": lost_request, "suggestion_id": lost, "practice_id": str(PRACTICE),
                    "clinician_id": clinician_reference("dr-ada", app.config["CLINICIAN_REFERENCE_KEY"]),
                    "requested_at": told["requested_at"], "occurred_at": told["occurred_at"]}
    requested = datetime.fromisoformat(told["requested_at"].replace("Z", "+00:00"))
    assert abs(requested - (utcnow() - timedelta(hours=25))) < timedelta(minutes=2)  # not to the minute: a boundary
    assert "dr-ada" not in str(told)  # the clinician by reference, never their login id

    assert run_sweep(app) == 0 and len(events(app, UNANSWERED)) == 1  # once
    # The API says so too: on the suggestion and in the practice's list.
    [referral] = client.get(f"/suggestions/{lost}", headers=tokens.header()).get_json()["referrals"]
    assert referral["status"] == "requested" and referral["unanswered_at"] is not None
    listed = {i["id"]: i for i in client.get("/suggestions", headers=tokens.header()).get_json()["items"]}
    assert listed[lost]["referral_not_yet_received"] is True and listed[recent]["referral_not_yet_received"] is False


def test_a_late_answer_clears_the_mark_and_nothing_more_is_announced(svc):
    app, client, tokens = svc
    sid, request_id = referred(app, client, tokens, hours_ago=30)
    assert run_sweep(app) == 1
    answer(app, request_id, "held")  # referrals had it after all (re-driven from its dead letters, say)
    request = request_of(app, sid)
    assert (request.status, request.unanswered_at) == ("held", None)
    assert run_sweep(app, now=utcnow() + timedelta(days=3)) == 0
    assert len(events(app, UNANSWERED)) == 1
    html = client.get(f"/review/{sid}", headers={**tokens.header(), **PAGE}).get_data(as_text=True)
    assert "Not yet received" not in html and "Waiting for an adviser service" in html


def test_the_wait_is_configurable(svc, monkeypatch):
    app, client, tokens = svc
    sid, _ = referred(app, client, tokens, hours_ago=30)
    monkeypatch.setenv("ADJUSTMENTS_REFERRAL_ANSWER_HOURS", "48")
    assert run_sweep(app) == 0
    assert run_sweep(app, now=utcnow() + timedelta(hours=19)) == 1
    assert request_of(app, sid).unanswered_at is not None


def test_the_clinician_sees_it_plainly_with_what_to_do(svc):
    app, client, tokens = svc
    sid, request_id = referred(app, client, tokens, hours_ago=25)
    run_sweep(app)
    sent = long_date(uk_today(request_of(app, sid).requested_at))
    review = client.get(f"/review/{sid}", headers={**tokens.header(), **PAGE}).get_data(as_text=True)
    assert f"<strong>Not yet received by the employment advice service</strong> - sent {sent}" in review
    assert "The WorkLink alliance has been told and is looking into it" in review
    assert f"contact the WorkLink alliance and give them the referral reference {request_id}" in review
    home = client.get("/", headers={**tokens.header(), **PAGE}).get_data(as_text=True)
    assert f"<strong>Not yet received by the employment advice service</strong> - sent {sent}. The WorkLink " \
           "alliance is looking into it" in home


def test_the_review_page_and_home_list_show_it_in_the_browser(app, tokens, page):
    sid, _ = referred(app, app.test_client(), tokens, hours_ago=25)
    run_sweep(app)
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), f"/review/{sid}")
        assert page.locator("#referral").inner_text().startswith("Not yet received by the employment advice service")
        callout = page.locator("#referral-not-received")
        assert "Referral not yet received" in callout.inner_text()
        assert "contact the WorkLink alliance" in callout.inner_text()
        assert_accessible(page)
        page.set_viewport_size({"width": 320, "height": 900})  # the home list's longer referral cell still reflows
        page.goto(f"{base}/")
        assert "Not yet received by the employment advice service" in page.locator("tbody").inner_text()
        assert _overflows(page) <= 0
        assert_accessible(page)


@pytest.mark.parametrize("value", ["0", "-1", "a day", "1.5"])
def test_a_wait_that_is_not_a_whole_number_of_hours_stops_the_service(value, settings, monkeypatch):
    monkeypatch.setenv("ADJUSTMENTS_REFERRAL_ANSWER_HOURS", value)
    with pytest.raises(ConfigError, match="ADJUSTMENTS_REFERRAL_ANSWER_HOURS"):
        config.check(settings)


def test_a_day_is_the_default():
    assert config.referral_answer_hours({}) == 24
