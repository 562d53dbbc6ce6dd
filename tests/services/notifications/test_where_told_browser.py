""""Where your organisation is told" in real headless Chromium, checked with axe-core: an organisation's
administrator finds it in the header, adds an email contact (after an error), adds a webhook and copies its
signing secret, shown once, then rotates it and changes its address and events; and the same without JavaScript. Page rules: test_where_told_page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import assert_accessible, live_server, submit, width_at
from tests.services.notifications.test_pages import ADVISERS, database_url, sign_in  # noqa: F401 - SQLite
from worklink.auth import mint_token
from worklink_notifications import webhook_secrets
from worklink_notifications.models import OrganisationContact, WebhookSubscriber

pytestmark = pytest.mark.timeout(180)


def lee(app) -> str:
    return mint_token(app.extensions["worklink"].settings.jwt, role="org_admin", org=ADVISERS, subject="lee")


def current_secret(app, database) -> str:
    with database.sessions() as session:
        [hook] = session.query(WebhookSubscriber).all()
        return webhook_secrets.opened(hook.secret, app.config["WEBHOOK_SECRET_SEAL"])


def test_an_administrator_adds_a_contact_and_a_webhook_and_rotates_its_secret(app, notifications_db, page,
                                                                              monkeypatch):
    monkeypatch.setenv("NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE", "0")  # as production: no private targets
    with live_server(app) as base:
        sign_in(page, base, lee(app), "/messages")
        submit(page, page.get_by_role("link", name="Where your organisation is told"))
        assert page.url == f"{base}/where-told/{ADVISERS}"
        assert page.title() == "Where your organisation is told – WorkLink"
        assert_accessible(page)

        submit(page, page.get_by_role("button", name="Add an email contact"))
        page.get_by_label("Email address").fill("team@advisers")
        submit(page, page.get_by_role("button", name="Add the contact"))
        assert page.title() == "Error: Add an email contact – Where the organisation is told – WorkLink"
        link = page.get_by_role("link", name="Enter an email address in the correct format, like team@example.org")
        assert link.get_attribute("href") == "#email"
        assert_accessible(page)
        page.get_by_label("Email address").fill("team@advisers.example")
        page.get_by_label("One email a day", exact=False).check()
        submit(page, page.get_by_role("button", name="Add the contact"))
        assert page.get_by_role("status").inner_text().split() == "Information: The contact was added.".split()
        assert page.get_by_role("cell", name="team@advisers.example", exact=True).is_visible()
        assert page.get_by_role("cell", name="One email a day", exact=True).is_visible()
        assert_accessible(page)

        submit(page, page.get_by_role("button", name="Add a webhook"))
        assert_accessible(page)
        page.get_by_label("Web address of your system's webhook receiver").fill("https://crm.advisers.example/hooks")
        page.get_by_label("referrals.referral.submitted").check()
        submit(page, page.get_by_role("button", name="Add the webhook"))
        assert page.get_by_role("heading", level=1).inner_text() == "Copy the signing secret now"
        assert "It will not be shown again" in page.locator(".nhsuk-warning-callout").inner_text()
        secret = page.locator("#signing-secret").inner_text()
        assert secret == current_secret(app, notifications_db) and secret.startswith("whsec_")
        assert_accessible(page)
        assert width_at(page) <= 320  # the long secret wraps
        assert_accessible(page)
        page.set_viewport_size({"width": 1280, "height": 800})
        page.reload()
        assert page.get_by_role("heading", level=1).inner_text() == "The signing secret is not shown again"
        assert secret not in page.content()

        submit(page, page.get_by_role("button", name="Back to webhooks"))
        assert page.get_by_role("cell", name="https://crm.advisers.example/hooks", exact=True).is_visible()
        submit(page, page.get_by_role("link", name="Rotate secret of https://crm.advisers.example/hooks"))
        assert page.get_by_role("heading", level=1).inner_text() == "Rotate the signing secret?"
        assert_accessible(page)
        submit(page, page.get_by_role("button", name="Rotate the secret"))
        rotated = page.locator("#signing-secret").inner_text()
        assert rotated != secret and rotated == current_secret(app, notifications_db)
        submit(page, page.get_by_role("button", name="Back to webhooks"))
        assert "The old secret also signs until" in page.locator("#webhooks ~ div").first.inner_text()
        assert_accessible(page)

        submit(page, page.get_by_role("link", name="Change https://crm.advisers.example/hooks"))
        assert page.title() == "Change a webhook – Where the organisation is told – WorkLink"
        assert page.get_by_label("referrals.referral.submitted").is_checked()
        assert_accessible(page)
        page.get_by_label("Web address of your system's webhook receiver").fill("https://127.0.0.1/hooks")
        submit(page, page.get_by_role("button", name="Save the webhook"))
        assert page.title() == "Error: Change a webhook – Where the organisation is told – WorkLink"
        assert page.get_by_role("link", name="127.0.0.1 is not a public internet address.").get_attribute(
            "href") == "#url"
        assert_accessible(page)
        page.get_by_label("Web address of your system's webhook receiver").fill("https://crm.advisers.example/v2")
        page.get_by_label("referrals.referral.submitted").uncheck()
        submit(page, page.get_by_role("button", name="Save the webhook"))
        assert "The webhook was changed." in page.get_by_role("status").inner_text()
        assert page.get_by_role("cell", name="https://crm.advisers.example/v2", exact=True).is_visible()
        assert page.get_by_role("cell", name="Every event the organisation is sent", exact=True).is_visible()
        assert current_secret(app, notifications_db) == rotated  # a change keeps the secret


def test_the_pages_work_without_javascript(app, notifications_db, no_js_page):
    page = no_js_page
    with live_server(app) as base:
        sign_in(page, base, lee(app), "/where-told")
        submit(page, page.get_by_role("button", name="Add a webhook"))
        page.get_by_label("Web address of your system's webhook receiver").fill("https://crm.advisers.example/hooks")
        submit(page, page.get_by_role("button", name="Add the webhook"))
        assert page.locator("#signing-secret").inner_text() == current_secret(app, notifications_db)
        submit(page, page.get_by_role("button", name="Back to webhooks"))
        submit(page, page.get_by_role("link", name="Change https://crm.advisers.example/hooks"))
        page.get_by_label("referrals.referral.accepted").check()
        submit(page, page.get_by_role("button", name="Save the webhook"))
        assert "The webhook was changed." in page.get_by_role("status").inner_text()
        assert page.get_by_role("cell", name="referrals.referral.accepted", exact=True).is_visible()
        submit(page, page.get_by_role("link", name="Turn off https://crm.advisers.example/hooks"))
        submit(page, page.get_by_role("button", name="Yes, turn it off"))
        assert "The webhook was turned off." in page.get_by_role("status").inner_text()
        submit(page, page.get_by_role("button", name="Turn on https://crm.advisers.example/hooks"))
        submit(page, page.get_by_role("link", name="Remove https://crm.advisers.example/hooks"))
        submit(page, page.get_by_role("button", name="Yes, remove it"))
        assert "No partner systems receive webhooks yet." in page.content()


def test_a_contact_changed_meanwhile_comes_back_with_what_was_typed_and_what_is_saved(app, notifications_db, page):
    """Another administrator saved the contact while Lee's page was open: Lee's save is stopped (409) and the form
    comes back, accessible, with his address kept and the one saved now named; saving again saves his."""
    with notifications_db.transaction() as session:
        contact = OrganisationContact(organisation_id=ADVISERS, email="team@advisers.example", purpose="team")
        session.add(contact)
        session.flush()
        contact_id = contact.id
    bob = mint_token(app.extensions["worklink"].settings.jwt, role="org_admin", org=ADVISERS, subject="bob")
    with live_server(app) as base:
        sign_in(page, base, lee(app), f"/where-told/{ADVISERS}/contacts/{contact_id}")
        saved = app.test_client().put(f"/organisations/{ADVISERS}/contacts/{contact_id}", headers={
            "Authorization": f"Bearer {bob}"}, json={"email": "bob@advisers.example", "version": 1})
        assert saved.status_code == 200
        page.get_by_label("Email address").fill("lee@advisers.example")
        submit(page, page.get_by_role("button", name="Save the contact"))
        expect(page).to_have_title("Error: Change an email contact – Where the organisation is told – WorkLink")
        expect(page.get_by_role("link", name="Not saved: someone else changed this contact after you opened the "
                                             "page. Saved now: \u201cbob@advisers.example\u201d.", exact=False)
               ).to_have_attribute("href", "#email")
        expect(page.get_by_label("Email address")).to_have_value("lee@advisers.example")
        assert_accessible(page)
        submit(page, page.get_by_role("button", name="Save the contact"))
        expect(page.get_by_role("status")).to_contain_text("The contact was changed.")
        expect(page.get_by_role("cell", name="lee@advisers.example", exact=True)).to_be_visible()

        hook = app.test_client().post("/webhook-subscribers", json={"url": "https://crm.advisers.example/hooks"},
                                      headers={"Authorization": f"Bearer {bob}"}).get_json()["id"]
        app.test_client().post(f"/webhook-subscribers/{hook}/rotate-secret", json={},
                               headers={"Authorization": f"Bearer {bob}"})
        page.goto(f"{base}/where-told/{ADVISERS}/webhooks/{hook}/rotate?changed=yes")  # a rotation sent twice
        expect(page.get_by_role("status")).to_contain_text("so nothing was rotated now")
        expect(page.get_by_role("button", name="Replace the newest secret")).to_be_visible()
        assert_accessible(page)
        submit(page, page.get_by_role("button", name="Replace the newest secret"))
        expect(page.locator("#signing-secret")).to_have_text(current_secret(app, notifications_db))
