"""The notifications pages under the Content-Security-Policy in real Chromium: inboxes, settings and admin."""

from __future__ import annotations

import pytest

from tests.browser import live_server, sealed, submit
from tests.platform.test_security_browser import frontend_started, refusals_watched
from tests.services.notifications.test_pages import ADVISERS, route
from worklink.auth import mint_token
from worklink.web.pages import SESSION_COOKIE

pytestmark = pytest.mark.timeout(120)


@pytest.fixture()
def database_url(tmp_path):  # pages: SQLite is enough
    return f"sqlite:///{tmp_path / 'pages.db'}"


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
