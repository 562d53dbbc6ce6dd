"""WCAG 2.2.1 Timing Adjustable: a signed-in page warns before its idle session ends and lets its user stay
signed in (the GOV.UK / NHS.UK timeout warning) - the keep-alive endpoint behind "Stay signed in", the page's
time left as the server counts it, and the dialog itself in real headless Chromium under a 1-minute limit."""

from __future__ import annotations

import os
import re
import time
from datetime import timedelta
from html import unescape

import pytest
from playwright.sync_api import expect

from tests.browser import assert_accessible, live_server, sign_in, submit
from tests.conftest import CHROMIUM_ARGS
from tests.platform.test_sessions import _app, _csrf, _move_clock, _row, _sign_in, _token, apps  # noqa: F401
from worklink.db import utcnow

JSON = {"Accept": "application/json"}


def _ends_in(html: str) -> int | None:
    found = re.search(r'data-ends-in="(\d+)"', html)
    return int(found.group(1)) if found else None


def test_keep_alive_starts_the_idle_clock_again_for_the_signed_in_session_only(apps):
    first, second = apps
    token = _token(first)
    browser = _sign_in(first, token)
    csrf = _csrf(browser)
    _move_clock(first, token, last_seen_at=timedelta(seconds=40))  # under a minute: a page view would not move it

    kept = browser.post("/session/keep-alive", data={"csrf_token": csrf}, headers=JSON)
    assert kept.status_code == 200 and kept.mimetype == "application/json"
    assert 1795 <= kept.json["ends_in_seconds"] <= 1800 and kept.json["renewable"] is True
    assert utcnow() - _row(first, token).last_seen_at < timedelta(seconds=5)

    # Scoped as every signed-in request: the CSRF token, this site, and the cookie's own session.
    _move_clock(first, token, last_seen_at=timedelta(seconds=40))
    for refused, status in ((browser.post("/session/keep-alive", data={}, headers=JSON), 400),
                            (browser.post("/session/keep-alive", data={"csrf_token": "forged"}, headers=JSON), 400),
                            (browser.post("/session/keep-alive", data={"csrf_token": csrf},
                                          headers={**JSON, "Sec-Fetch-Site": "cross-site"}), 403)):
        assert refused.status_code == status and refused.mimetype == "application/problem+json", refused.text
    assert utcnow() - _row(first, token).last_seen_at > timedelta(seconds=35)  # none of them moved it

    anonymous = second.test_client()
    anon_csrf = _csrf(anonymous)
    for headers in (JSON, {**JSON, "Authorization": f"Bearer {token}"}):  # a bearer token is no page session
        refused = anonymous.post("/session/keep-alive", data={"csrf_token": anon_csrf}, headers=headers)
        assert refused.status_code == 401 and refused.mimetype == "application/problem+json"


def test_keep_alive_does_not_revive_an_idle_session_nor_pass_the_12_hours(apps):
    first, second = apps
    idle, old = _token(first), _token(first, ttl_seconds=7 * 24 * 3600)
    idle_browser, old_browser = _sign_in(first, idle), _sign_in(second, old)
    _move_clock(first, idle, last_seen_at=timedelta(minutes=31))
    late = idle_browser.post("/session/keep-alive", data={"csrf_token": _csrf(idle_browser)}, headers=JSON)
    assert late.status_code == 401 and late.mimetype == "application/problem+json"
    assert late.json["detail"] == "You've been signed out because you were inactive for 30 minutes."
    assert late.json["reason"] == "idle"  # for the other tabs, as GET /session/ended's
    assert _row(first, idle).end_reason == "idle"

    _move_clock(first, old, started_at=timedelta(hours=11, minutes=59), last_seen_at=timedelta(minutes=10))
    kept = old_browser.post("/session/keep-alive", data={"csrf_token": _csrf(old_browser)}, headers=JSON)
    assert kept.status_code == 200 and kept.json["ends_in_seconds"] <= 60 and kept.json["renewable"] is False
    started = _row(first, old).started_at
    assert utcnow() - started > timedelta(hours=11, minutes=58)  # the 12 hours are not moved


