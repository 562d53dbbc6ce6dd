"""The settings page behind the e-mails' "change your notification settings": in real Chromium with axe (at 320 px
and on a desktop), without JavaScript, refused without its CSRF token, and saving through the API's own rules
(what the page saves GET /me/channels reads, audited as PUT /me/channels is)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from tests.browser import assert_accessible, live_server, sealed, submit, width_at
from tests.services.notifications.test_pages import ADVISERS, database_url, sign_in  # noqa: F401 - SQLite
from worklink.auth import mint_token
from worklink.web.pages import SESSION_COOKIE
from worklink_notifications.channels import digest_time
from worklink_notifications.models import PLATFORM, UserChannelSettings

pytestmark = pytest.mark.timeout(120)


def ada(app) -> str:
    return mint_token(app.extensions["worklink"].settings.jwt, role="adviser", org=ADVISERS, subject="ada")


def saves(database) -> list:
    audit = PLATFORM.audit_log
    with database.sessions() as session:
        return session.execute(sa.select(audit.c.actor, audit.c.action, audit.c.purpose).where(
            audit.c.resource_type == "user_channel_settings").order_by(audit.c.id)).all()


def test_a_member_finds_the_settings_from_the_inbox_and_chooses_a_daily_digest(app, notifications_db, page):
    token = ada(app)
    with live_server(app) as base:
        sign_in(page, base, token, "/messages")
        submit(page, page.get_by_role("link", name="Notification settings"))
        assert page.url == f"{base}/settings"
        assert page.title() == "Your notification settings – WorkLink"
        assert page.get_by_role("heading", level=1).inner_text() == "Your notification settings"
        # The defaults, chosen: inbox on, no e-mail.
        assert page.get_by_label("Keep messages addressed to you in your inbox", exact=True).is_checked()
        assert page.get_by_label("No emails", exact=True).is_checked()
        daily = page.get_by_label(f"One email a day, soon after {digest_time(17)}, listing what came in since the "
                                  "last one")  # the UTC hour as a UK clock reads it today
        assert page.get_by_text("only they can change how often it gets emails or remove it").is_visible()
        assert_accessible(page)
        assert width_at(page) <= 320
        assert_accessible(page)
        page.set_viewport_size({"width": 1280, "height": 800})

        daily.check()  # no address: the API's rule, said on the page
        submit(page, page.get_by_role("button", name="Save settings"))
        assert page.title() == "Error: Your notification settings – WorkLink"
        summary = page.get_by_role("link", name="Enter the email address to send your emails to, or choose no emails")
        assert summary.get_attribute("href") == "#email"
        assert daily.is_checked()  # the answer kept
        assert_accessible(page)

        page.get_by_label("Email address").fill("ada@advisers.example")
        submit(page, page.get_by_role("button", name="Save settings"))
        assert page.url == f"{base}/settings?done=saved"  # redirected: a reload posts nothing again
        assert page.get_by_role("status").inner_text().split() \
            == "Information: Your notification settings are saved.".split()
        assert daily.is_checked() and page.get_by_label("Email address").input_value() == "ada@advisers.example"
        assert_accessible(page)

    mine = app.test_client().get("/me/channels", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert {k: mine[k] for k in ("email", "email_enabled", "frequency", "inbox_enabled", "organisation_id")} == {
        "email": "ada@advisers.example", "email_enabled": True, "frequency": "daily", "inbox_enabled": True,
        "organisation_id": ADVISERS}
    assert saves(notifications_db) == [("ada", "update", "own notification settings changed")]


def test_the_form_works_without_javascript_and_a_bad_address_is_named(app, notifications_db, no_js_page):
    page = no_js_page
    with live_server(app) as base:
        sign_in(page, base, ada(app), "/settings")
        page.get_by_label("An email for each message, as it comes in").check()
        page.get_by_label("Email address").fill("not an address")
        submit(page, page.get_by_role("button", name="Save settings"))
        assert page.get_by_role("link", name="Enter an email address in the correct format, like name@example.com"
                                ).get_attribute("href") == "#email"
        assert page.locator("#email-error").is_visible()
        page.get_by_label("Email address").fill("ada@advisers.example")
        page.get_by_label("Do not keep messages addressed to you in your inbox").check()
        submit(page, page.get_by_role("button", name="Save settings"))
        assert page.get_by_text("Your notification settings are saved.").is_visible()
    with notifications_db.sessions() as session:
        saved = session.get(UserChannelSettings, "ada")
        assert (saved.email, saved.email_enabled, saved.frequency, saved.inbox_enabled) == (
            "ada@advisers.example", True, "immediate", False)


def test_the_api_and_the_page_agree_and_turning_email_off_keeps_the_address(app, notifications_db):
    token = ada(app)
    api = app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    assert api.put("/me/channels", headers=bearer, json={"email": "ada@advisers.example", "email_enabled": True,
                                                         "frequency": "daily"}).status_code == 200
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, sealed(app, token))
    html = client.get("/settings").get_data(as_text=True)
    assert 'value="daily" checked' in html and 'value="ada@advisers.example"' in html
    csrf = html.split('name="csrf_token" value="')[1].split('"')[0]
    answer = client.post("/settings", data={"csrf_token": csrf, "inbox": "yes", "email_choice": "off",
                                            "email": "ada@advisers.example"})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/settings?done=saved")
    mine = api.get("/me/channels", headers=bearer).get_json()
    assert (mine["email_enabled"], mine["email"], mine["frequency"]) == (False, "ada@advisers.example", "daily")
    assert [purpose for _actor, _action, purpose in saves(notifications_db)] \
        == ["own notification settings changed"] * 2  # the API's save and the page's alike


def test_a_post_without_its_csrf_token_is_refused_and_saves_nothing(app, notifications_db):
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, sealed(app, ada(app)))
    refused = client.post("/settings", data={"inbox": "yes", "email_choice": "immediate",
                                             "email": "forged@elsewhere.example"})
    assert refused.status_code == 400
    with notifications_db.sessions() as session:
        assert session.get(UserChannelSettings, "ada") is None
    assert saves(notifications_db) == []


def test_a_tampered_choice_is_an_error_not_a_save(app, notifications_db):
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, sealed(app, ada(app)))
    csrf = client.get("/settings").get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    answer = client.post("/settings", data={"csrf_token": csrf, "inbox": "maybe", "email_choice": "hourly",
                                            "email": ""})
    assert answer.status_code == 400
    text = answer.get_data(as_text=True)
    assert 'href="#inbox"' in text and 'href="#email_choice"' in text
    with notifications_db.sessions() as session:
        assert session.get(UserChannelSettings, "ada") is None


def test_the_digest_hour_is_said_in_uk_time_for_the_day():  # an hour of the UK clock (test_digest_uk_hour)
    assert digest_time(17, datetime(2026, 11, 27, 9, tzinfo=timezone.utc)) == "17:00 GMT"
    assert digest_time(17, datetime(2026, 7, 1, 9, tzinfo=timezone.utc)) == "17:00 BST"
    assert digest_time(23, datetime(2026, 7, 1, 9, tzinfo=timezone.utc)) == "23:00 BST"
