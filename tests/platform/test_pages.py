"""Shared page machinery: NHS.UK layout, sign-in, CSRF, HTML errors - in real Chromium."""

from __future__ import annotations

import pytest
from flask import render_template_string, request
from playwright.sync_api import expect

from worklink.auth import current_principal, mint_token, requires
from worklink.config import Settings
from worklink.problems import Problem
from worklink.web.pages import PagesBlueprint
from tests.apps import disposed_after
from tests.browser import assert_accessible, live_server, sign_in, submit
from tests.platform.support import pages_app

PAGE = """{% extends "worklink/base.html" %}{% block title %}{{ heading }}{% endblock %}
{% block content %}<h1>{{ heading }}</h1>
<form method="post" action="/notes">{{ csrf_field() }}
<div class="nhsuk-form-group"><label class="nhsuk-label" for="note">Note</label>
<input class="nhsuk-input" id="note" name="note" type="text"></div>
<button class="nhsuk-button" type="submit">Save note</button></form>{% endblock %}"""

FORM = """{% extends "worklink/base.html" %}
{% from "worklink/forms.html" import error_summary, input, radios, checkboxes, checkbox %}
{% block content %}{{ error_summary(errors) }}<h1>Tell us about you</h1>
<form method="post" action="/notes" novalidate>{{ csrf_field() }}
{{ input("patient.nhs_number", "NHS number", values, errors, hint="10 digits", width=10) }}
{{ radios("contact.method", "How should we contact you?", [("phone", "Phone"), ("email", "Email")], values, errors,
          hint="Choose one") }}
{{ checkboxes("days", "Days you can talk", [("mon", "Monday"), ("tue", "Tuesday")], values, errors) }}
{{ checkbox("consent", "I agree", values, errors, legend="Your agreement") }}
<button class="nhsuk-button" type="submit">Send</button></form>{% endblock %}"""
FORM_ERRORS = {"patient-nhs_number": "Enter a 10-digit NHS number", "contact-method": "Choose how we contact you",
               "": "We could not check your answers"}

pages = PagesBlueprint("demo_pages", __name__)


@pages.get("/form")
def form_with_errors():
    return render_template_string(FORM, values={"patient.nhs_number": "123", "days": ["tue"]}, errors=FORM_ERRORS)


@pages.get("/")
def home():
    return render_template_string(PAGE, heading="Find support")


@pages.get("/caseload")
@requires("adviser")
def caseload():
    return render_template_string(PAGE, heading=f"Caseload for {current_principal().subject}")


@pages.get("/menu")
@requires("adviser")
def many_places():
    nav = [("Referral queue", "/caseload"), ("Referrals we sent", "/"), ("Insights", "/"), ("Help", "/")]
    return render_template_string(PAGE, heading="Places to go", nav=nav)


@pages.get("/search")
def search():
    return render_template_string(PAGE, heading=f"Results for {request.args['q']}")


@pages.post("/notes")
def save_note():
    return render_template_string(PAGE, heading=f"Saved: {request.form['note']}")


@pytest.fixture()
def settings(tmp_path):
    return Settings.from_env("demo", {"WORKLINK_VAR": str(tmp_path)})


@pytest.fixture()
def app(settings):
    yield from disposed_after(pages_app(settings, pages))


def test_people_get_html_errors_and_programs_get_problems(app):
    client = app.test_client()
    browser_accept = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    for_people = client.get("/caseload/nothing-here", headers=browser_accept)
    assert for_people.status_code == 404 and for_people.mimetype == "text/html"
    assert b"Check the web address" in for_people.data
    for_programs = client.get("/caseload/nothing-here", headers={"Accept": "application/json"})
    assert for_programs.status_code == 404 and for_programs.mimetype == "application/problem+json"
    assert client.get("/caseload/nothing-here").mimetype == "application/problem+json"
    client.get("/")  # sets the CSRF cookie
    expired = client.post("/notes", data={"note": "hi", "csrf_token": "forged"})
    assert expired.status_code == 400 and expired.mimetype == "text/html"
    assert b"Your form could not be sent" in expired.data


