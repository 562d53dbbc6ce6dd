"""Pages in real headless Chromium, checked with axe-core: an adviser picks a referral up, contacts the
person and completes it; the referrer sees what happened; the person follows their own link."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from worklink.auth import mint_token
from tests.browser import assert_accessible, live_server, sign_in, submit
from tests.services.referrals.conftest import ADVISERS, GP_PRACTICE, nhs_number, with_updates

pytestmark = pytest.mark.timeout(180)


def test_an_adviser_picks_up_contacts_and_completes_a_referral(harness, page, browser):
    h = harness
    created = h.client.post("/referrals", json=with_updates(), headers=h.gp()).get_json()
    adviser = mint_token(h.settings.jwt, role="adviser", org=ADVISERS, subject="adviser-ada")
    with live_server(h.app) as base:
        sign_in(page, base, adviser, "/queue")
        assert page.get_by_role("heading", level=1).inner_text() == "Referral queue"
        assert_accessible(page)
        submit(page, page.get_by_role("link", name=created["reference"]))
        assert page.get_by_role("heading", level=1).inner_text() == "Ada Lovelace"
        assert_accessible(page)

        page.get_by_text("Reject this referral").click()  # 'other' needs an explanation: refused
        page.locator("#reject-reason").select_option("other")
        submit(page, page.get_by_role("button", name="Reject", exact=True))
        explain = page.get_by_role("alert").get_by_role("link", name="Explain the reason")
        assert explain.get_attribute("href") == "#reject-text"  # the posted form's own box, shown open
        assert page.locator("#reject-text-error").is_visible() and page.locator("#reject-reason").input_value() == "other"
        assert_accessible(page)

        submit(page, page.get_by_role("button", name="Accept and take it on"))
        assert page.locator("#status").inner_text() == "Accepted"
        assert page.locator("#adviser").inner_text() == "Adviser: adviser-ada"  # their own organisation: the login id
        page.get_by_label("How").select_option("phone")
        page.get_by_label("Result").select_option("no_answer")
        submit(page, page.get_by_role("button", name="Log attempt"))
        assert "Phone, no answer" in page.locator("#attempts").inner_text()
        submit(page, page.get_by_role("button", name="First contact made"))
        assert page.locator("#status").inner_text() == "In progress"

        page.get_by_label("Why support ends").select_option("goals_met")
        submit(page, page.get_by_role("button", name="Complete the referral"))  # no outcome yet: refused
        assert page.get_by_role("alert").is_visible()
        assert "Record at least one outcome" in page.get_by_role("alert").inner_text()
        assert page.get_by_role("alert").get_by_role("link").count() == 0  # no field of that form to link to
        assert_accessible(page)

        page.get_by_label("Outcome").select_option("job_start")
        page.get_by_label("Hours a week (needed for a job start)").select_option("16_to_29")
        submit(page, page.get_by_role("button", name="Record outcome"))
        assert "Job start" in page.locator("#outcomes").inner_text()
        page.get_by_label("Add a note").fill("Starts Monday at the warehouse")
        submit(page, page.get_by_role("button", name="Save note"))
        assert "Starts Monday" in page.content()
        page.get_by_label("Why support ends").select_option("goals_met")
        submit(page, page.get_by_role("button", name="Complete the referral"))
        assert page.locator("#status").inner_text() == "Completed"
        assert_accessible(page)

    # The referrer sees the outcome (the person agreed to share it); the person sees their own status.
    gp = mint_token(h.settings.jwt, role="gp", org=GP_PRACTICE, subject="gp-1")
    other = browser.new_context().new_page()
    with live_server(h.app) as base:
        sign_in(other, base, gp, "/sent")
        assert other.get_by_role("heading", level=1).inner_text() == "Referrals we sent"
        row = other.get_by_role("row", name=created["reference"])
        assert "Completed" in row.inner_text() and "Goals met" in row.inner_text() and "Job start" in row.inner_text()
        assert_accessible(other)

        person = browser.new_context().new_page()
        person.goto(base + h.person_link(created["id"]))  # emailed to the person with the first status email
        assert person.get_by_role("heading", level=2).first.inner_text() == "Completed"
        assert_accessible(person)
    adviser_reads = [r for r in _audit(h) if r.actor == "adviser-ada" and r.action == "read"]
    assert len(adviser_reads) >= 5


def test_the_person_can_stop_their_referral_and_the_alliance_sees_insights(harness, page):
    h = harness
    for i in range(5):
        h.refer({"nhs_number": nhs_number(i, 60), "given_name": f"P{i}"})
    kim = h.client.post("/referrals", json=with_updates({"nhs_number": "6100000008", "given_name": "Kim"}),
                        headers=h.gp()).get_json()
    assert h.act(kim["id"], "acknowledge").status_code == 200  # the first status email carries the link
    with live_server(h.app) as base:
        page.goto(base + h.person_link(kim["id"]))
        assert page.get_by_role("heading", level=2).first.inner_text() == "Being checked"
        assert_accessible(page)
        submit(page, page.get_by_role("button", name="Stop my referral"))  # asks first (it cannot be undone)
        page.get_by_label("Also withdraw my consent to share my details").check()
        submit(page, page.get_by_role("button", name="Yes, stop my referral"))
        assert page.locator(".nhsuk-notification-banner__heading").inner_text() == (
            "Your referral is stopped and your consent withdrawn")
        assert page.locator(".nhsuk-card__heading").inner_text() == "Cancelled"
        assert "You withdrew your consent" in page.content()
        assert_accessible(page)

        admin = mint_token(h.settings.jwt, role="alliance_admin", subject="admin-1")
        sign_in(page, base, admin, "/alliance/insights")
        assert page.get_by_role("heading", level=1).inner_text() == "Referral insights"
        # One cancelled referral: hidden, and a count beside it, both shown as a dash with a note saying what it is.
        assert "A dash (–) is a count hidden" in page.locator("h2:text('By status') + table + p").inner_text()
        assert_accessible(page)

        # Withdrawn: the alliance sees the referral, its status and dates, never the person again.
        page.goto(f"{base}/queue/{kim['id']}")
        assert page.get_by_role("heading", level=1).inner_text() == "Details withheld (consent withdrawn)"
        assert page.locator("#status").inner_text() == "Cancelled" and kim["reference"] in page.content()
        assert not any(detail in page.content() for detail in ("Kim", "Lovelace", "6100000008", "GL1 2AB"))
        assert_accessible(page)


def test_the_alliance_routes_a_held_referral_from_its_page(make_harness, page):
    from tests.services.referrals.conftest import OTHER_ADVISERS, OTHER_SERVICE

    from worklink_referrals.config import ReferralSettings

    directory_url = "https://directory.example"
    h = make_harness(referral_settings=ReferralSettings(expose_codes=True, directory_url=directory_url))
    held = h.refer().get_json()  # a person in GL1 2AB
    far, near = uuid.UUID(int=7), OTHER_SERVICE
    h.add_service(far, OTHER_ADVISERS, areas=["TA1", "TA2"])
    h.add_service(near, OTHER_ADVISERS, areas=["GL1", "GL2"])
    admin = mint_token(h.settings.jwt, role="alliance_admin", subject="admin-1")
    with live_server(h.app) as base:
        sign_in(page, base, admin, "/queue?view=held")
        submit(page, page.get_by_role("link", name=held["reference"]))
        assert page.locator("#no-targets").inner_text() == (
            "None yet: they start when an adviser service has the referral.")  # not a bare heading
        assert_accessible(page)
        # In words, the service serving the person's area first (it listed bare directory ids in id order).
        choices = page.locator("#route-service_id option").all_inner_texts()
        assert choices == ["Choose one", f"serves GL1, GL2 (this person's area, GL1) – directory id {near}",
                           f"serves TA1, TA2 – directory id {far}"]
        # Each id leads to the directory's page of that service, to read its name.
        assert page.locator(f'a[href="{directory_url}/find/services/{near}"]').count() == 1
        assert_accessible(page)
        page.get_by_label("Adviser service").select_option(str(OTHER_SERVICE))
        page.get_by_role("button", name="Route referral").click()
        expect(page).to_have_url(re.compile(r"\?done=route$"))  # the redirect after routing
        assert page.get_by_role("heading", name="Route this held referral").count() == 0
    assert h.client.get(f"/referrals/{held['id']}", headers=h.admin()).get_json()["assigned_org_id"] == OTHER_ADVISERS


def _audit(h):
    import sqlalchemy as sa
    table = h.ctx.tables.audit_log
    with h.ctx.database.engine.connect() as conn:
        return list(conn.execute(sa.select(table)))


def test_a_resident_refers_themselves_without_an_account(harness, page):
    h = harness
    with live_server(h.app) as base:
        page.goto(f"{base}/")  # the site's front page leads a resident on
        assert_accessible(page)
        submit(page, page.get_by_role("link", name="refer yourself to a specialist employment adviser"))
        assert page.url == f"{base}/refer-yourself"
        assert_accessible(page)
        page.get_by_label("First name").fill("Sam")
        page.get_by_role("button", name="Continue").click()  # missing fields and no agreement
        summary = page.get_by_role("alert").inner_text()
        assert "Enter your last name" in summary and "Tick the box to agree" in summary
        agree = page.get_by_role("alert").get_by_role("link", name="Tick the box to agree, so we can pass your details on")
        assert agree.get_attribute("href") == "#consent"  # the checkbox itself, beside its own message
        assert "Tick the box to agree" in page.locator("#consent-error").inner_text()
        assert_accessible(page)
        page.get_by_label("Last name").fill("Jones")
        page.get_by_label("Day").fill("2")
        page.get_by_label("Month").fill("1")
        page.get_by_label("Year").fill("1990")
        page.get_by_label("Postcode").fill("GL1 1AA")
        page.get_by_label("Email address").fill("sam@example.org")
        page.get_by_label("I am out of work and looking for work").check()  # nothing is chosen for them
        page.get_by_role("group", name="Can we email you updates about your referral?").get_by_label("Yes").check()
        page.get_by_label("I agree to my details").check()
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
        assert_accessible(page)
        code = page.locator("#dev-code").inner_text()
        wrong = "000000" if code != "000000" else "111111"
        page.get_by_label("Code").fill(wrong)
        submit(page, page.get_by_role("button", name="Send my referral"))
        assert "not right" in page.get_by_role("alert").inner_text()
        assert "not right" in page.locator("#code-error").inner_text()
        assert page.get_by_label("Code").input_value() == wrong  # kept, so a slip can be seen and corrected
        page.get_by_label("Code").fill(code)
        submit(page, page.get_by_role("button", name="Send my referral"))
        assert "/my-referral/" in page.url
        assert page.get_by_role("heading", level=2).first.inner_text() == "Submitted"
    queue = h.client.get("/referrals", headers=h.adviser()).get_json()["items"]
    assert [(i["source"], i["name"]) for i in queue] == [("self", "Sam Jones")]


def test_an_adviser_holds_resumes_and_records_every_kind_of_outcome_from_the_page(harness, page):
    """The page offers what the API does: a hold with its reason and review date, resuming, a sustained
    job outcome and a fit-note change (each needs its own fields), the sustainment check it records."""
    h = harness
    created = h.refer().get_json()
    rid = created["id"]
    h.signs_in("adviser-ada")
    h.act(rid, "accept", adviser_id="adviser-ada")
    h.act(rid, "make_first_contact")
    adviser = mint_token(h.settings.jwt, role="adviser", org=ADVISERS, subject="adviser-ada")
    with live_server(h.app) as base:
        sign_in(page, base, adviser, f"/queue/{rid}")
        page.get_by_text("Put support on hold").click()
        page.get_by_label("Reason for the hold").select_option("person_unwell")
        page.get_by_label("Review date").fill("2026-12-07")
        assert_accessible(page)
        submit(page, page.get_by_role("button", name="Put on hold"))
        assert page.locator("#status").inner_text() == "On hold"
        expect(page.locator("#hold")).to_contain_text("The person is unwell; review on 7 December 2026")
        submit(page, page.get_by_role("button", name="Resume support"))  # no note: refused, linked to its box
        assert page.get_by_role("alert").get_by_role("link", name="Say why the hold ends").get_attribute(
            "href") == "#resume-note"
        assert_accessible(page)
        page.get_by_label("Why the hold ends").fill("Feeling better")
        submit(page, page.get_by_role("button", name="Resume support"))
        assert page.locator("#status").inner_text() == "In progress"

        page.get_by_label("Outcome").select_option("sustained_job_outcome")
        page.get_by_label("Weeks in work (sustained job)").fill("13")
        page.get_by_label("Period in weeks, 13 to 16 (sustained job)").fill("17")  # too long: refused
        page.get_by_label("Hours a week (sustained job)").fill("7.5")
        submit(page, page.get_by_role("button", name="Record outcome"))
        assert page.locator("#record_outcome-period_weeks-error").is_visible()
        assert page.get_by_label("Weeks in work (sustained job)").input_value() == "13"  # what was sent, kept
        page.get_by_label("Period in weeks, 13 to 16 (sustained job)").fill("16")
        submit(page, page.get_by_role("button", name="Record outcome"))
        page.get_by_label("Outcome").select_option("fit_note_change")
        page.get_by_label("Fit note before (fit-note change)").select_option("not_fit")
        page.get_by_label("Fit note now (fit-note change)").select_option("may_be_fit")
        submit(page, page.get_by_role("button", name="Record outcome"))
        assert page.locator("#outcomes").inner_text().splitlines() == [
            "Sustained job outcome on 23 Nov 2026", "Fit note change on 23 Nov 2026"]
    outcomes = h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()["outcomes"]
    assert outcomes[0]["details"] == {"weeks_in_work": 13, "period_weeks": 16, "hours_per_week": 7.5}
    assert outcomes[1]["details"] == {"fit_note_from": "not_fit", "fit_note_to": "may_be_fit"}


def test_the_referrer_marks_a_referral_entered_in_error_from_the_page(harness, page):
    h = harness
    rid = h.refer().get_json()["id"]
    gp = mint_token(h.settings.jwt, role="gp", org=GP_PRACTICE, subject="gp-1")
    with live_server(h.app) as base:
        sign_in(page, base, gp, f"/queue/{rid}")
        page.get_by_text("This referral was made by mistake").click()
        page.get_by_label("What was wrong").fill("Wrong patient")
        assert_accessible(page)
        submit(page, page.get_by_role("button", name="Mark as entered in error"))
        assert page.locator("#status").inner_text() == "Entered in error"