def test_a_page_carries_the_time_left_as_the_server_counts_it(database_url):
    app = _app(database_url, WORKLINK_SESSION_IDLE_MINUTES="5")
    try:
        client = app.test_client()
        assert "a session ends after 5 minutes without activity" in unescape(client.get("/signin").text)
        assert _ends_in(client.get("/").text) is None  # no session, no warning
        token = _token(app)
        browser = _sign_in(app, token)
        _move_clock(app, token, last_seen_at=timedelta(seconds=25))  # under the 30 s between renewals: kept
        html = browser.get("/caseload").text
        assert 270 <= _ends_in(html) <= 277 and 'data-warn-before="120"' in html and 'data-renewable="true"' in html
        # The script adds this page's address (location): the page does not carry its own URL.
        assert 'data-ended-page="/session/ended" data-return-here>' in html
        posted = browser.post("/drafts", data={"csrf_token": _csrf(browser)},
                              headers={"Referer": "http://localhost/caseload?step=2"}).text
        assert 'data-ended-page="/session/ended?next=/caseload?step%3D2">' in posted  # the page the form was on
    finally:
        app.extensions["worklink"].database.dispose()


def test_the_page_a_timed_out_warning_leads_to_says_why_and_only_looks(apps):
    first, _ = apps
    token = _token(first)
    browser = _sign_in(first, token)
    _move_clock(first, token, last_seen_at=timedelta(minutes=10))
    before = _row(first, token).last_seen_at
    still_open = browser.get("/session/ended?next=/caseload")  # kept alive in another tab: back, not renewed
    assert still_open.status_code == 302 and still_open.headers["Location"] == "/caseload"
    assert _row(first, token).last_seen_at == before

    _move_clock(first, token, last_seen_at=timedelta(minutes=31))
    ended = browser.get("/session/ended?next=/caseload")
    assert ended.status_code == 401 and "because you were inactive for 30 minutes" in unescape(ended.text)
    assert "/signin?next=/caseload" in unescape(ended.text) and _row(first, token).end_reason == "idle"


def test_asked_for_json_the_ended_page_says_when_an_open_session_ends_and_renews_nothing(apps):
    """What a tab whose clock ran out asks before leaving its page: another tab may have kept the session open."""
    first, _ = apps
    token = _token(first)
    browser = _sign_in(first, token)
    _move_clock(first, token, last_seen_at=timedelta(minutes=10))
    before = _row(first, token).last_seen_at
    still_open = browser.get("/session/ended?next=/caseload", headers=JSON)
    assert still_open.status_code == 200 and still_open.mimetype == "application/json"
    assert 1195 <= still_open.json["ends_in_seconds"] <= 1200 and still_open.json["renewable"] is True
    assert _row(first, token).last_seen_at == before  # only looked

    _move_clock(first, token, last_seen_at=timedelta(minutes=31))
    ended = browser.get("/session/ended?next=/caseload", headers=JSON)
    assert ended.status_code == 401 and ended.mimetype == "application/problem+json"
    assert "Set-Cookie" not in ended.headers  # the page the script then goes to says why and forgets the cookie
    assert ended.json["reason"] == "idle"  # for the other tabs: their ended page may find the cookie gone
    page = browser.get("/session/ended?next=/caseload")
    assert page.status_code == 401 and "because you were inactive for 30 minutes" in unescape(page.text)
    anonymous = first.test_client().get("/session/ended", headers=JSON)
    assert anonymous.status_code == 401 and anonymous.mimetype == "application/problem+json"