def test_a_program_fetching_a_pdf_from_a_page_route_gets_problems(app, settings):
    """`Accept: application/pdf` is no browser: 401/403 problems, not the sign-in page or an HTML error."""
    client = app.test_client()
    wants_pdf = {"Accept": "application/pdf"}
    unsigned = client.get("/caseload", headers=wants_pdf)
    assert unsigned.status_code == 401 and unsigned.mimetype == "application/problem+json"
    gp = {**wants_pdf, "Authorization": f"Bearer {mint_token(settings.jwt, role='gp', org='practice-1')}"}
    wrong_role = client.get("/caseload", headers=gp)
    assert wrong_role.status_code == 403 and wrong_role.mimetype == "application/problem+json"
    browser = client.get("/caseload", headers={"Accept": "text/html,*/*;q=0.8"})
    assert browser.status_code == 302 and "/signin" in browser.headers["Location"]


def test_form_posts_need_the_csrf_token(app):
    client = app.test_client()
    assert client.post("/notes", data={"note": "hi"}).status_code == 400
    html = client.get("/").get_data(as_text=True)
    token = html.split('name="csrf_token" value="')[1].split('"')[0]
    saved = client.post("/notes", data={"note": "hi", "csrf_token": token})
    assert saved.status_code == 200 and "Saved: hi" in saved.get_data(as_text=True)


@pytest.mark.parametrize("path, status", [("/no-such-page", 404), ("/caseload", 405)])
def test_a_form_sent_where_no_form_is_taken_is_told_so_not_that_it_expired(app, path, status):
    """A browser's post to an address with no such page, or to a page that takes no posts (an old form after a
    release), was refused as a form that "expired or did not come from this site" (400): reloading and sending
    it again could never work. No view runs for it, so there is nothing for the CSRF check to guard."""
    response = app.test_client().post(path, data={"note": "hi"}, headers={"Accept": "text/html"})
    assert response.status_code == status and response.mimetype == "text/html"
    assert b"Your form could not be sent" not in response.data


def test_invisible_control_characters_in_a_persons_form_are_taken_out_not_refused(app):
    """Text pasted into a form can carry them (Word's line break is a vertical tab): the form was refused with an
    error page ("Some text in the request cannot be stored: form /note") that kept none of the answers. They
    cannot be seen, so nothing is lost by taking them out; a vertical tab or form feed is the line break it was."""
    client = app.test_client()
    client.set_cookie("worklink_csrf", "t0ken")
    saved = client.post("/notes", data={"csrf_token": "t0ken", "note": "two\x0bparts\x00 and\x1f more"},
                        headers={"Accept": "text/html"})
    assert saved.status_code == 200 and "Saved: two\nparts and more" in saved.get_data(as_text=True)
    searched = client.get("/search?q=back%0B%00pain", headers={"Accept": "text/html"})  # a search box's words
    assert searched.status_code == 200 and "Results for back\npain" in searched.get_data(as_text=True)


@pytest.mark.parametrize("accept, media_type", [("application/json", "application/problem+json"),
                                                ("text/html", "text/html")])
def test_a_page_takes_its_form_only_not_json(app, accept, media_type):
    """A program posting JSON to a page (answered as the API is) got the page's HTML form back: the view read
    an empty form. A page takes a form; anything else is a 415, as the API's routes answer a form."""
    response = app.test_client().post("/notes", json={"note": "hi"}, headers={"Accept": accept})
    assert response.status_code == 415 and response.mimetype == media_type
    assert "application/x-www-form-urlencoded" in response.headers["Accept-Post"]


def test_sign_in_then_see_a_protected_page_in_chromium(app, settings, page):
    token = mint_token(settings.jwt, role="adviser", org="org-1", subject="adviser-ada")
    with live_server(app) as base:
        page.goto(f"{base}/caseload")
        assert page.url.startswith(f"{base}/signin?next=")
        assert_accessible(page)
        page.get_by_label("Access token").fill("not-a-token")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_be_visible()
        assert page.title().startswith("Error: Sign in")
        page.get_by_label("Access token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{base}/caseload")  # waits for the sign-in's redirect
        assert page.get_by_role("heading", level=1).inner_text() == "Caseload for adviser-ada"
        assert_accessible(page)
        page.get_by_label("Note").fill("called Sam")
        page.get_by_role("button", name="Save note").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Saved: called Sam")
        sign_out = page.get_by_role("button", name="Sign out")
        unfocused = sign_out.evaluate("e => getComputedStyle(e).backgroundColor")
        sign_out.focus()  # NHS.UK's focus state: yellow behind dark text, like the header's links
        assert sign_out.evaluate("e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).color]") == [
            "rgb(255, 235, 59)", "rgb(33, 43, 50)"]
        assert unfocused == "rgba(0, 0, 0, 0)"
        submit(page, sign_out)  # sent by the session script: the page goes once the server has signed out
        page.goto(f"{base}/caseload")
        assert "/signin" in page.url


