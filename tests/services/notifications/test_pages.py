"""The inbox page and the admin page in real headless Chromium, checked with axe-core."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from worklink.auth import mint_token
from worklink_notifications import routing
from worklink_notifications.models import Delivery, UserChannelSettings, WebhookSubscriber
from tests.browser import assert_accessible, live_server, submit, width_at

pytestmark = pytest.mark.timeout(120)

ADVISERS, PRACTICE = str(uuid.uuid4()), str(uuid.uuid4())


@pytest.fixture()
def database_url(tmp_path):  # pages: SQLite is enough (the API tests run on both)
    return f"sqlite:///{tmp_path / 'pages.db'}"


def route(database, event_type: str) -> None:
    event = SimpleNamespace(id=str(uuid.uuid4()), type=event_type, data={
        "referral_id": uuid.uuid4(), "status": "x", "referrer_org_id": uuid.UUID(PRACTICE),
        "assigned_org_id": uuid.UUID(ADVISERS), "occurred_at": datetime.now(timezone.utc)})
    with database.transaction() as session:
        routing.route_event(session, event)


def sign_in(page, base: str, token: str, path: str) -> None:
    page.goto(f"{base}{path}")
    page.get_by_label("Access token").fill(token)
    submit(page, page.get_by_role("button", name="Sign in"))
    assert page.url.startswith(f"{base}{path}")


def test_an_adviser_reads_the_organisation_inbox_and_marks_a_message_read(app, notifications_db, page):
    route(notifications_db, "referrals.referral.submitted")
    route(notifications_db, "referrals.referral.allocated")
    token = mint_token(app.extensions["worklink"].settings.jwt, role="adviser", org=ADVISERS, subject="ada")
    with live_server(app) as base:
        sign_in(page, base, token, "/messages")
        assert page.get_by_role("heading", level=1).inner_text() == "Messages"
        assert page.title() == "Your messages – Messages – WorkLink"  # each inbox has its own title
        assert "There are no messages here yet." in page.content()  # her own inbox
        assert_accessible(page)

        submit(page, page.get_by_role("link", name="Your organisation"))
        assert page.get_by_role("heading", level=2).first.inner_text() == "Your organisation (2)"
        assert page.title() == "Your organisation – Messages – WorkLink"
        assert page.get_by_text("2 unread").is_visible()
        assert_accessible(page)
        submit(page, page.get_by_role("button", name="Mark as read: New referral"))
        assert "scope=organisation" in page.url
        assert page.get_by_text("1 unread").is_visible()
        assert page.get_by_role("button", name="Mark as read: New referral").count() == 0
    with notifications_db.sessions() as session:
        read = session.scalars(sa.select(Delivery.message_code).where(Delivery.read_at.is_not(None))).all()
    assert read == ["referral_submitted"]


def test_alliance_admin_sees_failed_deliveries_rules_and_subscribers_and_resends(app, notifications_db, page):
    with notifications_db.transaction() as session:
        session.add(WebhookSubscriber(organisation_id=PRACTICE, url="https://crm.practice.example/hooks",
                                      secret="whsec_AAAA"))
        session.add(WebhookSubscriber(organisation_id=ADVISERS, url="https://crm.advisers.example/hooks",
                                      secret="whsec_BBBB", consecutive_failures=7,
                                      failing_since=datetime(2026, 11, 26, 8, 0, tzinfo=timezone.utc),
                                      last_error="ReceiverAnswered: HTTP 502 from the receiver"))
    route(notifications_db, "referrals.referral.accepted")
    with notifications_db.transaction() as session:
        session.execute(sa.update(Delivery).where(Delivery.channel == "webhook")
                        .values(status="dead", attempts=6, last_error="HTTP 503 from the receiver"))
    settings = app.extensions["worklink"].settings
    adviser = mint_token(settings.jwt, role="adviser", org=ADVISERS)
    admin = mint_token(settings.jwt, role="alliance_admin", subject="alex")
    with live_server(app) as base:
        page.goto(f"{base}/signin")
        page.get_by_label("Access token").fill(adviser)
        submit(page, page.get_by_role("button", name="Sign in"))
        denied = page.goto(f"{base}/admin")
        assert denied.status == 403
        page.context.clear_cookies()  # sign the adviser out

        sign_in(page, base, admin, "/admin")
        assert page.get_by_role("heading", name="Failed deliveries (1)").is_visible()
        assert page.get_by_text("HTTP 503 from the receiver").is_visible()
        hooks = page.get_by_role("cell", name="https://crm.practice.example/hooks", exact=True)
        assert hooks.count() == 2  # failed + subscriber (the re-send button's name says it too)
        assert page.get_by_role("cell", name="Working", exact=True).count() == 1
        failing = page.get_by_role("cell", name="Failing since 26 November 2026, 08:00 GMT, 7 tries in a row; "
                                                "last: ReceiverAnswered: HTTP 502 from the receiver")
        assert failing.count() == 1
        assert_accessible(page)
        assert width_at(page) <= 320  # tables scroll in their own region, not the page
        assert page.get_by_role("region", name="Routing rules (scrolls sideways on a narrow screen)").is_visible()
        assert_accessible(page)
        page.set_viewport_size({"width": 1280, "height": 800})

        submit(page, page.get_by_role("button", name="Re-send referrals.referral.accepted by webhook"))
        assert page.get_by_role("status").inner_text().split() == "Information: Queued to send again.".split()
        assert page.get_by_role("heading", name="Failed deliveries (0)").is_visible()
        referrer = "the organisation that made the referral"  # referrer_org, in words
        submit(page, page.get_by_role("button", name=f"Turn off referrals.referral.accepted for {referrer}"))
        submit(page, page.get_by_role("button", name="Yes, turn it off"))  # asked first (test_rule_turn_off)
        assert page.get_by_role("button", name=f"Turn on referrals.referral.accepted for {referrer}").is_visible()
        assert page.get_by_role("status").inner_text().split() \
            == f"Information: referrals.referral.accepted → {referrer} is now off.".split()
        assert "now" not in page.url and "off" not in page.url  # a code in the address, never the words
        assert_accessible(page)

        page.set_viewport_size({"width": 320, "height": 800})  # the longest event type in a notice wraps
        submit(page, page.get_by_role(
            "button", name="Turn off adjustments.employer_response.recorded for the clinician named by the event"))
        assert page.evaluate("document.documentElement.scrollWidth") <= 320  # the question names the rule
        submit(page, page.get_by_role("button", name="Yes, turn it off"))
        assert "is now off" in page.get_by_role("status").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
        page.set_viewport_size({"width": 1280, "height": 800})

        # A crafted link cannot put its own words on the page as the service's notice.
        for crafted in ("notice=Your+session+has+expired.+Call+the+helpdesk", "done=Call+the+helpdesk",
                        f"done=rule&rule={uuid.uuid4()}", "done=rule&rule=not-a-rule"):
            page.goto(f"{base}/admin?{crafted}")
            assert page.get_by_role("heading", name="Notifications administration").is_visible()
            # (The address itself, crafted words and all, is in the timeout warning's link back after signing in.)
            assert page.get_by_role("status").count() == 0 and "helpdesk" not in page.locator("main").inner_html()
    with notifications_db.sessions() as session:
        assert session.scalar(sa.select(Delivery.status).where(Delivery.channel == "webhook")) == "pending"


def _org_inbox_of(notifications_db, count: int) -> list[str]:
    """`count` items in the advisers' organisation inbox, oldest first; returns their referral ids."""
    ids = []
    for n in range(count):
        referral = uuid.uuid4()
        event = SimpleNamespace(id=f"e{n}", type="referrals.referral.submitted", data={
            "referral_id": referral, "assigned_org_id": uuid.UUID(ADVISERS)})
        with notifications_db.transaction() as session:
            routing.route_event(session, event)
        ids.append(str(referral))
    return ids