def test_without_the_cookie_the_ended_page_says_why_the_script_was_told(apps):
    """Two tabs that ran out together: the first one's ended page forgets the cookie, and the second comes without
    it. The reason its script heard (from the server, or from the first tab) words the page; nothing else does."""
    first, _ = apps
    anonymous = first.test_client()
    idle = anonymous.get("/session/ended?next=/caseload&why=idle")
    assert idle.status_code == 401 and "because you were inactive for 30 minutes" in unescape(idle.text)
    assert "/signin?next=/caseload" in unescape(idle.text)
    expired = anonymous.get("/session/ended?why=expired")
    assert expired.status_code == 401 and "because a session lasts at most 12 hours" in unescape(expired.text)
    for why in ("signed_out", "everywhere", "<b>", ""):
        other = anonymous.get(f"/session/ended?next=/caseload&why={why}")
        assert other.status_code == 302 and other.headers["Location"] == "/signin?next=%2Fcaseload"
    # With the cookie, the session's own reason counts, whatever `why` says.
    token = _token(first)
    browser = _sign_in(first, token)
    assert browser.get("/session/ended?next=/caseload&why=idle").status_code == 302  # still open: back to the page
    _move_clock(first, token, started_at=timedelta(hours=12, minutes=1))
    page = browser.get("/session/ended?why=idle")
    assert page.status_code == 401 and "because a session lasts at most 12 hours" in unescape(page.text)


_WATCH = """() => {  // whether this document ever showed the warning; a new document (any navigation) forgets it
    window.sameDocument = true
    window.warned = false
    const dialog = document.getElementById('wl-timeout')
    new MutationObserver(() => { if (dialog.open) window.warned = true }).observe(dialog, { attributes: true })
}"""
# localStorage refused, as a privacy setting or a sandbox does: the tab counts alone.
_NO_STORAGE = """Object.defineProperty(window, 'localStorage', {
    get () { throw new DOMException('The access is denied for this document.', 'SecurityError') } })"""


@pytest.mark.timeout(240)
def test_in_chromium_activity_in_another_tab_keeps_an_idle_tab_from_warning_or_ending(tmp_path, browser):
    """Under a 1-minute limit: tab B sits idle while tab A of the same browser is used (a page every few seconds).
    Each tab used to count from its own page: B warned after 30 seconds and, at its minute, left for the ended
    page although the session was open. Now B follows A's activity and never warns. A browser without
    localStorage (tab C, activity by requests no tab hears of) warns, but asks the server before leaving, finds the
    session open and counts on, on the same page."""
    app = _app(f"sqlite:///{tmp_path / 'demo.db'}", WORKLINK_SESSION_IDLE_MINUTES="1")
    used, alone = browser.new_context(), browser.new_context()
    alone.add_init_script(_NO_STORAGE)
    active, idle, lone = used.new_page(), used.new_page(), alone.new_page()
    tokens = {"used": _token(app, subject="adviser-used"), "alone": _token(app, subject="adviser-alone")}
    try:
        with live_server(app) as base:
            sign_in(active, base, tokens["used"], "/caseload")
            sign_in(lone, base, tokens["alone"], "/caseload")
            idle.goto(f"{base}/caseload")
            loaded = time.monotonic()
            for tab in (idle, lone):
                tab.evaluate(_WATCH)
            assert lone.evaluate("() => { try { return !window.localStorage } catch (refused) { return true } }")
            while time.monotonic() < loaded + 66:  # past the minute the idle tab's own page counted to
                active.reload()
                alone.request.get(f"{base}/caseload")  # activity no tab of that browser sees
                assert idle.evaluate("window.warned") is False
                active.wait_for_timeout(4000)
            assert idle.evaluate("window.sameDocument && !window.warned") is True
            assert idle.url == f"{base}/caseload"
            lone_dialog = lone.get_by_role("dialog", name="You're about to be signed out")
            expect(lone_dialog).to_be_hidden(timeout=20_000)  # the server said the session is open: closed
            assert lone.evaluate("window.sameDocument && window.warned") is True and lone.url == f"{base}/caseload"
            for token in tokens.values():
                assert _row(app, token).ended_at is None
    finally:
        used.close()
        alone.close()
        app.extensions["worklink"].database.dispose()


