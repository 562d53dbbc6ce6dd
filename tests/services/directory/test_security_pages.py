"""The directory's pages under the Content-Security-Policy in real Chromium, and its headers."""

from __future__ import annotations

from tests.browser import live_server
from tests.platform.test_security_browser import frontend_started, refusals_watched
from tests.services.directory.conftest import ORG_A
from worklink.auth import mint_token


def test_residents_and_partner_staff_pages_break_no_policy(app, directory, page):
    token = mint_token(app.extensions["worklink"].settings.jwt, role="org_admin", org=str(ORG_A), subject="ada")
    with live_server(app) as base, refusals_watched(page) as refused:
        page.goto(f"{base}/find?q=counselling&postcode=TA1+1AA")
        page.get_by_role("link", name="Taunton counselling service").click()
        page.get_by_role("heading", name="Taunton counselling service").wait_for()
        page.goto(f"{base}/partner")
        page.get_by_label("Access token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Your listings").wait_for()
        page.goto(f"{base}/partner/services/{directory.ids['counselling']}")
        page.goto(f"{base}/partner/services/new")
        page.get_by_role("button", name="Publish listing").click()  # the error summary and indented terms
        page.get_by_role("alert").wait_for()
        assert frontend_started(page)
    assert refused == []


def test_the_open_read_api_stays_open_to_every_origin_with_the_security_headers(app, directory):
    response = app.test_client().get("/services", headers={"Origin": "https://elsewhere.example"})
    assert response.status_code == 200 and response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
