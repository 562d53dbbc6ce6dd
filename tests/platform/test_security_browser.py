"""The Content-Security-Policy in real Chromium: pages and Swagger UI work under it, and nothing
they do is refused (a refusal is logged to the console, and fires securitypolicyviolation)."""

from __future__ import annotations

import contextlib

import pytest
import sqlalchemy as sa
from flask import render_template_string

from worklink.auth import mint_token, requires
from worklink.config import Settings
from worklink.db import NAMING_CONVENTION, platform_tables
from worklink.web import create_service_app
from worklink.web.pages import PagesBlueprint
from tests.apps import disposed_after
from tests.browser import live_server, submit

PAGE = """{% extends "worklink/base.html" %}
{% from "worklink/forms.html" import error_summary, checkboxes %}
{% block content %}{{ error_summary({"days": "Choose a day"}) }}<h1>Caseload</h1>
<form method="post" action="/caseload">{{ csrf_field() }}
{{ checkboxes("days", "Days", [("mon", "Monday"), ("am", "Morning", 1), ("pm", "Afternoon", 1)], {}, {}) }}
<button class="nhsuk-button" type="submit">Save</button></form>{% endblock %}"""

pages = PagesBlueprint("csp_demo_pages", __name__)


@pages.route("/caseload", methods=["GET", "POST"])
@requires("adviser")
def caseload():
    nav = [("Referral queue", "/caseload"), ("Referrals we sent", "/caseload"), ("Insights", "/caseload"),
           ("Help with this service", "/caseload")]
    return render_template_string(PAGE, nav=nav)


@contextlib.contextmanager
def refusals_watched(page):
    """Yields the list of what the Content-Security-Policy refused on `page` (and script errors)."""
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: refused.append(f"script error: {e}"))
    page.add_init_script("document.addEventListener('securitypolicyviolation', e => console.error("
                         "'Content Security Policy refused ' + e.violatedDirective + ' ' + e.blockedURI))")
    yield refused


def frontend_started(page) -> bool:
    """The NHS.UK frontend's module ran (initAll marks each component it starts) and the inline
    script before it too (it marks the body)."""
    return page.evaluate("""document.querySelector('[data-module=nhsuk-header]').hasAttribute('data-nhsuk-header-init')
                            && document.body.classList.contains('js-enabled')""")


def header_menu_opens(page) -> bool:
    """At 320 px the NHS.UK header moves links into its "More" menu - only if its JavaScript ran."""
    page.set_viewport_size({"width": 320, "height": 640})
    page.reload()
    toggle = page.locator(".nhsuk-header__menu-toggle")
    if not toggle.is_visible():
        return False
    toggle.click()
    return toggle.get_attribute("aria-expanded") == "true"


@pytest.fixture()
def app(tmp_path):
    settings = Settings.from_env("demo", {"WORKLINK_VAR": str(tmp_path)})
    tables = platform_tables(sa.MetaData(naming_convention=NAMING_CONVENTION))
    app, _ = create_service_app("demo", __name__, tables=tables, title="WorkLink Demo", description="Demo",
                                settings=settings)
    app.register_blueprint(pages)
    tables.web_sessions.create(app.extensions["worklink"].database.engine, checkfirst=True)  # signed-in sessions
    app.extensions["test_token"] = mint_token(settings.jwt, role="adviser", org="org-1")
    yield from disposed_after(app)


def test_pages_run_their_scripts_and_styles_and_nothing_is_refused(app, page):
    with live_server(app) as base, refusals_watched(page) as refused:
        page.goto(f"{base}/caseload")
        page.get_by_label("Access token").fill(app.extensions["test_token"])
        submit(page, page.get_by_role("button", name="Sign in"))
        assert frontend_started(page)
        # initAll ran: the error summary took focus
        assert page.evaluate("document.activeElement.classList.contains('nhsuk-error-summary')")
        assert page.locator("#days-2").evaluate("e => getComputedStyle(e.parentElement).marginLeft") == "32px"
        sign_out = page.get_by_role("button", name="Sign out")
        assert sign_out.evaluate("e => getComputedStyle(e).backgroundColor") == "rgba(0, 0, 0, 0)"
        submit(page, page.get_by_role("button", name="Save"))
        assert header_menu_opens(page)
    assert refused == []


def test_swagger_ui_works_under_its_policy(app, page):
    with live_server(app) as base, refusals_watched(page) as refused:
        page.goto(f"{base}/docs")
        page.locator(".opblock-summary-path", has_text="/healthz").first.wait_for()
        page.locator(".opblock-summary-path", has_text="/healthz").first.click()
        page.get_by_role("button", name="Try it out").click()
        page.get_by_role("button", name="Execute").click()
        page.locator(".live-responses-table .response-col_status", has_text="200").first.wait_for()
    assert refused == []


def test_an_injected_inline_script_is_refused(app, page):
    """The policy is live: a script without the nonce (what an injection would add) does not run."""
    with live_server(app) as base, refusals_watched(page) as refused:
        page.goto(f"{base}/signin")
        page.evaluate("""() => { const s = document.createElement('script');
                                 s.textContent = 'window.injected = true'; document.body.append(s); }""")
        assert page.evaluate("window.injected === undefined")
    assert any("script-src" in text for text in refused)