@pytest.mark.timeout(180)
def test_in_chromium_staying_signed_in_in_one_tab_closes_the_others_warning_and_signing_out_ends_them(
        tmp_path, browser):
    app = _app(f"sqlite:///{tmp_path / 'demo.db'}", WORKLINK_SESSION_IDLE_MINUTES="1")
    context = browser.new_context()
    first, second = context.new_page(), context.new_page()
    token = _token(app)
    try:
        with live_server(app) as base:
            sign_in(first, base, token, "/caseload")
            second.goto(f"{base}/caseload?tab=2")
            warnings = [tab.get_by_role("dialog", name="You're about to be signed out") for tab in (first, second)]
            for warning in warnings:
                expect(warning).to_be_visible(timeout=45_000)
            first.get_by_role("button", name="Stay signed in").click()
            expect(warnings[0]).to_be_hidden()
            expect(warnings[1]).to_be_hidden(timeout=10_000)  # without a request of its own
            expect(second).to_have_url(f"{base}/caseload?tab=2")

            submit(first, first.get_by_role("button", name="Sign out"))
            assert _row(app, token).end_reason == "signed_out"
            # The other tab leaves its page too, for sign-in back to it.
            expect(second).to_have_url(f"{base}/signin?next=%2Fcaseload%3Ftab%3D2", timeout=10_000)
    finally:
        context.close()
        app.extensions["worklink"].database.dispose()


def _held_until_released(page, pattern, held: list) -> None:
    """Requests of `page` to `pattern` wait (in `held`) until the test lets them go."""
    page.route(pattern, lambda route: held.append(route))


@pytest.mark.timeout(180)
def test_in_chromium_a_tab_told_by_another_that_the_session_ran_out_still_says_why(tmp_path, browser):
    """Two tabs running out together: the first hears 401 from the server, tells the second (localStorage) and goes
    to the ended page, which forgets the cookie. The second, arriving there without it, was sent to sign-in as if
    signed out: its page now says the session ended because of inactivity, as the first's does."""
    app = _app(f"sqlite:///{tmp_path / 'demo.db'}", WORKLINK_SESSION_IDLE_MINUTES="1")
    context = browser.new_context()
    first, second = context.new_page(), context.new_page()
    token = _token(app)
    held = []
    try:
        with live_server(app) as base:
            sign_in(first, base, token, "/caseload")
            second.goto(f"{base}/caseload?tab=2")
            # The second tab only hears it from the first: its own question to the server, and its way to the ended
            # page, wait until the first tab's ended page has forgotten the cookie.
            _held_until_released(second, re.compile(r".*/session/ended.*"), held)
            expect(first.get_by_role("heading", level=1)).to_have_text("Your session ended", timeout=75_000)
            assert "because you were inactive for 1 minute" in first.get_by_role("main").inner_text()
            assert "worklink_session" not in {cookie["name"] for cookie in context.cookies()}
            deadline = time.monotonic() + 10
            while not any(route.request.is_navigation_request() for route in held) and time.monotonic() < deadline:
                second.wait_for_timeout(200)
            for route in held:
                if route.request.is_navigation_request():
                    route.continue_()
                else:
                    route.abort()  # its own question: it heard the answer from the first tab
            heading = second.get_by_role("heading", level=1)
            expect(heading).to_have_text("Your session ended", timeout=10_000)
            assert "You've been signed out because you were inactive for 1 minute." in \
                second.get_by_role("main").inner_text()
            assert "/signin?next=/caseload?tab%3D2" in unescape(second.content())  # sign in back to its page
            assert_accessible(second)
            assert _row(app, token).end_reason == "idle"
    finally:
        context.close()
        app.extensions["worklink"].database.dispose()


_SIGN_OUT_FAILS = {"network": lambda route: route.abort("connectionreset"),
                   "server": lambda route: route.fulfill(status=500, content_type="text/html",
                                                         body="<h1>Sorry, there is a problem with the service</h1>")}


