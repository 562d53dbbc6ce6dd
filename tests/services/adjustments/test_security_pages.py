"""The adjustments pages under the Content-Security-Policy in real Chromium: the clinician's flow,
the letter and the employer's reply page."""

from __future__ import annotations

from tests.browser import live_server
from tests.platform.test_security_browser import frontend_started, refusals_watched
from tests.services.adjustments.conftest import suggestion_body


def test_the_clinicians_pages_and_the_employers_reply_page_break_no_policy(app, tokens, page):
    client, gp = app.test_client(), tokens.header()
    created = client.post("/suggestions", json=suggestion_body(), headers=gp).get_json()
    assert client.post(f"/suggestions/{created['id']}/issue", json={"version": 1}, headers=gp).status_code == 200
    draft = client.post("/suggestions", json=suggestion_body(), headers=gp).get_json()
    with live_server(app) as base, refusals_watched(page) as refused:
        page.goto(f"{base}/")
        page.get_by_label("Access token").fill(tokens.raw())
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Adjustment suggestions").wait_for()
        for path in ("/", "/find?condition=back_pain", "/write", f"/review/{created['id']}",
                     f"/review/{created['id']}/withdraw", f"/review/{draft['id']}",
                     f"/suggestions/{created['id']}/summary", f"/suggestions/{created['id']}/letter"):
            page.goto(base + path)
            assert frontend_started(page), path
        # the letter's nonced style: its reply link wraps instead of widening the page
        reply = page.locator("a[href*='/respond/']").first
        assert reply.evaluate("a => getComputedStyle(a).overflowWrap") == "anywhere"
        page.context.clear_cookies()
        page.goto(reply.get_attribute("href"))
        page.get_by_role("button", name="Send your answer").click()
        page.get_by_role("alert").wait_for()
        assert frontend_started(page)
    assert refused == []


def test_a_letter_pdf_may_not_be_framed(app, tokens):
    client, gp = app.test_client(), tokens.header()
    created = client.post("/suggestions", json=suggestion_body(), headers=gp).get_json()
    pdf = client.get(f"/suggestions/{created['id']}/letter.pdf", headers={**gp, "Accept": "application/pdf"})
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert pdf.headers["X-Frame-Options"] == "DENY" and pdf.headers["X-Content-Type-Options"] == "nosniff"
