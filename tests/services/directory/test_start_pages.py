"""Where people land at the directory: partner staff signing in go to their listings, and a browser at the
bare address gets the residents' search while programs keep the ORUK API root - in real Chromium.

Found on a walk through the running system: partner staff signing in landed on the residents' search, and
http://127.0.0.1:8081/ showed a resident the API's JSON."""

from __future__ import annotations

from tests.browser import live_server, sealed, sign_in, submit
from tests.people_rights import HTML, post_form
from tests.services.directory.conftest import ORG_A
from worklink.auth import mint_token
from worklink.web.pages import SESSION_COOKIE

ORUK_ROOT = {"version": "HSDS-UK-3.0", "profile": "https://openreferraluk.org/",
             "openapi_url": "https://openreferraluk.org/specifications/3.0/openapi.json"}
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def token(app, role: str) -> str:
    return mint_token(app.extensions["worklink"].settings.jwt, role=role, org=str(ORG_A), subject="ada")


def test_partner_staff_signing_in_with_no_page_to_return_to_land_on_their_listings(app, page):
    with live_server(app) as base:
        page.goto(f"{base}/signin")
        page.get_by_label("Access token").fill(token(app, "org_admin"))
        submit(page, page.get_by_role("button", name="Sign in"))
        assert page.url == f"{base}/partner"
        assert page.get_by_role("heading", level=1).inner_text() == "Your listings"
    page.context.clear_cookies()
    with live_server(app) as base:
        sign_in(page, base, token(app, "org_admin"), "/find")  # the page they asked for is kept
        assert page.url == f"{base}/find"


def test_a_browser_at_the_bare_address_is_sent_to_the_search_page(app, page):
    with live_server(app) as base:
        page.goto(f"{base}/")
        assert page.url == f"{base}/find"
        assert page.get_by_role("heading", level=1).count() == 1 and "{" not in page.locator("main").inner_text()


def test_programs_asking_for_the_root_still_get_the_oruk_api_root(app):
    client = app.test_client()
    for accept in (None, "*/*", "application/json", "application/json, text/html;q=0.5"):
        response = client.get("/", headers={"Accept": accept} if accept else {})
        assert response.status_code == 200 and response.get_json() == ORUK_ROOT, accept
        assert "Accept" in response.headers["Vary"] and response.headers["Access-Control-Allow-Origin"] == "*"
    browser = client.get("/", headers={"Accept": BROWSER})
    assert browser.status_code == 303 and browser.headers["Location"] == "/find"
    assert "Accept" in browser.headers["Vary"]


def test_an_alliance_admin_signing_in_with_no_page_to_return_to_lands_on_every_partners_listings(app, directory):
    # Found by the previous session: an alliance admin landed on the residents' search, though the directory's
    # work for them is keeping every partner's listings current (the audit review is /audit, one link away).
    signed_in = post_form(app.test_client(), "/signin", {"token": token(app, "alliance_admin")}, {})
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/partner"
    listings = signed_in_client(app, "alliance_admin").get("/partner", headers=HTML)
    assert listings.status_code == 200
    html = listings.get_data(as_text=True)
    assert "Services partner organisations publish" in html  # all of them, not one's
    assert "<h1>Partner listings</h1>" in html and "<title>Partner listings" in html  # none of them theirs
    resident = post_form(app.test_client(), "/signin", {"token": token(app, "resident")}, {})
    assert resident.headers["Location"] == "/find"  # others keep the residents' search


def signed_in_client(app, role: str):
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, sealed(app, token(app, role)))
    return client