@pytest.mark.timeout(180)
def test_in_chromium_a_sign_out_that_fails_says_so_and_the_other_tabs_stay(tmp_path, browser):
    """Signing out that failed (the network, the server) led to an error page, and the other tabs were sent to the
    ended page as if signed out. Now the page stays and says signing out did not work (the header's and the footer's
    buttons above the page, the dialog's in the dialog), the other tabs stay; once it works, they follow."""
    app = _app(f"sqlite:///{tmp_path / 'demo.db'}", WORKLINK_SESSION_IDLE_MINUTES="1")
    context = browser.new_context()
    first, second = context.new_page(), context.new_page()
    token = _token(app)
    try:
        with live_server(app) as base:
            sign_in(first, base, token, "/caseload")
            second.goto(f"{base}/caseload?tab=2")
            for tab in (first, second):
                tab.evaluate(_WATCH)
            problem = first.locator("#wl-sign-out-problem")
            buttons = (first.get_by_role("navigation", name="Menu").get_by_role("button", name="Sign out"),
                       first.get_by_role("button", name="Sign me out on every computer"))
            for failure, fail in _SIGN_OUT_FAILS.items():
                for path, button in zip(("/signout", "/signout/everywhere"), buttons):
                    first.evaluate("document.getElementById('wl-sign-out-problem')?.remove()")
                    first.route(f"{base}{path}", fail)
                    button.click()
                    expect(problem).to_be_visible()
                    expect(problem).to_have_role("alert")
                    expect(problem).to_have_accessible_name("Sorry, signing out did not work")
                    expect(problem).to_contain_text("You may still be signed in. Try again.")
                    expect(problem).to_be_focused()
                    first.unroute(f"{base}{path}")
            second.wait_for_timeout(1500)  # what a told tab would have done by now
            for tab, url in ((first, f"{base}/caseload"), (second, f"{base}/caseload?tab=2")):
                assert tab.evaluate("window.sameDocument") is True and tab.url == url
            assert _row(app, token).ended_at is None
            assert_accessible(first)

            dialog = first.get_by_role("dialog", name="You're about to be signed out")
            expect(dialog).to_be_visible(timeout=40_000)
            first.route(f"{base}/signout", _SIGN_OUT_FAILS["server"])
            dialog.get_by_role("button", name="Sign out").click()
            expect(dialog.locator("[data-problem]")).to_have_text("Sorry, signing out did not work. Try again.")
            expect(dialog).to_be_visible()
            first.wait_for_timeout(1500)
            assert second.evaluate("window.sameDocument") is True and _row(app, token).ended_at is None
            first.unroute(f"{base}/signout")

            submit(first, dialog.get_by_role("button", name="Sign out"))  # it works: the other tab follows
            assert _row(app, token).end_reason == "signed_out"
            expect(second).to_have_url(f"{base}/signin?next=%2Fcaseload%3Ftab%3D2", timeout=10_000)
    finally:
        context.close()
        app.extensions["worklink"].database.dispose()


# Counts restorations from the back-forward cache, so a test knows the page it reads was restored, not loaded.
_RESTORED = """window.addEventListener('pageshow', event => {
    if (event.persisted) window.restored = (window.restored || 0) + 1 })"""


@pytest.mark.timeout(180)
def test_in_chromium_a_page_back_from_the_back_forward_cache_asks_where_the_session_stands(tmp_path, browser):
    """A page restored by Back counted nothing while it was away: it showed a warning the session had outgrown, or
    an open session that had ended, until its own stale clock ran out. It asks the server at once now. Playwright
    turns the back-forward cache off and Chromium keeps no-store pages (all of ours) out of it: this browser
    turns both back on, and the test checks each page was restored. (A page whose cookies changed since - signed
    out, or its ended page seen - is not restored: Chromium drops no-store pages then, so that is not tested.)"""
    app = _app(f"sqlite:///{tmp_path / 'demo.db'}", WORKLINK_SESSION_IDLE_MINUTES="1")
    cached = browser.browser_type.launch(
        executable_path=os.environ.get("WORKLINK_CHROMIUM", "/usr/bin/chromium"), headless=True,
        args=[*CHROMIUM_ARGS, "--enable-features=CacheControlNoStoreEnterBackForwardCache"],
        ignore_default_args=["--disable-back-forward-cache"])
    context = cached.new_context()
    context.add_init_script(_RESTORED)
    tab = context.new_page()
    token = _token(app)
    try:
        with live_server(app) as base:
            sign_in(tab, base, token, "/caseload")
            dialog = tab.get_by_role("dialog", name="You're about to be signed out")
            expect(dialog).to_be_visible(timeout=40_000)
            # Away, while activity no tab wrote down (a request of this browser's) renews the session.
            tab.goto("about:blank")
            assert context.request.get(f"{base}/caseload").ok
            tab.go_back(wait_until="commit")
            expect(tab).to_have_url(f"{base}/caseload")
            tab.wait_for_function("window.restored === 1", timeout=5_000)
            expect(dialog).to_be_hidden(timeout=5_000)  # the session ends a minute from the request: no warning

            # Away while the session runs out: back, it goes to the page saying why, not in its own time.
            tab.goto("about:blank")
            _move_clock(app, token, last_seen_at=timedelta(minutes=2))
            tab.go_back(wait_until="commit")
            expect(tab.get_by_role("heading", level=1)).to_have_text("Your session ended", timeout=5_000)
            assert "because you were inactive for 1 minute" in tab.get_by_role("main").inner_text()
            assert _row(app, token).end_reason == "idle"
    finally:
        context.close()
        cached.close()
        app.extensions["worklink"].database.dispose()


