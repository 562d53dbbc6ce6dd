"""'Mark all as read' on the inbox page: one POST form (CSRF, no JavaScript needed) marking every unread message
in the inbox shown - the caller's own, their organisation's or the alliance's - and no one else's, saying how many."""

from __future__ import annotations

import re
import uuid

import pytest
import sqlalchemy as sa

from tests.browser import assert_accessible, live_server, sealed, submit
from tests.services.notifications.test_pages import ADVISERS, PRACTICE, database_url, route, sign_in  # noqa: F401
from worklink.auth import mint_token
from worklink.web.pages import SESSION_COOKIE
from worklink_notifications import routing
from worklink_notifications.models import Delivery

pytestmark = pytest.mark.timeout(120)


def addressed_to(database, subject: str) -> None:
    with database.transaction() as session:
        routing.add_delivery(session, event_id=str(uuid.uuid4()), event_type="adjustments.employer_response.recorded",
                             recipient=routing.Recipient("user", subject, "inbox"), message_code="employer_response",
                             facts={}, occurred_at=None)


def unread(database) -> list[tuple[str, str]]:
    with database.sessions() as session:
        return sorted(session.execute(sa.select(Delivery.recipient_kind, Delivery.recipient_id)
                                      .where(Delivery.channel == "inbox", Delivery.read_at.is_(None))).all())


def test_an_adviser_marks_her_organisations_inbox_read_without_javascript(app, notifications_db, no_js_page):
    route(notifications_db, "referrals.referral.submitted")   # the advisers' inbox
    route(notifications_db, "referrals.referral.allocated")   # the advisers' inbox
    route(notifications_db, "referrals.referral.accepted")    # the practice's: not hers
    addressed_to(notifications_db, "ada")                      # her own inbox: another tab, left alone
    page = no_js_page
    token = mint_token(app.extensions["worklink"].settings.jwt, role="adviser", org=ADVISERS, subject="ada")
    with live_server(app) as base:
        sign_in(page, base, token, "/messages?scope=organisation")
        assert page.get_by_text("2 unread").is_visible()
        submit(page, page.get_by_role("button", name="Mark all as read: 2 messages in Your organisation"))
        assert "scope=organisation" in page.url
        assert page.get_by_role("status").inner_text().endswith("2 messages marked as read.")
        assert page.get_by_role("button", name="Mark as read").count() == 0
        assert page.get_by_role("button", name="Mark all as read").count() == 0  # nothing left to mark
    assert unread(notifications_db) == [("organisation", PRACTICE), ("user", "ada")]


def test_the_form_is_accessible_and_a_colleague_who_was_quicker_is_told_nothing_was_left(app, notifications_db, page):
    route(notifications_db, "referrals.referral.submitted")
    jwt = app.extensions["worklink"].settings.jwt
    with live_server(app) as base:
        page.context.add_cookies([{"name": SESSION_COOKIE, "value": sealed(app, mint_token(
            jwt, role="adviser", org=ADVISERS, subject="ada")), "url": base}])
        page.goto(f"{base}/messages?scope=organisation")
        assert_accessible(page)
        with notifications_db.transaction() as session:  # a colleague reads it for the team meanwhile
            session.execute(sa.update(Delivery).values(read_at=sa.func.current_timestamp()))
        submit(page, page.get_by_role("button", name="Mark all as read"))
        assert page.get_by_role("status").inner_text().endswith("There were no unread messages to mark as read.")
        assert_accessible(page)


def test_only_an_inbox_the_caller_may_read_is_marked(app, notifications_db):
    route(notifications_db, "referrals.referral.sla_breached")  # the advisers' lead and the alliance
    addressed_to(notifications_db, "gp-owner")
    jwt = app.extensions["worklink"].settings.jwt
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, sealed(app, mint_token(jwt, role="adviser", org=ADVISERS, subject="ada")))
    csrf = client.get("/messages").get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    before = unread(notifications_db)
    refused = client.post("/messages/read", data={"csrf_token": csrf, "scope": "alliance"})
    assert refused.status_code == 403
    mine = client.post("/messages/read", data={"csrf_token": csrf, "scope": "user"})  # someone else's item stays
    assert mine.status_code == 303 and mine.headers["Location"].endswith("/messages?scope=user")
    assert unread(notifications_db) == before and ("user", "gp-owner") in before
    assert client.post("/messages/read", data={"scope": "user"}).status_code == 400  # no CSRF token