def test_every_message_is_reachable_page_by_page_without_javascript(app, notifications_db, no_js_page, page):
    referrals = _org_inbox_of(notifications_db, 53)
    token = mint_token(app.extensions["worklink"].settings.jwt, role="adviser", org=ADVISERS, subject="ada")
    with live_server(app) as base:
        sign_in(no_js_page, base, token, "/messages?scope=organisation")
        assert no_js_page.locator(".nhsuk-card").count() == 50
        # Told apart by their links to the referral (no id fragment is shown: it matched nothing a reader could find).
        assert referrals[-1] in no_js_page.content() and referrals[0] not in no_js_page.content()
        assert no_js_page.get_by_text("Page 1 of 2, newest first.").is_visible()

        submit(no_js_page, no_js_page.get_by_role("link", name="Older"))
        assert no_js_page.locator(".nhsuk-card").count() == 3
        assert referrals[0] in no_js_page.content()  # the oldest message is reachable
        submit(no_js_page, no_js_page.get_by_role("button", name="Mark as read: New referral").first)
        assert "page=2" in no_js_page.url and no_js_page.locator(".nhsuk-card--feature").count() == 2
        assert no_js_page.get_by_role("link", name="Newer").count() == 1
        assert no_js_page.get_by_role("link", name="Older").count() == 0

        sign_in(page, base, token, "/messages?scope=organisation&page=2")
        assert page.title() == "Your organisation (page 2 of 2) – Messages – WorkLink"
        assert_accessible(page)
        page.goto(f"{base}/messages?scope=organisation&page=abc")  # a hand-edited URL: the first page
        assert page.locator(".nhsuk-card").count() == 50


