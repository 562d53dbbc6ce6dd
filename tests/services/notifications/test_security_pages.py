"""The notifications pages' security: every page signed-in only, for its own role, with the security headers and
no form taken without its CSRF token; and under the Content-Security-Policy in real Chromium: inboxes, settings,
admin and where an organisation is told."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.browser import live_server, sealed, submit
from tests.platform.test_security_browser import frontend_started, refusals_watched
from tests.services.notifications.test_pages import ADVISERS, route
from worklink.auth import mint_token
from worklink.web.pages import SESSION_COOKIE
from worklink_notifications.models import OrganisationContact, RoutingRule, WebhookSubscriber

pytestmark = pytest.mark.timeout(120)


@pytest.fixture()
def database_url(tmp_path):  # pages: SQLite is enough
    return f"sqlite:///{tmp_path / 'pages.db'}"


# Every page a person opens (GET), who may open it, and the form it sends (POST path and fields), if any.
PAGES = {
    "/messages": ("anyone", "/messages/read", {"scope": "organisation"}),
    "/settings": ("anyone", "/settings", {"inbox": "no", "email_choice": "off", "email": ""}),
    "/admin": ("alliance_admin", "/admin/rules/{rule}", {"enabled": "false", "confirmed": "yes"}),
    "/admin/rules/{rule}/turn-off": ("alliance_admin", "/admin/rules/{rule}", {"enabled": "false", "confirmed": "yes"}),
    "/where-told": ("alliance_admin", "/where-told/{org}/contacts/new", {"email": "a@b.example"}),
    "/where-told/{org}": ("org_admin", "/where-told/{org}/webhooks/{hook}/rotate", {}),
    "/where-told/{org}/contacts/new": ("org_admin", "/where-told/{org}/contacts/new", {"email": "a@b.example"}),
    "/where-told/{org}/contacts/{contact}": ("org_admin", "/where-told/{org}/contacts/{contact}",
                                             {"email": "a@b.example"}),
    "/where-told/{org}/contacts/{contact}/remove": ("org_admin", "/where-told/{org}/contacts/{contact}/remove",
                                                    {"confirmed": "yes"}),
    "/where-told/{org}/webhooks/new": ("org_admin", "/where-told/{org}/webhooks/new", {"url": "https://h.example/"}),
    "/where-told/{org}/webhooks/{hook}": ("org_admin", "/where-told/{org}/webhooks/{hook}", {"url": "https://h.example/"}),
    "/where-told/{org}/webhooks/{hook}/turn-off": ("org_admin", "/where-told/{org}/webhooks/{hook}/active",
                                                   {"active": "false", "confirmed": "yes"}),
    "/where-told/{org}/webhooks/{hook}/remove": ("org_admin", "/where-told/{org}/webhooks/{hook}/remove",
                                                 {"confirmed": "yes"}),
    "/where-told/{org}/webhooks/{hook}/rotate": ("org_admin", "/where-told/{org}/webhooks/{hook}/rotate", {}),
    "/where-told/{org}/webhooks/{hook}/secret": ("org_admin", "/where-told/{org}/webhooks/{hook}/rotate", {}),
}
ROUTE_ARGS = {"{rule}": "<uuid:rule_id>", "{org}": "<string(maxlength=64):organisation_id>",
              "{contact}": "<uuid:contact_id>", "{hook}": "<uuid:subscriber_id>"}


def test_every_page_is_signed_in_only_for_its_role_with_the_security_headers_and_csrf(app, notifications_db):
    pages = {str(rule) for rule in app.url_map.iter_rules() if rule.endpoint.startswith("notification_pages.")
             and "GET" in rule.methods and rule.rule != "/"}
    assert pages == {_route(path) for path in PAGES}  # a new page is listed here
    with notifications_db.transaction() as session:
        rule = session.scalar(sa.select(RoutingRule.id).where(RoutingRule.enabled.is_(True)).limit(1))
        contact = OrganisationContact(organisation_id=ADVISERS, email="team@advisers.example", purpose="team")
        hook = WebhookSubscriber(organisation_id=ADVISERS, url="https://crm.advisers.example/", secret="whsec_AAAA")
        session.add_all([contact, hook])
        session.flush()
        found = {"rule": rule, "org": ADVISERS, "contact": contact.id, "hook": hook.id}
    jwt = app.extensions["worklink"].settings.jwt
    people = {"anyone": mint_token(jwt, role="adviser", org=ADVISERS, subject="ada"),
              "org_admin": mint_token(jwt, role="org_admin", org=ADVISERS, subject="lee"),
              "alliance_admin": mint_token(jwt, role="alliance_admin", subject="alex")}
    for path, (who, form, fields) in PAGES.items():
        path, form = path.format(**found), form.format(**found)
        signed_out = app.test_client().get(path)
        assert signed_out.status_code == 302 and signed_out.headers["Location"].startswith("/signin?next="), path
        if who != "anyone":
            adviser = app.test_client()
            adviser.set_cookie(SESSION_COOKIE, sealed(app, people["anyone"]))
            assert adviser.get(path).status_code == 403, path
        client = app.test_client()
        client.set_cookie(SESSION_COOKIE, sealed(app, people[who]))
        shown = client.get(path)
        assert shown.status_code == 200, path
        headers = shown.headers
        assert (headers["X-Frame-Options"], headers["X-Content-Type-Options"], headers["Referrer-Policy"],
                headers["Cache-Control"]) == ("DENY", "nosniff", "same-origin", "no-store"), path
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert "'unsafe-inline'" not in headers["Content-Security-Policy"], path
        assert 'name="csrf_token"' in shown.get_data(as_text=True), path
        for token in (None, "forged"):
            refused = client.post(form, data={**fields, **({"csrf_token": token} if token else {})})
            assert refused.status_code == 400 and b"Your form could not be sent" in refused.data, (form, token)
    with notifications_db.sessions() as session:
        assert session.get(RoutingRule, rule).enabled is True  # no refused form changed anything
        assert session.get(OrganisationContact, found["contact"]).email == "team@advisers.example"
        assert session.get(WebhookSubscriber, found["hook"]).secret == "whsec_AAAA"
        assert session.scalar(sa.select(sa.func.count()).select_from(OrganisationContact)) == 1


def _route(path: str) -> str:
    for placeholder, argument in ROUTE_ARGS.items():
        path = path.replace(placeholder, argument)
    return path


def test_inboxes_settings_and_the_admin_page_break_no_policy(app, notifications_db, page):
    route(notifications_db, "referrals.referral.submitted")
    jwt = app.extensions["worklink"].settings.jwt
    adviser = mint_token(jwt, role="adviser", org=ADVISERS, subject="ada")
    admin = mint_token(jwt, role="alliance_admin", subject="alex")
    with live_server(app) as base, refusals_watched(page) as refused:
        page.context.add_cookies([{"name": SESSION_COOKIE, "value": sealed(app, adviser), "url": base}])
        page.goto(f"{base}/messages?scope=organisation")
        assert frontend_started(page)
        tabs = page.get_by_role("navigation", name="Inboxes").locator("ul")
        assert tabs.evaluate("e => getComputedStyle(e).display") == "flex"  # wl-row, not a style= attribute
        submit(page, page.get_by_role("button", name="Mark as read: New referral"))
        page.goto(f"{base}/settings")
        assert frontend_started(page)
        submit(page, page.get_by_role("button", name="Save settings"))
        assert page.get_by_role("heading", level=1).inner_text() == "Your notification settings"
        page.context.clear_cookies()
        page.context.add_cookies([{"name": SESSION_COOKIE, "value": sealed(app, admin), "url": base}])
        page.goto(f"{base}/admin")
        assert frontend_started(page)
        page.goto(f"{base}/where-told/{ADVISERS}")
        assert frontend_started(page)
        submit(page, page.get_by_role("button", name="Add an email contact"))
        submit(page, page.get_by_role("button", name="Add the contact"))  # its error summary, under the policy
        assert frontend_started(page) and page.get_by_role("alert").is_visible()
    assert refused == []