@pytest.mark.timeout(180)
def test_in_chromium_the_warning_is_announced_and_stays_signs_out_or_runs_out(tmp_path, browser):
    """Four people signed in under a 1-minute idle limit, warned 30 seconds before: one stays signed in with the
    button, one with Escape, one signs out and one lets the time run out."""
    app = _app(f"sqlite:///{tmp_path / 'demo.db'}", WORKLINK_SESSION_IDLE_MINUTES="1")
    names = ("button", "escape", "sign_out", "run_out")
    contexts = {name: browser.new_context() for name in names}
    tabs = {name: context.new_page() for name, context in contexts.items()}
    tokens = {name: _token(app, subject=f"adviser-{name}") for name in names}
    try:
        with live_server(app) as base:
            for name in names:
                sign_in(tabs[name], base, tokens[name], "/caseload")
                tabs[name].get_by_role("button", name="Save note").focus()
            signed_in = time.monotonic()
            assert not tabs["button"].get_by_role("dialog").is_visible()  # not yet: 30 seconds before the end

            tab = tabs["button"]
            dialog = tab.get_by_role("dialog", name="You're about to be signed out")
            expect(dialog).to_be_visible(timeout=40_000)
            assert 25 <= time.monotonic() - signed_in <= 36
            expect(dialog).to_have_accessible_description(re.compile(r"^You'll be signed out in \d\d seconds\.$"))
            assert tab.evaluate("document.activeElement.closest('dialog') !== null")  # focus moved into it
            expect(tab.locator(":focus")).to_have_text("Stay signed in")
            assert_accessible(tab)
            live = tab.locator("[aria-live=polite]")
            seen, said = tab.locator("[data-countdown]").inner_text(), live.inner_text()
            tab.wait_for_timeout(2500)
            # The countdown people see moves every second; the live region is not re-read each second.
            assert tab.locator("[data-countdown]").inner_text() != seen and live.inner_text() == said

            tab.get_by_role("button", name="Stay signed in").click()
            expect(dialog).to_be_hidden()
            expect(tab.locator(":focus")).to_have_text("Save note")  # focus returned
            assert utcnow() - _row(app, tokens["button"]).last_seen_at < timedelta(seconds=5)

            tabs["escape"].get_by_role("dialog").wait_for(timeout=10_000)
            tabs["escape"].keyboard.press("Escape")
            expect(tabs["escape"].get_by_role("dialog")).to_be_hidden()

            tabs["sign_out"].get_by_role("dialog").wait_for(timeout=10_000)
            submit(tabs["sign_out"], tabs["sign_out"].get_by_role("dialog").get_by_role("button", name="Sign out"))
            assert _row(app, tokens["sign_out"]).end_reason == "signed_out"

            ended = tabs["run_out"]
            expect(ended.get_by_role("heading", level=1)).to_have_text("Your session ended", timeout=40_000)
            # the page it was on and why, added by the script
            assert ended.url == f"{base}/session/ended?next=%2Fcaseload&why=idle"
            assert "/signin?next=/caseload" in unescape(ended.content())  # signing in again comes back to it
            assert "You've been signed out because you were inactive for 1 minute." in \
                ended.get_by_role("main").inner_text()
            assert_accessible(ended)
            assert _row(app, tokens["run_out"]).end_reason == "idle"

            # Past the limit the first page set, the two that stayed are still signed in on the server.
            time.sleep(max(0.0, signed_in + 63 - time.monotonic()))
            for name in ("button", "escape"):
                tabs[name].reload()
                expect(tabs[name].get_by_role("heading", level=1)).to_have_text(f"Caseload for adviser-{name}")
                assert _row(app, tokens[name]).ended_at is None
    finally:
        for context in contexts.values():
            context.close()
        app.extensions["worklink"].database.dispose()