def test_a_page_of_messages_that_no_longer_exists_shows_the_last_one(app, notifications_db, no_js_page):
    """Page 2 held the oldest message; a read one on page 1 was deleted meanwhile (retention removes read messages,
    a newer capacity notice replaces older ones), so marking it read came back to a page 2 that no longer existed:
    "There are no messages here yet." under "Your organisation (50)", with no link to the 50."""
    _org_inbox_of(notifications_db, 51)
    token = mint_token(app.extensions["worklink"].settings.jwt, role="adviser", org=ADVISERS, subject="ada")
    with live_server(app) as base:
        sign_in(no_js_page, base, token, "/messages?scope=organisation&page=2")
        expect(no_js_page.locator(".nhsuk-card")).to_have_count(1)
        with notifications_db.transaction() as session:  # the newest, read and then removed
            newest = session.scalar(sa.select(Delivery.id).order_by(Delivery.created_at.desc()).limit(1))
            session.execute(sa.delete(Delivery).where(Delivery.id == newest))
        submit(no_js_page, no_js_page.get_by_role("button", name="Mark as read: New referral"))
        expect(no_js_page.get_by_role("heading", level=2).first).to_have_text("Your organisation (50)")
        expect(no_js_page.locator(".nhsuk-card")).to_have_count(50)
        expect(no_js_page.locator(".nhsuk-card--feature")).to_have_count(49)  # the one marked, read, is here
        assert no_js_page.get_by_text("There are no messages here yet.").count() == 0


