"""/admin's failed deliveries offer Re-send only where a re-send can happen, and a second press is not an error.

Every dead delivery had a Re-send button, though a one-time code, a resident's message whose address was erased and
one the retention schedule emptied are never re-sent: each press ended on a 409 error page with no way back. And a
Re-send pressed twice (a double click without JavaScript, or a second administrator, or a second tab showing the
page from before) ended on "Only dead deliveries can be re-sent; this one is pending" - an error for what had
worked."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.browser import assert_accessible, live_server, sign_in, submit, width_at
from tests.services.notifications.test_pages import ADVISERS, database_url  # noqa: F401 - SQLite
from worklink.auth import mint_token
from worklink_notifications.models import PLATFORM, Delivery, WebhookSubscriber

pytestmark = pytest.mark.timeout(120)

QUEUED = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def dead(session, **row) -> uuid.UUID:
    delivery = Delivery(id=uuid.uuid4(), event_id=str(uuid.uuid4()), status="dead", attempts=6,
                        last_error="SMTPRecipientsRefused 550", created_at=QUEUED, **row)
    session.add(delivery)
    return delivery.id


def failed_deliveries(database) -> dict[str, uuid.UUID]:
    """A webhook that can be re-sent, and three deliveries that cannot."""
    with database.transaction() as session:
        hook = WebhookSubscriber(organisation_id=ADVISERS, url="https://crm.advisers.example/hooks", secret="whsec_A")
        session.add(hook)
        session.flush()
        person = {"event_type": "notifications.person_message.requested", "recipient_kind": "person",
                  "recipient_id": str(uuid.uuid4()), "channel": "email"}
        return {
            "webhook": dead(session, event_type="referrals.referral.accepted", recipient_kind="subscriber",
                            recipient_id=str(hook.id), channel="webhook", message_code="referral_accepted",
                            address=hook.url),
            "code": dead(session, **person, message_code="self_referral_code", address="sam@example.org"),
            "erased": dead(session, **person, message_code="referral_closed", address=None),
            "removed": dead(session, event_type="referrals.referral.accepted", recipient_kind="contact",
                            recipient_id=str(uuid.uuid4()), channel="email", message_code="referral_accepted",
                            address=None, redacted_at=QUEUED + timedelta(days=33)),
        }


def test_only_a_delivery_that_can_be_re_sent_has_a_re_send_button_and_the_others_say_why(app, notifications_db, page):
    ids = failed_deliveries(notifications_db)
    admin = mint_token(app.extensions["worklink"].settings.jwt, role="alliance_admin", subject="alex")
    with live_server(app) as base:
        sign_in(page, base, admin, "/admin")
        expect(page.get_by_role("heading", name="Failed deliveries (4)")).to_be_visible()
        buttons = page.get_by_role("button", name="Re-send")
        expect(buttons).to_have_count(1)
        assert buttons.get_attribute("aria-label").startswith("Re-send referrals.referral.accepted by webhook")
        for words in ("A one-time code is never sent twice; the person asks for a new one.",
                      "The address was erased (a resident's address is kept 7 days)",
                      "Its address and details were removed under the retention schedule"):
            expect(page.get_by_role("cell", name=f"Cannot be re-sent: {words}")).to_have_count(1)
        assert_accessible(page)
        assert width_at(page) <= 320
    with notifications_db.sessions() as session:  # nothing changed by looking
        assert {session.get(Delivery, i).status for i in ids.values()} == {"dead"}


def test_re_send_pressed_again_from_a_page_shown_before_says_it_is_already_queued(app, notifications_db, page):
    ids = failed_deliveries(notifications_db)
    admin = mint_token(app.extensions["worklink"].settings.jwt, role="alliance_admin", subject="alex")
    with live_server(app) as base:
        sign_in(page, base, admin, "/admin")
        other_tab = page.context.new_page()  # the same page, open before the first press
        other_tab.goto(f"{base}/admin")
        submit(page, page.get_by_role("button", name="Re-send"))
        expect(page.get_by_role("status")).to_have_text("Information: Queued to send again.")

        submit(other_tab, other_tab.get_by_role("button", name="Re-send"))  # was a 409 error page
        expect(other_tab.get_by_role("heading", level=1)).to_have_text("Notifications administration")
        expect(other_tab.get_by_role("status")).to_have_text(
            "Information: That delivery was already queued to send again, so it was not queued a second time.")
        expect(other_tab.get_by_role("heading", name="Failed deliveries (3)")).to_be_visible()
        assert_accessible(other_tab)
    with notifications_db.sessions() as session:
        assert session.get(Delivery, ids["webhook"]).status == "pending"


def test_a_residents_delivery_found_already_re_sent_is_audited_as_read(app, notifications_db):
    from tests.services.notifications.test_where_told_page import browser, post

    with notifications_db.transaction() as session:
        resident = dead(session, event_type="notifications.person_message.requested", recipient_kind="person",
                        recipient_id="person-7", channel="email", message_code="referral_closed",
                        address="sam@example.org")
    client = browser(app, role="alliance_admin", org=None, subject="alex")
    for _ in range(2):  # the second: a double click without JavaScript
        answer = post(client, f"/admin/deliveries/{resident}/resend", {"page": "1"})
        assert answer.status_code == 302, answer.get_data(as_text=True)
    assert answer.headers["Location"].startswith("/admin?done=resent-before")
    audit = PLATFORM.audit_log
    with notifications_db.sessions() as session:
        entries = session.execute(sa.select(audit.c.action, audit.c.person_id).where(
            audit.c.resource_id == str(resident)).order_by(audit.c.id)).all()
    assert [tuple(entry) for entry in entries] == [("update", "person-7"), ("read", "person-7")]


def test_a_refused_re_send_of_a_residents_delivery_is_audited_as_a_read(app, notifications_db):
    """A refusal says how the resident's message stands (a code never sent twice, an address erased, pending): the
    409 was raised inside the transaction, so its audit entry - if any had been written - went with the rollback,
    and that look at the person's record left no trace."""
    from tests.services.notifications.test_where_told_page import bearer, browser, post

    with notifications_db.transaction() as session:
        code = dead(session, event_type="notifications.person_message.requested", recipient_kind="person",
                    recipient_id="person-8", channel="email", message_code="self_referral_code",
                    address="sam@example.org")
    api = app.test_client().post(f"/deliveries/{code}/resend", headers=bearer(app, "alliance_admin", None))
    assert api.status_code == 409 and api.mimetype == "application/problem+json"
    assert api.get_json()["status_now"] == "dead"
    page = post(browser(app, role="alliance_admin", org=None, subject="alex"), f"/admin/deliveries/{code}/resend",
                {"page": "1"})  # a page shown before the button was taken away
    assert page.status_code == 409 and "A one-time code is never sent twice" in page.get_data(as_text=True)
    audit = PLATFORM.audit_log
    with notifications_db.sessions() as session:
        entries = session.execute(sa.select(audit.c.action, audit.c.person_id).where(
            audit.c.resource_id == str(code)).order_by(audit.c.id)).all()
        assert session.get(Delivery, code).status == "dead"
    assert [tuple(entry) for entry in entries] == [("read", "person-8"), ("read", "person-8")]
