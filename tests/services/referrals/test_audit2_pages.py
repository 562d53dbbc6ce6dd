"""Fixes from the second audit (pages lens): the self-referral form asks only for what production can use,
the code step has its own address, and adviser form errors are in plain words."""

from __future__ import annotations

import re

from tests.services.referrals.test_page_forms import page, post
from worklink_referrals.config import ReferralSettings

FORM = {"given_name": "Sam", "family_name": "Jones", "birth_date-day": "2", "birth_date-month": "1",
        "birth_date-year": "1990", "postcode": "GL1 1AA", "consent": "yes",
        "updates_by_email": "yes", "employment_situation": "unemployed"}


def test_production_asks_for_an_email_only_and_offers_a_way_forward_without_one(make_harness):
    h = make_harness(referral_settings=ReferralSettings(expose_codes=False, directory_url="https://find.example"))
    html = page(h, "/refer-yourself", {})
    assert 'name="phone"' not in html and "if you have no email" not in html
    assert "No email address? Ask your GP" in html and 'href="https://find.example/find"' in html
    refused = post(h, "/refer-yourself", {**FORM, "phone": "01452 000000"}, {})  # a phone, posted anyway
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert re.findall(r'<li><a href="#([\w-]+)">([^<]+)</a>', text) == [
        ("email", "Enter your email address, so we can send you a code")]
    assert "No email address? Ask your GP" in text
    ok = post(h, "/refer-yourself", {**FORM, "email": "sam@example.org"}, {})
    assert ok.status_code == 303


def test_development_still_takes_a_phone_and_says_the_code_is_shown(harness):
    html = page(harness, "/refer-yourself", {})
    assert 'name="phone"' in html and "the code is shown on screen" in html
    assert "No email address?" not in html


def test_the_code_step_has_its_own_address_that_survives_reopening_and_a_wrong_code(harness):
    h = harness
    sent = post(h, "/refer-yourself", {**FORM, "email": "sam@example.org"}, {})
    assert sent.status_code == 303
    code_page = sent.headers["Location"]
    assert re.fullmatch(r"/refer-yourself/[0-9a-f-]{36}/code", code_page)
    first = h.client.get(code_page, headers={"Accept": "text/html"})
    again = h.client.get(code_page, headers={"Accept": "text/html"})  # reopened: the same waiting referral
    for shown in (first, again):
        assert shown.status_code == 200 and "Check your email" in shown.get_data(as_text=True)
        assert shown.headers["Cache-Control"] == "no-store" and shown.headers["Referrer-Policy"] == "no-referrer"
        assert "sam@example.org" not in shown.get_data(as_text=True)
    code = re.search(r'id="dev-code"[^>]*>\s*([0-9]{6})', first.get_data(as_text=True)).group(1)
    wrong = post(h, code_page, {"code": "000000" if code != "000000" else "111111"}, {})
    assert wrong.status_code == 422 and "not right" in wrong.get_data(as_text=True)
    assert h.client.get(code_page, headers={"Accept": "text/html"}).status_code == 200  # still there, no 405
    done = post(h, code_page, {"code": code}, {})
    assert done.status_code == 303 and done.headers["Location"].startswith("/my-referral/")
    used = h.client.get(code_page, headers={"Accept": "text/html"})
    # reopened after sending (Back): says it went, not a 404 that told the person to start again (ecd4557)
    assert used.status_code == 200 and "Your referral has already been sent" in used.get_data(as_text=True)
    assert h.client.get("/referrals", headers=h.adviser()).get_json()["total"] == 1


def test_an_expired_code_page_says_so(harness):
    h = harness
    code_page = post(h, "/refer-yourself", {**FORM, "email": "sam@example.org"}, {}).headers["Location"]
    h.clock.advance(minutes=31)
    expired = h.client.get(code_page, headers={"Accept": "text/html"})
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)


def test_the_code_page_address_is_masked_in_the_request_log(harness, caplog):
    h = harness
    code_page = post(h, "/refer-yourself", {**FORM, "email": "sam@example.org"}, {}).headers["Location"]
    pending_id = code_page.split("/")[2]
    with caplog.at_level("INFO", logger="worklink.http"):
        h.client.get(code_page, headers={"Accept": "text/html"})
    paths = [getattr(r, "path", "") for r in caplog.records if r.name == "worklink.http"]
    assert paths and all(paths) and not any(pending_id in p for p in paths)


def test_the_queue_sent_and_insights_pages_reflow_at_320_px(harness, page):
    """WCAG 1.4.10: at 320 CSS px (400% zoom) no list page scrolls sideways; its tables stack."""
    from tests.browser import assert_accessible, live_server, sealed
    from tests.services.referrals.conftest import ADVISERS, GP_PRACTICE, nhs_number
    from worklink.auth import mint_token
    from worklink.web.pages import SESSION_COOKIE

    h = harness
    for i in range(6):
        h.refer({"nhs_number": nhs_number(i, 53), "given_name": f"Bartholomew-Alexander{i}",
                 "family_name": "Featherstonehaugh-Worthington"})
    h.clock.advance(days=10)  # every acknowledge target missed: the widest column is filled
    page.set_viewport_size({"width": 320, "height": 800})
    jwt = h.settings.jwt
    who = {"adviser": mint_token(jwt, role="adviser", org=ADVISERS, subject="adviser-ada"),
           "gp": mint_token(jwt, role="gp", org=GP_PRACTICE, subject="gp-1"),
           "alliance_admin": mint_token(jwt, role="alliance_admin", subject="admin-1")}
    with live_server(h.app) as base:
        for role, paths in (("adviser", ["/queue?view=new", "/queue?view=all", "/queue?view=breaching"]),
                            ("gp", ["/sent"]), ("alliance_admin", ["/alliance/insights"])):
            page.context.clear_cookies()
            page.context.add_cookies([{"name": SESSION_COOKIE, "value": sealed(h.app, who[role]), "url": base}])
            for path in paths:
                page.goto(base + path)
                assert "Featherstonehaugh" in page.content() or path == "/alliance/insights"
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= 320, f"{path} is {width} px wide at a 320 px viewport"
                assert_accessible(page)


