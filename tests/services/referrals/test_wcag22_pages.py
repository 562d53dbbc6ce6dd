"""WCAG 2.2 AA criteria axe-core cannot judge, on the referrals pages in real headless Chromium: the resident's
self-referral and status pages, the adviser's queue and referral, the referrer's sent list, the alliance
insights. Each test walks the pages a person meets and checks one criterion (helpers: tests/browser.py).

Found in the accessibility walk of 27 November: a self-referrer whose code went to a mistyped email address
could only start again and type every answer a second time (3.3.7 Redundant Entry)."""

from __future__ import annotations

import json
from datetime import date

import pytest
import sqlalchemy as sa

from tests.browser import (PageWalk, error_summary_problems, keyboard_problems, live_server, pages_with_problems,
                           sign_in, small_targets, submit, reflow_and_spacing_problems)
from tests.services.referrals.conftest import (ADVISERS, GP_PRACTICE, SERVICE, fill_the_self_referral_form,
                                               with_updates)
from worklink.auth import mint_token
from worklink_referrals.models import Referral

pytestmark = pytest.mark.timeout(300)


def walk(harness, page, check) -> dict[str, object]:
    """Every referrals page as the person who uses it sees it: `check(page)` on each, by the page's name."""
    h = harness
    created = h.client.post("/referrals", json=with_updates(), headers=h.gp()).get_json()
    link = h.person_link(created["id"])
    with live_server(h.app) as base:
        pages = PageWalk(page, base, check)
        visit = pages.visit

        visit("self-referral form", "/refer-yourself")
        fill_the_self_referral_form(page)
        submit(page, page.get_by_role("button", name="Continue"))
        visit("code page")
        visit("sign in", "/signin")
        visit("person's status page", link)
        sign_in(page, base, mint_token(h.settings.jwt, role="adviser", org=ADVISERS, subject="adviser-1"), "/queue")
        visit("adviser's queue")
        visit("adviser's referral", f"/queue/{created['id']}")
        page.context.clear_cookies()
        sign_in(page, base, mint_token(h.settings.jwt, role="gp", org=GP_PRACTICE, subject="gp-1"), "/sent")
        visit("referrer's sent list")
        visit("referrer's referral", f"/queue/{created['id']}")
        page.context.clear_cookies()
        sign_in(page, base, mint_token(h.settings.jwt, role="alliance_admin", subject="admin-1"), "/queue")
        visit("held referrals")
        visit("insights", "/alliance/insights")
        visit("people's rights", "/people")
    return pages.found


def test_2_4_2_every_page_has_a_title_of_its_own(harness, page):
    titles = walk(harness, page, lambda p: p.title())
    del titles["referrer's referral"]  # the adviser's page of the same referral: the same title is right
    assert len(set(titles.values())) == len(titles), titles
    assert all(title.endswith(" – WorkLink") and len(title) > len(" – WorkLink") for title in titles.values())


def test_2_4_3_2_4_7_2_4_11_keyboard_order_visible_unobscured_focus_and_the_skip_link(harness, page):
    assert pages_with_problems(walk(harness, page, keyboard_problems)) == {}


def test_2_5_8_targets_are_24_px_or_spaced(harness, page):
    assert pages_with_problems(walk(harness, page, small_targets)) == {}


def test_1_4_10_1_4_12_reflow_at_320_px_and_text_spacing(harness, page):
    assert pages_with_problems(walk(harness, page, reflow_and_spacing_problems)) == {}


def test_1_3_5_the_self_referrer_s_own_details_say_what_they_are(harness, page):
    with live_server(harness.app) as base:
        page.goto(f"{base}/refer-yourself")
        tokens = page.evaluate("() => Object.fromEntries([...document.querySelectorAll('input[autocomplete]')]"
                               ".map(e => [e.id, e.getAttribute('autocomplete')]))")
        assert tokens == {"given_name": "given-name", "family_name": "family-name", "birth_date-day": "bday-day",
                          "birth_date-month": "bday-month", "birth_date-year": "bday-year",
                          "postcode": "postal-code", "email": "email", "phone": "tel"}
        fill_the_self_referral_form(page)
        submit(page, page.get_by_role("button", name="Continue"))
        assert page.get_by_label("Code").get_attribute("autocomplete") == "one-time-code"


