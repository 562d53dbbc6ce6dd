"""Turning a routing rule off on /admin asks first: a page naming the rule and who stops hearing, "Yes, turn it
off" or "No, keep it on", without JavaScript. Turning one on is not asked; PATCH /routing-rules is unchanged."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.browser import assert_accessible, live_server, sealed, submit
from tests.services.notifications.test_pages import database_url, sign_in  # noqa: F401 - SQLite
from worklink.auth import mint_token
from worklink.web.pages import SESSION_COOKIE
from worklink_notifications.models import RoutingRule

pytestmark = pytest.mark.timeout(120)

RULE = ("referrals.referral.sla_breached", "alliance")
AUDIENCE = "the WorkLink alliance"  # as the pages name RULE's audience


def state(database) -> bool:
    with database.sessions() as session:
        return session.scalar(sa.select(RoutingRule.enabled).where(RoutingRule.event_type == RULE[0],
                                                                   RoutingRule.audience == RULE[1]))


def test_an_administrator_is_asked_before_a_rule_stops_telling_anyone(app, notifications_db, no_js_page, page):
    admin = mint_token(app.extensions["worklink"].settings.jwt, role="alliance_admin", subject="alex")
    with live_server(app) as base:
        sign_in(no_js_page, base, admin, "/admin")
        submit(no_js_page, no_js_page.get_by_role("button", name=f"Turn off {RULE[0]} for {AUDIENCE}"))
        assert no_js_page.get_by_role("heading", level=1).inner_text() \
            == "Are you sure you want to turn off this routing rule?"
        assert no_js_page.title() == f"Turn off {RULE[0]} for {AUDIENCE}? – Administration – WorkLink"
        said = " ".join(no_js_page.locator(".nhsuk-warning-callout").inner_text().split())
        assert f"When {RULE[0]} happens, the WorkLink alliance will no longer be told in their WorkLink inbox or by " \
               "email (message “Referral overdue”, code referral_sla_breached)." in said
        submit(no_js_page, no_js_page.get_by_role("link", name="No, keep it on"))
        assert no_js_page.url.endswith("/admin#rules") and state(notifications_db) is True

        submit(no_js_page, no_js_page.get_by_role("button", name=f"Turn off {RULE[0]} for {AUDIENCE}"))
        submit(no_js_page, no_js_page.get_by_role("button", name="Yes, turn it off"))
        assert no_js_page.get_by_role("status").inner_text().split() \
            == f"Information: {RULE[0]} → {AUDIENCE} is now off.".split()
        assert state(notifications_db) is False
        submit(no_js_page, no_js_page.get_by_role("button", name=f"Turn on {RULE[0]} for {AUDIENCE}"))  # not asked
        assert state(notifications_db) is True

        page.context.add_cookies([{"name": SESSION_COOKIE, "value": sealed(app, admin), "url": base}])
        page.goto(f"{base}/admin")
        submit(page, page.get_by_role("button", name=f"Turn off {RULE[0]} for {AUDIENCE}"))
        assert_accessible(page)


def test_a_turn_off_not_confirmed_changes_nothing_and_the_api_is_unchanged(app, notifications_db):
    jwt = app.extensions["worklink"].settings.jwt
    admin = mint_token(jwt, role="alliance_admin", subject="alex")
    with notifications_db.sessions() as session:
        rule_id = session.scalar(sa.select(RoutingRule.id).where(RoutingRule.event_type == RULE[0],
                                                                 RoutingRule.audience == RULE[1]))
    browser = app.test_client()
    browser.set_cookie(SESSION_COOKIE, sealed(app, admin))
    csrf = browser.get("/admin").get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    unasked = browser.post(f"/admin/rules/{rule_id}", data={"csrf_token": csrf, "enabled": "false"})
    assert unasked.status_code == 303 and unasked.headers["Location"].endswith(f"/admin/rules/{rule_id}/turn-off")
    assert state(notifications_db) is True
    adviser = mint_token(jwt, role="adviser", org="advisers")
    other = app.test_client()
    other.set_cookie(SESSION_COOKIE, sealed(app, adviser))
    assert other.get(f"/admin/rules/{rule_id}/turn-off").status_code == 403
    assert browser.get(f"/admin/rules/{rule_id}x/turn-off").status_code == 404

    api = app.test_client().patch(f"/routing-rules/{rule_id}", json={"enabled": False},
                                  headers={"Authorization": f"Bearer {admin}"})
    assert api.status_code == 200 and api.get_json()["enabled"] is False and state(notifications_db) is False
    assert browser.get(f"/admin/rules/{rule_id}/turn-off").headers["Location"].endswith(
        f"/admin?done=rule&rule={rule_id}")  # already off: nothing to ask
