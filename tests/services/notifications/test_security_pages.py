"""The notifications pages' security: every page signed-in only, for its own role, with the security headers and
no form taken without its CSRF token; and under the Content-Security-Policy in real Chromium: inboxes, settings
and admin."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.browser import live_server, sealed, submit
from tests.platform.test_security_browser import frontend_started, refusals_watched
from tests.services.notifications.test_pages import ADVISERS, route
from worklink.auth import mint_token
from worklink.web.pages import SESSION_COOKIE
from worklink_notifications.models import RoutingRule

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
}


def test_every_page_is_signed_in_only_for_its_role_with_the_security_headers_and_csrf(app, notifications_db):
    pages = {str(rule) for rule in app.url_map.iter_rules() if rule.endpoint.startswith("notification_pages.")
             and "GET" in rule.methods and rule.rule != "/"}
    assert pages == {path.replace("{rule}", "<uuid:rule_id>") for path in PAGES}  # a new page is listed here
    with notifications_db.sessions() as session:
        rule = session.scalar(sa.select(RoutingRule.id).where(RoutingRule.enabled.is_(True)).limit(1))
    jwt = app.extensions["worklink"].settings.jwt
    people = {"anyone": mint_token(jwt, role="adviser", org=ADVISERS, subject="ada"),
              "alliance_admin": mint_token(jwt, role="alliance_admin", subject="alex")}
    for path, (who, form, fields) in PAGES.items():
        path, form = path.format(rule=rule), form.format(rule=rule)
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
    assert refused == []