def test_each_message_links_to_its_record_in_the_service_that_owns_it(app, notifications_db, page, monkeypatch):
    # Found on a walk through the running system: "Referral 70672877" matched nothing an adviser could
    # find (the queue shows references such as R-J9E2K6YJ), so a message was a dead end.
    monkeypatch.setenv("NOTIFICATIONS_REFERRALS_URL", "https://referrals.example/")
    monkeypatch.setenv("NOTIFICATIONS_ADJUSTMENTS_URL", "https://adjustments.example")
    monkeypatch.setenv("NOTIFICATIONS_DIRECTORY_URL", "https://directory.example")
    referral_id, suggestion_id, service_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    capacity = {"service_id": service_id, "organization_id": uuid.UUID(ADVISERS), "open_referrals": 3,
                "recorded_at": datetime.now(timezone.utc)}
    with notifications_db.transaction() as session:
        for event_type, data in (
                ("referrals.referral.submitted", {"referral_id": referral_id, "status": "submitted",
                                                  "assigned_org_id": uuid.UUID(ADVISERS),
                                                  "suggestion_id": uuid.uuid4()}),  # made from a suggestion
                ("adjustments.suggestion.issued", {"suggestion_id": suggestion_id,
                                                   "practice_id": uuid.UUID(ADVISERS)}),
                ("referrals.capacity.changed", {**capacity, "accepting_referrals": True}),
                ("referrals.capacity.changed", {**capacity, "accepting_referrals": False})):  # stopped taking them
            routing.route_event(session, SimpleNamespace(id=str(uuid.uuid4()), type=event_type, data={
                **data, "occurred_at": datetime.now(timezone.utc)}))
    token = mint_token(app.extensions["worklink"].settings.jwt, role="org_admin", org=ADVISERS)
    with live_server(app) as base:
        sign_in(page, base, token, "/messages?scope=organisation")
        named = {a.text_content(): a.get_attribute("href") for a in page.locator("main .nhsuk-card a").all()}
        links = {words.split(":")[0]: href for words, href in named.items()}
        assert links == {"Open the referral": f"https://referrals.example/queue/{referral_id}",
                         "Open the suggestion": f"https://adjustments.example/review/{suggestion_id}",
                         "Open the listing": f"https://directory.example/partner/services/{service_id}"}
        assert any(words.startswith("Open the referral: New referral, ") for words in named)  # says which message
        assert any(words.startswith("Open the listing: Not taking new referrals, ") for words in named)
        assert page.locator("main .nhsuk-card").count() == 3
        assert_accessible(page)


def test_a_message_says_when_it_came_in_uk_time(app, notifications_db):
    """Stored in UTC: a message from a summer afternoon said 12:00 for what was 13:00 in the UK. The zone is named
    (GMT or BST), as on /admin and the webhook page."""
    route(notifications_db, "referrals.referral.submitted")
    with notifications_db.transaction() as session:
        session.execute(sa.update(Delivery).values(created_at=datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)))
    token = mint_token(app.extensions["worklink"].settings.jwt, role="adviser", org=ADVISERS, subject="ada")
    html = app.test_client().get("/messages?scope=organisation", headers={
        "Authorization": f"Bearer {token}", "Accept": "text/html"}).get_data(as_text=True)
    assert '<time datetime="2026-07-01T13:00:00+01:00">1 July 2026, 13:00 BST</time>' in html  # named, as /admin does


def test_a_failing_webhook_says_since_when_in_uk_time_named(app, notifications_db):
    """"Failing since 01 Jul 2026 08:00 UTC" beside inbox times in UK time: the failures began at 09:00 BST."""
    with notifications_db.transaction() as session:
        session.add(WebhookSubscriber(organisation_id=PRACTICE, url="https://crm.practice.example/hooks",
                                      secret="whsec_AAAA", consecutive_failures=3, last_error="HTTP 503",
                                      failing_since=datetime(2026, 7, 1, 8, 0, tzinfo=timezone.utc)))
    token = mint_token(app.extensions["worklink"].settings.jwt, role="alliance_admin", subject="alex")
    html = app.test_client().get("/admin", headers={"Authorization": f"Bearer {token}", "Accept": "text/html"}
                                 ).get_data(as_text=True)
    assert "<strong>Failing</strong> since 1 July 2026, 09:00 BST, 3 tries in a row; last: HTTP 503" in html


