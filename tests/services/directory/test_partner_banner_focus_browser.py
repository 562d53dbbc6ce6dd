"""After a change to a listing's location, contact or opening time, the success banner is where the person
lands, in real headless Chromium: NHS.UK's success banner goes above the h1 and takes focus on load, so the
redirect no longer jumps to the part's section (the jump scrolled the banner out of sight, and Chromium then
dropped the banner's focus); a link in the banner takes them back to the section instead.

Found in the pages audit of 27 November: the redirect to `?done=added&part=contacts#contacts` left the person at
the contacts heading with the banner saying what was done off screen, with or without JavaScript."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser import assert_accessible, live_server, sealed, submit
from tests.services.directory.conftest import ORG_A
from worklink.auth import mint_token
from worklink.web.pages import SESSION_COOKIE

NHS_FOCUS_YELLOW = "rgb(255, 235, 59)"


def add_contact(app, page, base: str, service_id: str) -> None:
    token = mint_token(app.extensions["worklink"].settings.jwt, role="org_admin", org=str(ORG_A), subject="ada")
    page.context.add_cookies([{"name": SESSION_COOKIE, "value": sealed(app, token), "url": base}])
    page.goto(f"{base}/partner/services/{service_id}/contacts/new")
    page.get_by_label("Name", exact=True).fill("Reception")
    page.get_by_label("Email address").fill("reception@example.org")
    submit(page, page.get_by_role("button", name="Add contact"))


def banner_in_view(page) -> bool:
    top = page.evaluate("document.getElementById('success-banner').getBoundingClientRect().top")
    return 0 <= top < page.evaluate("window.innerHeight")


def test_the_banner_takes_focus_where_the_person_lands_and_links_to_the_changed_section(app, directory, page):
    page.set_viewport_size({"width": 320, "height": 700})
    with live_server(app) as base:
        add_contact(app, page, base, directory.ids["counselling"])
        expect(page.locator("#success-banner")).to_be_focused()
        assert banner_in_view(page), "the success banner is scrolled out of sight"
        assert_accessible(page)

        page.keyboard.press("Tab")  # the next stop is the way back to what was changed
        link = page.get_by_role("link", name="See all contacts")
        expect(link).to_be_focused()
        assert link.evaluate("e => getComputedStyle(e).backgroundColor") == NHS_FOCUS_YELLOW  # visible focus
        page.keyboard.press("Enter")
        assert page.url.endswith("#contacts")
        assert abs(page.evaluate("document.getElementById('contacts').getBoundingClientRect().top")) < 2


def test_without_javascript_the_banner_is_in_view_on_landing(app, directory, no_js_page):
    no_js_page.set_viewport_size({"width": 320, "height": 700})
    with live_server(app) as base:
        add_contact(app, no_js_page, base, directory.ids["counselling"])
        assert banner_in_view(no_js_page), "the success banner is scrolled out of sight"