def test_the_count_is_said_once_after_marking_and_never_from_a_crafted_link(app, notifications_db):
    """The count travels sealed to the next inbox page alone: ?marked=12 in a link someone sent claims nothing."""
    route(notifications_db, "referrals.referral.submitted")
    route(notifications_db, "referrals.referral.allocated")
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, sealed(app, mint_token(app.extensions["worklink"].settings.jwt,
                                                             role="adviser", org=ADVISERS, subject="ada")))
    for crafted in ("/messages?scope=organisation&done=read&marked=12", "/messages?done=read&marked=12",
                    "/messages?scope=organisation&done=read"):
        page = client.get(crafted).get_data(as_text=True)
        assert "marked as read." not in page and 'role="status"' not in page, crafted
    csrf = client.get("/messages").get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    marked = client.post("/messages/read", data={"csrf_token": csrf, "scope": "organisation"})
    assert "12" not in marked.headers["Location"] and "marked" not in marked.headers["Location"]
    shown = client.get(marked.headers["Location"] + "&marked=12").get_data(as_text=True)
    assert "2 messages marked as read." in shown and "12 messages" not in shown
    assert "marked as read." not in client.get(marked.headers["Location"]).get_data(as_text=True)  # once
    other = app.test_client()  # the cookie copied to another user's browser says nothing to them
    other.set_cookie(SESSION_COOKIE, sealed(app, mint_token(app.extensions["worklink"].settings.jwt,
                                                            role="adviser", org=ADVISERS, subject="bo")))
    client.post("/messages/read", data={"csrf_token": csrf, "scope": "organisation"})
    carried = client.get_cookie("worklink_marked_read", path="/messages")
    other.set_cookie("worklink_marked_read", carried.value, path="/messages")
    assert "marked as read." not in other.get("/messages?scope=organisation").get_data(as_text=True)


def _adviser_browser(app):
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, sealed(app, mint_token(app.extensions["worklink"].settings.jwt,
                                                             role="adviser", org=ADVISERS, subject="ada")))
    return client


def test_a_message_arriving_after_the_page_was_shown_stays_unread(app, notifications_db):
    """The form carries when its page was shown: "Mark all as read" marks what its reader could have seen, not a
    message that arrived meanwhile (before, it marked every unread one, so a new referral could go unnoticed)."""
    route(notifications_db, "referrals.referral.submitted")
    client = _adviser_browser(app)
    page = client.get("/messages?scope=organisation").get_data(as_text=True)
    form = page.split('action="/messages/read"')[1].split("</form>")[0]
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form))
    assert set(fields) == {"csrf_token", "scope", "up_to"}
    route(notifications_db, "referrals.referral.allocated")  # arrives while the page is open
    marked = client.post("/messages/read", data=fields)
    assert "1 message marked as read." in client.get(marked.headers["Location"]).get_data(as_text=True)
    assert unread(notifications_db) == [("organisation", ADVISERS)]
    with notifications_db.sessions() as session:
        (left,) = session.scalars(sa.select(Delivery.event_type).where(Delivery.read_at.is_(None)))
    assert left == "referrals.referral.allocated"

    crafted = client.post("/messages/read", data={**fields, "up_to": "yesterday"})
    assert crafted.status_code == 400 and "The form&#39;s time is not a date and time" in crafted.get_data(as_text=True)
    assert unread(notifications_db) == [("organisation", ADVISERS)]


def test_the_api_marks_up_to_when_the_list_was_read(app, notifications_db):
    route(notifications_db, "referrals.referral.submitted")
    client = app.test_client()
    adviser = {"Authorization": "Bearer " + mint_token(app.extensions["worklink"].settings.jwt, role="adviser",
                                                       org=ADVISERS, subject="ada")}
    listed = client.get("/inbox?scope=organisation", headers=adviser).get_json()
    assert listed["unread"] == 1 and listed["as_of"].endswith("+00:00")
    route(notifications_db, "referrals.referral.allocated")
    naive = client.post("/inbox/read", json={"scope": "organisation", "up_to": "2026-11-28T10:00:00"},
                        headers=adviser)
    assert naive.status_code == 422 and [e["pointer"] for e in naive.get_json()["errors"]] == ["/up_to"]
    assert client.post("/inbox/read", json={"scope": "organisation", "up_to": listed["as_of"]},
                       headers=adviser).get_json() == {"marked": 1}
    assert client.post("/inbox/read", json={"scope": "organisation"}, headers=adviser).get_json() == {"marked": 1}
    assert unread(notifications_db) == []