def test_styles_are_served_locally_without_external_fetches(app, page):
    external = []
    with live_server(app) as base:
        page.on("request", lambda r: external.append(r.url) if not r.url.startswith(base) else None)
        page.goto(f"{base}/")
        colour = page.eval_on_selector("header.nhsuk-header", "e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(0, 94, 184)"  # NHS blue: the vendored stylesheet applied
    assert external == []


def test_sign_out_returns_to_the_services_home_page(app):
    app.config["WORKLINK_HOME_PAGE"] = "/find"
    client = app.test_client()
    html = client.get("/").get_data(as_text=True)
    token = html.split('name="csrf_token" value="')[1].split('"')[0]
    response = client.post("/signout", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/find"
    assert "worklink_session=;" in response.headers["Set-Cookie"]


def test_error_pages_speak_plainly_and_lead_to_the_services_home_page(app):
    app.config["WORKLINK_HOME_PAGE"] = "/find"
    browser = {"Accept": "text/html,*/*;q=0.8"}
    missing = app.test_client().get("/nothing-here", headers=browser).get_data(as_text=True)
    assert "<h1>Page not found</h1>" in missing and "<title>Page not found – WorkLink</title>" in missing
    assert 'href="/find">go to the start page</a>' in missing
    assert 'class="nhsuk-header__service-logo" href="/find"' in missing


def test_a_secret_link_page_never_sends_its_visitor_to_staff_sign_in(app):
    """An employer's or resident's secret link: the header link stays on the page, and a broken
    link's 404 offers no start page (for them it is staff sign-in)."""
    links = PagesBlueprint("secret_links", __name__)

    @links.get("/respond/<token>")
    def respond(token):
        raise Problem(404, "No such link.")

    app.register_blueprint(links)
    html = app.test_client().get("/respond/abc", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'class="nhsuk-header__service-logo" href="/respond/abc"' in html
    assert "go to the start page" not in html and "Check the web address." in html


def test_the_shared_form_macros_follow_the_nhs_error_pattern_in_chromium(app, page):
    with live_server(app) as base:
        page.goto(f"{base}/form")
        summary = page.locator(".nhsuk-error-summary")
        assert summary.get_attribute("tabindex") == "-1"
        assert summary.get_by_role("alert").get_by_role("heading").inner_text() == "There is a problem"
        links = summary.get_by_role("link")
        assert [links.nth(i).get_attribute("href") for i in range(links.count())] == [
            "#patient-nhs_number", "#contact-method"]  # a field's id is its name with dots as dashes
        assert "We could not check your answers" in summary.inner_text()  # about no one field: listed, not linked

        nhs = page.get_by_label("NHS number")
        assert nhs.get_attribute("id") == "patient-nhs_number" and nhs.get_attribute("name") == "patient.nhs_number"
        assert nhs.input_value() == "123"
        assert nhs.get_attribute("aria-describedby") == "patient-nhs_number-hint patient-nhs_number-error"
        assert "nhsuk-input--error" in nhs.get_attribute("class")
        assert page.locator("#patient-nhs_number-hint").inner_text() == "10 digits"
        error = page.locator("#patient-nhs_number-error")
        assert error.text_content().split() == ["Error:", "Enter", "a", "10-digit", "NHS", "number"]
        assert error.locator(".nhsuk-u-visually-hidden").text_content() == "Error:"
        assert page.locator(".nhsuk-form-group--error").count() == 2  # the two fields with errors, no others

        group = page.get_by_role("group", name="How should we contact you?")
        assert group.get_attribute("aria-describedby") == "contact-method-hint contact-method-error"
        radios = group.get_by_role("radio")
        assert [radios.nth(i).get_attribute("id") for i in range(2)] == ["contact-method", "contact-method-2"]
        assert page.get_by_label("Tuesday").is_checked() and not page.get_by_label("Monday").is_checked()
        assert not page.get_by_label("I agree").is_checked()

        links.nth(1).click()  # the summary's link lands on the group's first radio
        assert page.evaluate("document.activeElement.id") == "contact-method"
        assert_accessible(page)


def test_the_nhs_frontend_runs_and_the_header_menu_reflows_at_320_px_in_chromium(app, settings, page):
    """WCAG 1.4.10: no sideways scrolling at 320 CSS px. The NHS.UK header moves the items that
    do not fit into a "More" menu; the package is an ES module, so the layout must start it."""
    token = mint_token(settings.jwt, role="adviser", org="org-1", subject="adviser-ada")
    with live_server(app) as base:
        page.goto(f"{base}/form")
        assert page.evaluate("document.activeElement.classList.contains('nhsuk-error-summary')")  # focused by JS
        page.set_viewport_size({"width": 320, "height": 640})
        page.goto(f"{base}/signin?next=/menu")
        page.get_by_label("Access token").fill(token)
        # Wait for the page signing in leads to: read at once, the heading could still be the sign-in page's.
        submit(page, page.get_by_role("button", name="Sign in"))
        assert page.get_by_role("heading", level=1).inner_text() == "Places to go"
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
        assert not page.get_by_role("button", name="Sign out").is_visible()
        page.get_by_role("button", name="Browse More").click()
        submit(page, page.get_by_role("button", name="Sign out"))
        page.goto(f"{base}/menu")
        assert "/signin" in page.url


def test_the_sign_out_buttons_look_like_the_links_beside_them_in_chromium(app, settings, page):
    """'Sign out' is a form's button (a POST, never a link a prefetch could follow) in the header's menu, and 'Sign me
    out on every computer' one below the footer's links: each is drawn as the links beside it (size, underline,
    left edge), not larger and indented as a button's own style made them."""
    token = mint_token(settings.jwt, role="adviser", org="org-1", subject="adviser-ada")
    style = """(el) => { const s = getComputedStyle(el);
        return [s.fontSize, s.textDecorationLine, s.fontWeight, s.color] }"""
    with live_server(app) as base:
        page.set_viewport_size({"width": 1280, "height": 800})
        sign_in(page, base, token, "/menu")
        header_link = page.locator("a.nhsuk-header__navigation-link").first
        sign_out = page.locator("button.wl-signout", has_text="Sign out")
        assert sign_out.evaluate(style) == header_link.evaluate(style)
        footer_link = page.locator("a.nhsuk-footer__list-item-link").first
        everywhere = page.get_by_role("button", name="Sign me out on every computer")
        assert everywhere.evaluate(style) == footer_link.evaluate(style)
        assert everywhere.bounding_box()["x"] == footer_link.bounding_box()["x"]


def test_the_shared_date_input_names_its_boxes_and_links_its_error(app):
    from flask import render_template_string as render

    page = """{% from "worklink/forms.html" import date_input %}{{ date_input("birth_date", "Date of birth", values,
              errors, hint="For example, 15 3 1984", birthday=True) }}{{ date_input("start", "Start", {}, {}) }}"""
    with app.test_request_context():
        html = render(page, values={"birth_date-day": "31", "birth_date-month": "2"},
                      errors={"birth_date-day": "Date of birth must be a real date"})
    assert 'aria-describedby="birth_date-hint birth_date-day-error"' in html
    assert 'id="birth_date-day-error"' in html and html.count("nhsuk-input--error") == 3
    assert 'name="birth_date-day" type="text" inputmode="numeric" autocomplete="bday-day" value="31"' in html
    assert 'name="birth_date-year" type="text" inputmode="numeric" autocomplete="bday-year" value=""' in html
    assert 'role="group">' in html  # no hint, no error: nothing to describe it
    assert 'name="start-day" type="text" inputmode="numeric" value=""' in html  # not a birthday: no autocomplete


def test_a_wrong_method_page_says_what_happened_and_where_to_go_not_https_words(app):
    """A 405 page was titled "Page not found" and said "The method is not allowed for the requested URL"."""
    client, browser = app.test_client(), {"Accept": "text/html,*/*;q=0.8"}
    opened = client.get("/notes", headers=browser)  # a form's address, bookmarked or reloaded
    html = opened.get_data(as_text=True)
    assert opened.status_code == 405 and "POST" in opened.headers["Allow"]
    assert "<h1>There is no page at this address</h1>" in html and "where a form is sent" in html
    assert '<a href="/">Go to the page</a>' in html and "method is not allowed" not in html.lower()

    sent = client.post("/search", data={"q": "cv"}, headers=browser)  # a form from before a release
    html = sent.get_data(as_text=True)
    assert sent.status_code == 405 and "<h1>This page does not take that form</h1>" in html
    assert '<a href="/search">Go to the page</a>' in html and "method is not allowed" not in html.lower()
    assert client.get("/notes").mimetype == "application/problem+json"  # programs: the problem, as before
