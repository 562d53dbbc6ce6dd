"""In real headless Chromium, checked with axe-core: the referrer records a withdrawal of consent from
the referral page; an adviser pages the queue to the newest referral with the current filter marked;
the self-referral form's first-round errors and date input; the insights page; the person withdraws
consent after their referral ended."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from worklink.auth import mint_token
from tests.browser import assert_accessible, live_server, sign_in, submit, width_at
from tests.services.referrals.conftest import ADVISERS, GP_PRACTICE, fill_the_self_referral_form, nhs_number
from worklink_referrals.pages.views import PAGE_SIZE

pytestmark = pytest.mark.timeout(180)


def test_the_referrer_records_that_the_person_withdrew_consent(harness, page):
    h = harness
    created = h.refer().get_json()
    gp = mint_token(h.settings.jwt, role="gp", org=GP_PRACTICE, subject="gp-1")
    with live_server(h.app) as base:
        sign_in(page, base, gp, f"/queue/{created['id']}")
        page.get_by_text("Cancel this referral").click()
        reasons = page.locator("#cancel-reason option").all_inner_texts()
        assert "Consent withdrawn" not in reasons and "Person withdrew" in reasons
        page.get_by_text("Record that the person withdrew consent").click()
        assert_accessible(page)
        submit(page, page.get_by_role("button", name="Record consent withdrawn"))
        assert page.get_by_role("heading", level=1).inner_text() == "Details withheld (consent withdrawn)"
        assert page.locator("#status").inner_text() == "Cancelled"
        assert "Consent withdrawn" in page.locator("#status-reason").inner_text()
        assert page.get_by_text("Record that the person withdrew consent").count() == 0
        assert_accessible(page)


def test_an_adviser_pages_the_queue_to_the_newest_referral(harness, page):
    h = harness
    references = []
    for i in range(PAGE_SIZE + 1):
        h.clock.advance(minutes=1)
        references.append(h.refer({"given_name": f"P{i:03d}", "nhs_number": nhs_number(i, 91)}
                                   ).get_json()["reference"])
    adviser = mint_token(h.settings.jwt, role="adviser", org=ADVISERS, subject="adviser-ada")
    with live_server(h.app) as base:
        sign_in(page, base, adviser, "/queue")
        current = page.get_by_role("navigation", name="Filter the queue").locator("[aria-current=page]")
        assert current.inner_text() == "New" and current.evaluate("e => getComputedStyle(e).fontWeight") == "600"
        assert page.get_by_role("heading", level=2, name="New referrals").is_visible()
        assert page.get_by_role("link", name=references[-1]).count() == 0  # longest waiting first
        assert_accessible(page)
        submit(page, page.get_by_role("navigation", name="Pagination").get_by_role("link", name="Next"))
        assert page.get_by_role("link", name=references[-1]).is_visible()
        assert "Showing referrals 51 to 51 of 51" in page.locator("#page-position").inner_text()
        assert_accessible(page)
        submit(page, page.get_by_role("link", name="All", exact=True))
        assert page.get_by_role("heading", level=2, name="All referrals").is_visible()
        assert page.get_by_role("row").nth(1).get_by_role("link").inner_text() == references[-1]  # newest first


def test_the_self_referral_form_asks_for_everything_at_once(harness, page):
    h = harness
    with live_server(h.app) as base:
        page.goto(f"{base}/refer-yourself")
        assert page.locator("input[name=employment_situation]:checked").count() == 0
        submit(page, page.get_by_role("button", name="Continue"))
        summary = page.get_by_role("alert")
        contact = summary.get_by_role("link", name="Give an email address or a phone number so we can check it is you")
        assert contact.get_attribute("href") == "#email"
        assert summary.get_by_role("link", name="Enter your date of birth").get_attribute("href") == "#birth_date-day"
        assert_accessible(page)
        page.get_by_label("Day").fill("30")
        page.get_by_label("Month").fill("2")
        page.get_by_label("Year").fill("1990")
        submit(page, page.get_by_role("button", name="Continue"))
        assert "must be a real date" in page.locator("#birth_date-day-error").inner_text()
        assert page.get_by_label("Day").input_value() == "30"
        assert_accessible(page)


def test_the_insights_page_and_the_persons_withdrawal_after_the_end(harness, page, browser):
    h = harness
    pending = h.client.post("/self-referrals", json={
        "person": {"given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02", "postcode": "GL1 1AA",
                   "email": "sam@example.org"}, "consent": {"explicit": True, "updates_by_email": True},
        "employment_situation": "unemployed"}).get_json()
    link = h.client.post(f"/self-referrals/{pending['id']}/verification",
                         json={"code": pending["code"]}).get_json()["status_link"]
    rid = h.client.get("/referrals", headers=h.adviser()).get_json()["items"][0]["id"]
    h.act(rid, "reject", reason="out_of_area")
    for i in range(6):
        h.refer({"nhs_number": nhs_number(i, 52), "given_name": f"I{i}", "sex": "female"})
    admin = mint_token(h.settings.jwt, role="alliance_admin", subject="admin-1")
    with live_server(h.app) as base:
        sign_in(page, base, admin, "/alliance/insights")
        assert page.get_by_role("heading", level=3, name="By sex").is_visible()
        assert page.get_by_role("heading", level=2, name="Outcome rates").is_visible()
        # Each breakdown's two-way tables, named by their captions (a screen reader lists tables by them).
        assert page.get_by_role("table", name="By sex: referrals by status").is_visible()
        assert page.get_by_role("table", name="By source of referral: rejected referrals by reason").is_visible()
        assert_accessible(page)

        person = browser.new_context().new_page()
        person.goto(base + link)
        assert person.get_by_role("heading", level=2).first.inner_text() == "Rejected"
        assert_accessible(person)
        submit(person, person.get_by_role("button", name="Withdraw my consent"))  # a link: a page that asks
        expect(person.get_by_role("heading", level=1)).to_have_text("Are you sure you want to withdraw your consent?")
        assert_accessible(person)
        submit(person, person.get_by_role("button", name="Yes, withdraw my consent"))
        expect(person.get_by_text("You withdrew your consent")).to_be_visible()
        expect(person.get_by_role("button", name="Withdraw my consent")).to_have_count(0)
        assert_accessible(person)


def test_a_self_referrer_is_told_the_referral_was_sent_and_to_keep_the_private_address(harness, page):
    # Found on a walk through the running system: after the code the person landed on their status page
    # with nothing saying it was sent or that this address (not yet e-mailed to them then) is their only way back.
    with live_server(harness.app) as base:
        page.goto(f"{base}/refer-yourself")
        fill_the_self_referral_form(page, email="tom@example.org")
        submit(page, page.get_by_role("button", name="Continue"))
        page.get_by_label("Code").fill(page.locator("#dev-code").inner_text())
        submit(page, page.get_by_role("button", name="Send my referral"))
        assert page.get_by_role("heading", level=1).inner_text() == "Referral sent"
        address = page.url.split("?")[0]
        assert "/my-referral/" in address
        assert address in page.locator("#keep-this-link").inner_text()
        assert "Bookmark this page" in page.locator("#keep-this-link").inner_text()
        assert_accessible(page)
        assert width_at(page) <= 320  # the long address wraps

        submit(page, page.get_by_role("button", name="Stop my referral"))
        submit(page, page.get_by_role("button", name="Yes, stop my referral"))  # back on the page: no second "sent"
        assert page.get_by_role("heading", level=1).inner_text().startswith("Your referral R-")


def test_insights_name_each_group_as_people_know_it(harness, page):
    # Found on a walk through the running system: groups were codes capitalised ("Gl1", "Gp", "25 34",
    # "Triage" for what the queue calls "Being checked").
    for i in range(6):
        harness.refer({"nhs_number": nhs_number(i, 53), "given_name": f"G{i}"})
    admin = mint_token(harness.settings.jwt, role="alliance_admin", subject="admin-1")
    with live_server(harness.app) as base:
        sign_in(page, base, admin, "/alliance/insights")

        def groups(heading: str) -> list[str]:
            table = page.locator("table", has=page.locator("caption", has_text=heading)).first
            return [c.inner_text().replace("Group", "").strip() for c in table.locator("tbody tr td:first-child").all()]

        assert groups("By area") == ["GL1"]
        assert groups("By source") == ["GP"]
        assert groups("By status") == ["Submitted"]
        assert groups("By age band") == ["35 to 49"]
        assert groups("By sex") == ["Not recorded"]
        assert_accessible(page)


def test_the_adviser_calls_or_emails_the_person_from_the_referral_page(harness, page):
    # Found on a walk through the running system: "07700900123 priya.walker@example.com" ran together as
    # plain text, to be copied out by hand before the first contact attempt.
    created = harness.refer({"email": "ada@example.org"}).get_json()
    adviser = mint_token(harness.settings.jwt, role="adviser", org=ADVISERS, subject="adviser-ada")
    with live_server(harness.app) as base:
        sign_in(page, base, adviser, f"/queue/{created['id']}")
        contact = page.locator("#contact")
        assert contact.get_by_role("link", name="01452 000000").get_attribute("href") == "tel:01452000000"
        assert contact.get_by_role("link", name="ada@example.org").get_attribute("href") == "mailto:ada@example.org"
        assert contact.inner_text() == "Phone: 01452 000000\nEmail: ada@example.org"
        assert_accessible(page)