def _summary(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<li><a href="#([\w-]+)">([^<]+)</a>', html)


def test_adviser_form_errors_are_in_the_pages_words(harness):
    """No codes, no field names the page does not show, no YYYY-MM-DD: each message says what to do."""
    h = harness
    rid = h.refer().get_json()["id"]
    h.act(rid, "accept", adviser_id="adviser-1")
    h.act(rid, "make_first_contact")
    version = lambda: str(h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()["version"])
    cases = [
        ({"action": "record_outcome", "type": "job_start", "occurred_on": "2026-11-23", "hours_band": ""},
         ("record_outcome-hours_band", "Select how many hours a week the job is (needed for a job start)")),
        ({"action": "record_outcome", "type": "stayed_in_work", "occurred_on": ""},
         ("record_outcome-occurred_on", "Enter the date it happened")),
        ({"action": "record_outcome", "type": "stayed_in_work", "occurred_on": "2030-01-01"},
         ("record_outcome-occurred_on", "The date it happened must be today or in the past")),
        ({"action": "put_on_hold", "reason": "person_unwell", "review_date": ""},
         ("put_on_hold-review_date", "Enter a date to review the hold")),
        ({"action": "put_on_hold", "reason": "other", "review_date": "2026-12-01", "text": ""},
         ("put_on_hold-text", "Explain the reason")),
    ]
    for form, expected in cases:
        refused = post(h, f"/queue/{rid}/act", {**form, "version": version()}, h.adviser())
        html = refused.get_data(as_text=True)
        assert refused.status_code == 422 and _summary(html) == [expected], (form, _summary(html))
        shown = " ".join(re.findall(r'class="nhsuk-error-message"[^>]*>\s*<span[^>]*>Error:</span>([^<]*)<', html))
        assert expected[1] in shown and not re.search(r"YYYY|must be one of|under_7|Hours band", shown)
    empty_note = post(h, f"/queue/{rid}/notes", {"text": ""}, h.adviser())
    assert _summary(empty_note.get_data(as_text=True)) == [("note-text", "Enter the note (up to 4,000 characters)")]


def test_the_form_names_the_service_the_directory_linked_and_keeps_it_after_an_error(harness):
    """Reached from a directory service page, the form says which service (and its organisation) the person
    is referring themselves to - names the directory signed for that service id, never any a link makes up."""
    from urllib.parse import parse_qsl, urlsplit

    from worklink.sites import self_referral_link, site_link_key
    from tests.services.referrals.conftest import SERVICE

    h = harness
    link = self_referral_link("", site_link_key(h.settings), SERVICE, "Working Well employment advice in Taunton",
                              "Somerset Working Well Partnership")
    html = page(h, link, {})
    assert "<h1>Refer yourself to Working Well employment advice in Taunton</h1>" in html
    assert "run by Somerset Working Well Partnership" in html
    refused = post(h, "/refer-yourself", {**FORM, "given_name": "", **dict(parse_qsl(urlsplit(link).query))}, {})
    assert refused.status_code == 422
    assert "<h1>Refer yourself to Working Well employment advice in Taunton</h1>" in refused.get_data(as_text=True)

    forged = page(h, link.replace("Taunton", "Bristol"), {})
    assert "<h1>Refer yourself to an employment adviser</h1>" in forged and "Bristol" not in forged


def test_a_link_signed_before_the_reference_key_was_rotated_still_names_its_service(harness, monkeypatch):
    from worklink.config import Settings
    from worklink.sites import self_referral_link, site_link_key
    from tests.services.referrals.conftest import SERVICE

    old, new = "retired-reference-key-" + "o" * 20, "current-reference-key-" + "n" * 20
    monkeypatch.setenv("WORKLINK_CLINICIAN_REFERENCE_KEY", old)
    link = self_referral_link("", site_link_key(Settings.from_env("directory", {})), SERVICE,
                              "Working Well employment advice in Taunton", "Somerset Working Well Partnership")
    monkeypatch.setenv("WORKLINK_CLINICIAN_REFERENCE_KEY", new)
    monkeypatch.setenv("WORKLINK_CLINICIAN_REFERENCE_KEY_PREVIOUS", old)
    assert "<h1>Refer yourself to Working Well employment advice in Taunton</h1>" in page(harness, link, {})
    monkeypatch.delenv("WORKLINK_CLINICIAN_REFERENCE_KEY_PREVIOUS")
    assert "<h1>Refer yourself to an employment adviser</h1>" in page(harness, link, {})