def test_without_javascript_the_page_works_and_no_warning_shows(tmp_path, no_js_page):
    app = _app(f"sqlite:///{tmp_path / 'demo.db'}")
    try:
        with live_server(app) as base:
            no_js_page.goto(f"{base}/signin")
            assert "a session ends after 30 minutes without activity" in no_js_page.get_by_role("main").inner_text()
            sign_in(no_js_page, base, _token(app), "/caseload")
            assert no_js_page.get_by_role("heading", level=1).inner_text() == "Caseload for adviser-ada"
            assert not no_js_page.get_by_role("dialog").is_visible()
            assert no_js_page.get_by_role("button", name="Save note").is_visible()
    finally:
        app.extensions["worklink"].database.dispose()


def test_under_a_1_minute_limit_activity_still_renews_the_session(database_url):
    """Moved on at most once a minute, a session under a 1-minute limit was never renewed by activity: it ended a
    minute after sign-in however busy its user. It is renewed a tenth of the limit apart (6 seconds) there."""
    app = _app(database_url, WORKLINK_SESSION_IDLE_MINUTES="1")
    try:
        token = _token(app)
        browser = _sign_in(app, token)
        _move_clock(app, token, last_seen_at=timedelta(seconds=10))
        assert browser.get("/caseload").status_code == 200
        assert utcnow() - _row(app, token).last_seen_at < timedelta(seconds=5)  # moved on: a minute from now
    finally:
        app.extensions["worklink"].database.dispose()


@pytest.mark.timeout(120)
def test_in_chromium_near_the_12_hours_the_warning_offers_no_stay_and_says_so_when_it_ends(tmp_path, page):
    """Staying signed in cannot pass the 12 hours: there the dialog says so and offers "Continue", closed once
    for good, and nothing renews the session."""
    app = _app(f"sqlite:///{tmp_path / 'demo.db'}")
    token = _token(app, ttl_seconds=24 * 3600)
    try:
        with live_server(app) as base:
            sign_in(page, base, token, "/caseload")
            _move_clock(app, token, started_at=timedelta(hours=12) - timedelta(seconds=25))
            page.goto(f"{base}/caseload")
            dialog = page.get_by_role("dialog", name="You're about to be signed out")
            expect(dialog).to_be_visible()
            expect(dialog).to_contain_text("A session lasts at most 12 hours.")
            expect(dialog.get_by_role("button", name="Stay signed in")).to_have_count(0)
            expect(page.locator(":focus")).to_have_text("Continue")
            assert_accessible(page)
            seen = _row(app, token).last_seen_at
            page.keyboard.press("Escape")
            expect(dialog).to_be_hidden()
            page.wait_for_timeout(2000)
            expect(dialog).to_be_hidden()  # not shown again
            assert _row(app, token).last_seen_at == seen
            expect(page.get_by_role("heading", level=1)).to_have_text("Your session ended", timeout=35_000)
            assert "because a session lasts at most 12 hours" in page.get_by_role("main").inner_text()
            assert _row(app, token).end_reason == "expired"
    finally:
        app.extensions["worklink"].database.dispose()