def test_a_message_says_in_words_what_happened_and_shows_no_id_fragment(app, notifications_db, page, monkeypatch):
    """Items read "Referral 0a658e54": an id fragment nobody could look up. A missed target now says which target
    and when it was due (UK time) and how the referral stood; a request the alliance must find in the dead
    letters shows its whole id, labelled."""
    monkeypatch.setenv("NOTIFICATIONS_REFERRALS_URL", "https://referrals.example")
    referral_id, request_id = uuid.uuid4(), uuid.uuid4()
    with notifications_db.transaction() as session:
        routing.route_event(session, SimpleNamespace(id=str(uuid.uuid4()), type="referrals.referral.sla_breached", data={
            "referral_id": referral_id, "clock": "first_contact_attempt", "status": "accepted",
            "due_at": datetime(2026, 7, 1, 16, 0, tzinfo=timezone.utc), "assigned_org_id": uuid.UUID(ADVISERS),
            "detected_at": datetime(2026, 7, 2, 9, 0, tzinfo=timezone.utc)}))
        routing.route_event(session, SimpleNamespace(
            id=str(uuid.uuid4()), type="adjustments.referral_request.unanswered", data={
                "request_id": request_id, "suggestion_id": uuid.uuid4(), "practice_id": uuid.UUID(PRACTICE),
                "requested_at": datetime(2026, 7, 1, 9, 0, tzinfo=timezone.utc)}))
    settings = app.extensions["worklink"].settings
    lead = mint_token(settings.jwt, role="org_admin", org=ADVISERS, subject="lee")
    admin = mint_token(settings.jwt, role="alliance_admin", subject="alex")
    with live_server(app) as base:
        sign_in(page, base, lead, "/messages?scope=organisation")
        assert [" ".join(h.split()) for h in page.get_by_role("heading", level=3).all_inner_texts()] \
            == ["Unread: Referral overdue"]
        card = page.locator("main .nhsuk-card")
        assert card.locator("p").all_inner_texts()[:3] == [
            "A referral missed its target time.",
            "Missed target: a first attempt to contact the person, due by 1 July 2026, 17:00.",
            "The referral was accepted at the time."]
        assert card.get_by_role("link").get_attribute("href") == f"https://referrals.example/queue/{referral_id}"
        assert str(referral_id)[:8] not in card.inner_text()
        assert_accessible(page)
        page.context.clear_cookies()

        sign_in(page, base, admin, "/messages?scope=alliance")
        card = page.locator("main .nhsuk-card", has_text="Referral request not received")
        assert card.get_by_text(f"Request id: {request_id}", exact=True).is_visible()
        assert_accessible(page)


def test_every_failed_delivery_can_be_reached_and_re_sent_page_by_page(app, notifications_db, no_js_page, page):
    """/admin said "Failed deliveries (53)" and listed the newest 50, with no way to the other 3."""
    with notifications_db.transaction() as session:
        session.add(WebhookSubscriber(organisation_id=ADVISERS, url="https://crm.advisers.example/hooks",
                                      secret="whsec_AAAA"))
    _org_inbox_of(notifications_db, 53)
    with notifications_db.transaction() as session:
        session.execute(sa.update(Delivery).where(Delivery.channel == "webhook")
                        .values(status="dead", attempts=6, last_error="HTTP 503 from the receiver"))
        oldest = session.scalar(sa.select(Delivery.id).where(Delivery.channel == "webhook")
                                .order_by(Delivery.created_at, Delivery.id).limit(1))
    admin = mint_token(app.extensions["worklink"].settings.jwt, role="alliance_admin", subject="alex")
    resend_oldest = f'form[action="/admin/deliveries/{oldest}/resend"] button'
    with live_server(app) as base:
        sign_in(no_js_page, base, admin, "/admin")
        assert no_js_page.get_by_role("heading", name="Failed deliveries (53)").count() == 1
        assert no_js_page.get_by_role("button", name="Re-send").count() == 50
        assert no_js_page.locator(resend_oldest).count() == 0
        submit(no_js_page, no_js_page.get_by_role("link", name="Older failures"))
        assert no_js_page.get_by_role("button", name="Re-send").count() == 3
        assert no_js_page.get_by_text("Page 2 of 2, newest first.").count() == 1
        submit(no_js_page, no_js_page.locator(resend_oldest))  # the last page's re-send comes back to it
        assert "page=2" in no_js_page.url and no_js_page.get_by_role("button", name="Re-send").count() == 2
        assert no_js_page.get_by_role("link", name="Newer failures").count() == 1

        sign_in(page, base, admin, "/admin?page=2")
        assert page.title() == "Notifications administration (failed deliveries, page 2 of 2) – WorkLink"
        assert_accessible(page)
    with notifications_db.sessions() as session:
        assert session.get(Delivery, oldest).status == "pending"


