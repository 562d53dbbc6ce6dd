"""Where a signed-in person lands and what a page refused for their role says - in real Chromium.

Found on a walk through the running system: partner staff signing in at the directory landed on the
residents' search, and a refused page read "Role 'adviser' may not do this; it needs one of: ...",
words for programs."""

from __future__ import annotations

import pytest
from flask import render_template_string

from worklink.auth import mint_token, requires
from worklink.config import Settings
from worklink.web.pages import PagesBlueprint
from tests.apps import disposed_after
from tests.browser import assert_accessible, live_server, sign_in, submit
from tests.platform.support import pages_app

PAGE = """{% extends "worklink/base.html" %}{% block title %}{{ heading }}{% endblock %}
{% block content %}<h1>{{ heading }}</h1>{% endblock %}"""

pages = PagesBlueprint("role_pages", __name__)


@pages.get("/")
def home():
    return render_template_string(PAGE, heading="Find support")


@pages.get("/caseload")
@requires("adviser")
def caseload():
    return render_template_string(PAGE, heading="Caseload")


@pages.get("/audit-trail")
@requires("alliance_admin")
def audit_trail():
    return render_template_string(PAGE, heading="Audit trail")


@pytest.fixture()
def settings(tmp_path):
    return Settings.from_env("demo", {"WORKLINK_VAR": str(tmp_path)})


@pytest.fixture()
def app(settings):
    yield from disposed_after(pages_app(settings, pages, {"WORKLINK_ROLE_HOME_PAGES": {"adviser": "/caseload"}}))


def token(settings, role: str) -> str:
    return mint_token(settings.jwt, role=role, org="org-1")


def signed_in_at_signin(page, base: str, raw: str) -> None:
    """Sign in on the bare sign-in page, with no page to return to."""
    page.goto(f"{base}/signin")
    page.get_by_label("Access token").fill(raw)
    submit(page, page.get_by_role("button", name="Sign in"))


def test_sign_in_without_a_next_page_goes_to_the_start_page_the_service_gives_the_role(app, settings, page):
    with live_server(app) as base:
        signed_in_at_signin(page, base, token(settings, "adviser"))
        assert page.url == f"{base}/caseload"
    page.context.clear_cookies()
    with live_server(app) as base:
        sign_in(page, base, token(settings, "adviser"), "/audit-trail")  # a page asked for is kept
        assert page.url == f"{base}/audit-trail"
    page.context.clear_cookies()
    with live_server(app) as base:
        signed_in_at_signin(page, base, token(settings, "resident"))  # a role the service names no page for
        assert page.url == f"{base}/"


def test_a_page_refused_for_the_role_says_so_in_words_with_a_way_to_the_start(app, settings, page):
    with live_server(app) as base:
        sign_in(page, base, token(settings, "adviser"), "/audit-trail")
        assert page.get_by_role("heading", level=1).inner_text() == "You cannot see this page"
        assert page.locator("main p").first.inner_text() == (
            "You are signed in as an employment adviser. Only alliance administrators can see this page.")
        assert "Role" not in page.locator("main").inner_text()
        assert_accessible(page)
        submit(page, page.get_by_role("link", name="Go to the start page"))
        assert page.url == f"{base}/caseload"


def test_programs_keep_the_precise_refusal(app, settings):
    client = app.test_client()
    refused = client.get("/audit-trail", headers={"Accept": "application/json",
                                                  "Authorization": f"Bearer {token(settings, 'gp')}"})
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
    assert refused.get_json()["detail"] == ("This is for alliance administrators. Role 'gp' may not do this; "
                                            "it needs one of: alliance_admin.")


def test_a_start_page_on_another_site_says_where_its_link_goes(settings):
    # Found on review: an adviser refused at adjustments was offered "Go to the start page", which led to another
    # service's site without saying so. A service may give the role's page with the words for its link.
    from tests.browser import sealed
    from tests.people_rights import post_form
    from worklink.web.pages import SESSION_COOKIE, RolePage

    queue = RolePage("https://referrals.example/queue", "your referrals queue")
    for given in (queue, tuple(queue)):
        app = pages_app(settings, pages, {"WORKLINK_ROLE_HOME_PAGES": {"adviser": given}})
        client = app.test_client()
        client.set_cookie(SESSION_COOKIE, sealed(app, token(settings, "adviser")))
        refused = client.get("/audit-trail", headers={"Accept": "text/html"})
        assert refused.status_code == 403
        html = refused.get_data(as_text=True)
        assert '<a href="https://referrals.example/queue">Go to your referrals queue</a>' in html
        assert "Go to the start page" not in html
        # Sign-in without a page to return to still goes to its address.
        signed_in = post_form(app.test_client(), "/signin", {"token": token(settings, "adviser")}, {})
        assert signed_in.headers["Location"] == "https://referrals.example/queue"


def test_a_start_page_given_as_an_address_keeps_its_words(app, settings):
    from tests.browser import sealed
    from worklink.web.pages import SESSION_COOKIE

    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, sealed(app, token(settings, "adviser")))
    html = client.get("/audit-trail", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert '<a href="/caseload">Go to the start page</a>' in html