def test_3_3_1_3_3_3_refused_forms_lead_to_each_field_and_say_why_there(harness, page):
    h = harness
    created = h.client.post("/referrals", json=with_updates(), headers=h.gp()).get_json()
    with live_server(h.app) as base:
        page.goto(f"{base}/refer-yourself")
        submit(page, page.get_by_role("button", name="Continue"))
        assert page.locator(".nhsuk-error-summary__list a").count() == 7  # with "may we email you updates"
        assert error_summary_problems(page) == []

        page.goto(f"{base}/refer-yourself")
        fill_the_self_referral_form(page)
        submit(page, page.get_by_role("button", name="Continue"))
        code_page = page.url
        submit(page, page.get_by_role("button", name="Send my referral"))
        assert error_summary_problems(page) == []

        page.goto(code_page)
        page.get_by_text("I have not received the email").click()
        page.get_by_label("Email address").fill("tom at example")
        submit(page, page.get_by_role("button", name="Send a new code"))
        assert error_summary_problems(page) == []  # the box it links to is in the help, shown open

        sign_in(page, base, mint_token(h.settings.jwt, role="adviser", org=ADVISERS, subject="adviser-1"),
                f"/queue/{created['id']}")
        page.get_by_text("Reject this referral").click()
        page.locator("#reject-reason").select_option("other")
        submit(page, page.get_by_role("button", name="Reject", exact=True))
        assert error_summary_problems(page) == []


def test_3_3_7_a_wrong_email_address_is_changed_without_typing_the_form_again(harness, page):
    h = harness
    with live_server(h.app) as base:
        page.goto(f"{base}/refer-yourself")
        fill_the_self_referral_form(page, email="tom@exmaple.org")  # a slip: the code goes nowhere
        submit(page, page.get_by_role("button", name="Continue"))
        first_code_page = page.url
        page.get_by_text("I have not received the email").click()
        page.get_by_label("Email address").fill("tom@example.org")
        submit(page, page.get_by_role("button", name="Send a new code"))

        assert page.get_by_role("heading", level=1).inner_text() == "Check your email"
        assert "We sent a new code" in page.locator("#success-banner").inner_text()
        assert page.locator("main input:visible").count() == 1  # the code: nothing asked again
        page.get_by_label("Code").fill(page.locator("#dev-code").inner_text())
        submit(page, page.get_by_role("button", name="Send my referral"))
        assert page.get_by_role("heading", level=1).inner_text() == "Referral sent"
        assert page.goto(first_code_page).status == 404  # the code sent to the wrong address no longer works

    table = h.ctx.tables.outbox
    with h.ctx.database.engine.connect() as conn:
        payloads = conn.execute(sa.select(table.c.payload).where(
            table.c.type == "notifications.person_message.requested").order_by(table.c.position)).scalars()
        sent = [(json.loads(p)["data"]["message_code"], json.loads(p)["data"]["contact"]["address"]) for p in payloads]
    # two codes, the old address told of the change (since 5ea8041; no code), then the link
    assert sent[:3] == [("self_referral_code", "tom@exmaple.org"), ("self_referral_code", "tom@example.org"),
                        ("self_referral_email_changed", "tom@exmaple.org")], sent
    assert [address for _, address in sent[3:]] == ["tom@example.org"], sent
    with h.ctx.database.sessions() as session:
        sent = session.scalars(sa.select(Referral)).all()
        assert [(r.given_name, r.family_name, r.birth_date, r.postcode, r.email) for r in sent] == [
            ("Tom", "Baker", date(1990, 2, 28), "GL1 1AA", "tom@example.org")]  # every other answer kept


def test_3_3_7_the_postcode_searched_in_the_directory_is_filled_in(harness, page):
    # the directory's "Refer yourself to this service" link carries the postcode the resident searched with
    with live_server(harness.app) as base:
        page.goto(f"{base}/refer-yourself?service_id={SERVICE}&postcode=TA1+1AA")
        assert page.get_by_label("Postcode").input_value() == "TA1 1AA"
        page.goto(f"{base}/refer-yourself")
        assert page.get_by_label("Postcode").input_value() == ""