def test_after_marking_a_message_read_the_keyboard_goes_on_from_that_message(app, notifications_db, page):
    """Each "Mark as read" reloaded the page at its top: a keyboard user working down 50 messages tabbed through
    the header and every message above again after each one."""
    _org_inbox_of(notifications_db, 5)
    token = mint_token(app.extensions["worklink"].settings.jwt, role="adviser", org=ADVISERS, subject="ada")
    with live_server(app) as base:
        sign_in(page, base, token, "/messages?scope=organisation")
        third = page.locator("main .nhsuk-card").nth(2)
        third.get_by_role("button", name="Mark as read").focus()
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.locator("main .nhsuk-card").nth(2).get_by_role("button").count() == 0  # read
        assert page.locator("main .nhsuk-card--feature").count() == 4
        page.keyboard.press("Tab")  # the message just read: its link
        assert third.evaluate("card => card.contains(document.activeElement)")
        page.keyboard.press("Tab")  # on down the list: the next message
        assert page.locator("main .nhsuk-card").nth(3).evaluate("card => card.contains(document.activeElement)")
        assert_accessible(page)


def test_each_failed_delivery_says_when_it_was_queued_and_its_re_send_button_which_it_is(app, notifications_db, page):
    """Every failed "New referral" e-mail's button was "Re-send referrals.referral.submitted by email": a screen
    reader's list of buttons told 50 apart by nothing, and nothing said whether a failure was today's or a week
    old, still worth re-sending."""
    with notifications_db.transaction() as session:
        for address in ("ada@advisers.example", "bo@advisers.example"):
            session.add(UserChannelSettings(user_id=address, organisation_id=ADVISERS, email=address,
                                            email_enabled=True))
    _org_inbox_of(notifications_db, 1)
    with notifications_db.transaction() as session:
        session.execute(sa.update(Delivery).where(Delivery.channel == "email").values(
            status="dead", attempts=6, last_error="SMTPRecipientsRefused 550",
            created_at=datetime(2026, 7, 1, 8, 30, tzinfo=timezone.utc)))
    admin = mint_token(app.extensions["worklink"].settings.jwt, role="alliance_admin", subject="alex")
    with live_server(app) as base:
        sign_in(page, base, admin, "/admin")
        names = [b.get_attribute("aria-label") for b in page.get_by_role("button", name="Re-send").all()]
        assert sorted(names) == [
            "Re-send referrals.referral.submitted by email to ada@advisers.example, queued 1 July 2026, 09:30 BST",
            "Re-send referrals.referral.submitted by email to bo@advisers.example, queued 1 July 2026, 09:30 BST"]
        assert page.get_by_role("columnheader", name="Queued (UK time)").count() == 1
        assert page.get_by_role("cell", name="1 July 2026, 09:30 BST", exact=True).count() == 2
        assert_accessible(page)


def test_each_mark_as_read_button_says_which_message_it_marks(app, notifications_db, page):
    """Fifty "Mark as read: New referral" buttons: a screen reader's list of buttons could not tell them apart.
    Each now names its message's time too, as its link does."""
    _org_inbox_of(notifications_db, 2)
    with notifications_db.transaction() as session:
        for hour, delivery in zip((8, 9), session.scalars(sa.select(Delivery).order_by(Delivery.created_at))):
            delivery.created_at = datetime(2026, 7, 1, hour, 0, tzinfo=timezone.utc)
    token = mint_token(app.extensions["worklink"].settings.jwt, role="adviser", org=ADVISERS, subject="ada")
    with live_server(app) as base:
        sign_in(page, base, token, "/messages?scope=organisation")
        assert [b.get_attribute("aria-label") for b in page.get_by_role("button", name="Mark as read").all()] == [
            "Mark as read: New referral, 1 July 2026, 10:00 BST", "Mark as read: New referral, 1 July 2026, 09:00 BST"]
        assert_accessible(page)
