"""The clinician's point-of-care flow and the employer's reply, in real headless Chromium with axe-core."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import assert_accessible, live_server, sign_in
from tests.services.adjustments.conftest import VALID_NHS

pytestmark = pytest.mark.timeout(180)


def test_find_guidance_write_preview_issue_and_employer_reply(app, tokens, page):
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), "/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Adjustment suggestions")
        assert_accessible(page)

        page.get_by_role("link", name="Find guidance").first.click()
        page.get_by_label("Condition", exact=True).select_option("back_pain")
        page.get_by_role("button", name="Search guidance").click()
        expect(page.get_by_role("heading", level=2).first).to_contain_text("for Low back pain")  # the results page
        assert page.locator("#review-notice").is_visible()  # the library is not clinically reviewed
        assert page.locator("#adjustment-no_heavy_lifting-hint").inner_text().endswith("Not clinically reviewed")
        assert_accessible(page)
        page.get_by_label("No heavy lifting").check()
        page.get_by_label("Sit-stand desk").check()
        page.get_by_role("button", name="Use these adjustments").click()

        expect(page.get_by_role("heading", level=1)).to_have_text("Write the suggestion")
        assert page.get_by_label("Condition affecting fitness for work").first.input_value() == "Low back pain"
        assert_accessible(page)
        page.get_by_label("NHS number").fill("9434765918")  # wrong check digit first
        page.get_by_label("First name").fill("Ravi")
        page.get_by_label("Last name").fill("Shah")
        fill_date(page, "Date of birth", "1979-02-03")
        page.get_by_label("Functional effects, in plain words").fill(
            "Cannot lift heavy items or sit for more than 30 minutes for the next month.")
        page.locator("#recommendations-0-difficulty").fill("Lifting boxes in the stockroom")
        fill_date(page, "Until", _plus_days(typed_date(page, "From"), 21))
        page.get_by_label("Their employer may tell us which changes they agreed").check()
        page.get_by_label("Your name").fill("Dr Ada Lovelace")
        page.get_by_label("Physiotherapist").check()
        page.get_by_role("button", name="Save and preview the letter").click()

        alert = page.get_by_role("alert")
        assert "check digit" in alert.inner_text()
        assert alert.get_by_role("link", name=re.compile("check digit")).get_attribute("href") == "#patient-nhs_number"
        assert "check digit" in page.locator("#patient-nhs_number-error").inner_text()
        assert_accessible(page)
        page.get_by_label("NHS number").fill(VALID_NHS)
        page.get_by_role("button", name="Save and preview the letter").click()

        expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("^" + re.escape("Suggestion for Ravi Shah, assessed on ")))
        assert page.locator("#status .nhsuk-tag").inner_text() == "Draft"
        assert "No heavy lifting" in page.content() and "Low back pain" not in page.locator(".nhsuk-inset-text").inner_text()
        assert "No heavy lifting" in page.locator("#unreviewed-guidance").inner_text()
        assert_accessible(page)
        page.get_by_role("button", name="Issue the suggestion").click()
        expect(page.locator("#status .nhsuk-tag")).to_have_text("Issued")  # the draft's page showed "Draft"
        review_url = page.url.split("?")[0]  # without the success banner's code
        page.goto(f"{review_url}?error=changed")  # a refused action comes back with a code
        assert page.get_by_role("alert").inner_text().endswith("Check it, then try again.")
        assert page.title().startswith("Error: ")
        page.goto(review_url)

        page.get_by_role("link", name="Print the employer letter").click()
        expect(page.get_by_role("heading", level=2).first).to_contain_text("Advice about Ravi Shah's work")
        letter_html = page.content()
        assert "Advice about Ravi Shah's work" in page.get_by_role("heading", level=2).first.inner_text()
        assert "clinically reviewed" not in letter_html  # the review note is for the clinician only
        assert_accessible(page)
        respond_url = re.search(r'href="(http://[^"]+/respond/[^"]+)"', letter_html).group(1)

        # The employer: a fresh browser context with no account.
        employer = page.context.browser.new_context().new_page()
        employer.goto(respond_url)
        assert_accessible(employer)
        employer.locator("#items-0-outcome").check()  # the first answer carries the group id
        employer.locator("#items-1-outcome-3").check()
        employer.get_by_role("button", name="Send your answer").click()
        assert "Say why" in employer.get_by_role("alert").inner_text()
        # the summary links the row's message to the box that fixes it, shown beside it too
        assert employer.get_by_role("alert").get_by_role("link", name=re.compile("Say why")).get_attribute("href") \
            == "#items-1-reason"
        assert "Say why" in employer.locator("#items-1-reason-error").inner_text()
        employer.locator("#items-1-reason").fill("No budget for new desks this quarter")
        employer.get_by_label("Your name").fill("Jo Manager")
        employer.get_by_role("button", name="Send your answer").click()
        expect(employer.get_by_role("heading", level=1)).to_have_text("Answer sent")  # waits for the redirect's page
        employer.goto(respond_url)
        assert "already been recorded" in employer.content()
        employer.context.close()

        page.goto(f"{base}/")
        assert "Partially agreed" in page.get_by_role("table").inner_text()
        page.get_by_role("link", name="Ravi Shah").click()
        assert "No budget for new desks" in page.locator("#employer-response").inner_text()


def fill_date(page, question: str, iso: str) -> None:
    """Type an ISO date into the write page's three boxes (NHS.UK's date input) of `question`."""
    year, month, day = iso.split("-")
    group = page.get_by_role("group", name=question, exact=True)
    for label, value in (("Day", str(int(day))), ("Month", str(int(month))), ("Year", year)):
        group.get_by_label(label, exact=True).fill(value)


def typed_date(page, question: str) -> str:
    """The date in the three boxes of `question`, as an ISO date."""
    group = page.get_by_role("group", name=question, exact=True)
    day, month, year = (group.get_by_label(label, exact=True).input_value() for label in ("Day", "Month", "Year"))
    return f"{year}-{int(month):02d}-{int(day):02d}"


def _plus_days(iso: str, days: int) -> str:
    from datetime import date, timedelta
    return (date.fromisoformat(iso) + timedelta(days=days)).isoformat()


def test_pages_need_a_signed_in_clinician(app, tokens, page):
    with live_server(app) as base:
        page.goto(f"{base}/find")
        assert "/signin" in page.url
        sign_in(page, base, tokens.raw(role="adviser"), "/find")
        assert "You are signed in as an employment adviser. Only GPs and other clinicians can see this page." in (
            page.content())


def test_the_flow_works_without_javascript(app, tokens, no_js_page):
    page = no_js_page
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), "/find")
        page.get_by_label("Condition, difficulty or task").fill("night shifts")
        page.get_by_role("button", name="Search guidance").click()
        page.get_by_label("No night shifts").check()
        page.get_by_role("button", name="Use these adjustments").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Write the suggestion")
        assert page.locator("input[name='recommendations.0.adjustment_id']").input_value() == "no_night_shifts"
        assert page.get_by_label("Altered hours").is_checked()  # the adjustment's fit-note box, pre-ticked
        # The rest of the flow posts plain forms: save, preview and issue without JavaScript too.
        page.get_by_label("NHS number").fill(VALID_NHS)
        page.get_by_label("First name").fill("Mo")
        page.get_by_label("Last name").fill("Khan")
        fill_date(page, "Date of birth", "1990-06-01")
        page.get_by_label("Condition affecting fitness for work").first.fill("Insomnia")
        page.get_by_label("Functional effects, in plain words").fill("Sleeps badly; alert only from late morning.")
        fill_date(page, "Until", _plus_days(typed_date(page, "From"), 28))
        page.get_by_label("Your name").fill("Dr Ada Lovelace")
        page.get_by_label("Nurse").check()
        with page.expect_navigation():
            page.get_by_role("button", name="Save and preview the letter").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("^" + re.escape("Suggestion for Mo Khan, assessed on ")))
        assert "No night shifts" in page.content()
        with page.expect_navigation():
            page.get_by_role("button", name="Issue the suggestion").click()
        assert page.locator("#status .nhsuk-tag").inner_text() == "Issued"


def test_the_employer_answers_and_the_clinician_reads_it_without_javascript(app, tokens, no_js_page):
    """Closing the loop needs no script on either side: the employer's reply page posts a plain form (its 'Say
    why' error too), and the clinician's review page shows what they sent."""
    from tests.services.adjustments.conftest import suggestion_body

    client, h = app.test_client(), tokens.header()
    created = client.post("/suggestions", json=suggestion_body(), headers=h).get_json()
    assert client.post(f"/suggestions/{created['id']}/issue", json={"version": 1}, headers=h).status_code == 200
    page = no_js_page
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), f"/review/{created['id']}")
        reply = page.locator("a[href*='/respond/']").first.get_attribute("href")
        employer = page.context.browser.new_context(java_script_enabled=False).new_page()
        employer.goto(reply)
        employer.locator("#items-0-outcome").check()
        employer.locator("#items-1-outcome-3").check()
        employer.locator("#items-2-outcome").check()
        with employer.expect_navigation():
            employer.get_by_role("button", name="Send your answer").click()
        assert "Say why" in employer.get_by_role("alert").inner_text()
        employer.locator("#items-1-reason").fill("No quiet room on this site")
        employer.get_by_label("Your name").fill("Jo Manager")
        employer.get_by_role("button", name="Send your answer").click()
        expect(employer.get_by_role("heading", level=1)).to_have_text("Answer sent")  # waits for the redirect's page
        employer.context.close()
        page.reload()
        assert "No quiet room on this site" in page.locator("#employer-response").inner_text()


def _issued_with_a_referral(app, tokens) -> dict:
    """An issued suggestion whose patient agreed to be referred to an employment adviser."""
    from tests.services.adjustments.conftest import suggestion_body

    client, h = app.test_client(), tokens.header()
    created = client.post("/suggestions", json=suggestion_body(**{"consent.refer_to_employment_adviser": True}),
                          headers=h).get_json()
    assert client.post(f"/suggestions/{created['id']}/issue", json={"version": 1}, headers=h).status_code == 200
    return created


def test_the_clinician_records_that_the_patient_withdrew_consent_to_the_referral(app, tokens, page):
    created = _issued_with_a_referral(app, tokens)
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), f"/review/{created['id']}")
        assert page.locator("#referral").inner_text().startswith("Requested")
        assert_accessible(page)
        page.get_by_role("link", name="The patient withdrew consent to the referral").click()
        # It asks first: nothing is recorded until the clinician confirms
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Record that the patient withdrew consent to the referral?")
        assert "This cannot be undone" in page.locator(".nhsuk-warning-callout").inner_text()
        assert_accessible(page)
        page.get_by_role("link", name="Go back without recording it").click()
        assert page.locator("#referral").inner_text().startswith("Requested")
        page.get_by_role("link", name="The patient withdrew consent to the referral").click()
        page.get_by_role("button", name="Record the withdrawal").click()
        assert page.locator("#referral").inner_text().startswith("Consent withdrawn")
        assert page.get_by_role("link", name="The patient withdrew consent to the referral").count() == 0
        assert_accessible(page)
        page.goto(f"{base}/suggestions/{created['id']}/summary")
        assert "You withdrew your agreement to be referred to an employment adviser" in page.content()


def test_withdrawing_a_suggestion_asks_first_and_needs_a_reason(app, tokens, page):
    """Pages audit 2, #10: the irreversible actions were the first buttons on the page, one click, a reason preset."""
    created = _issued_with_a_referral(app, tokens)
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), f"/review/{created['id']}")
        assert page.locator("main a, main button").first.inner_text() == "Print the employer letter"
        page.get_by_role("link", name="Withdraw the suggestion").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Withdraw this suggestion?")
        reason = page.get_by_label("Why are you withdrawing it?")
        assert reason.input_value() == "" and reason.locator("option").first.inner_text() == "Select a reason"
        assert_accessible(page)
        page.get_by_role("button", name="Withdraw the suggestion").click()
        expect(page).to_have_title(re.compile("^Error: "))
        assert "Select why you are withdrawing the suggestion" in page.locator(".nhsuk-error-summary").inner_text()
        assert_accessible(page)
        page.get_by_label("Why are you withdrawing it?").select_option("patient_request")
        page.get_by_role("button", name="Withdraw the suggestion").click()
        assert page.locator("#status .nhsuk-tag").inner_text() == "Withdrawn"
    shown = app.test_client().get(f"/suggestions/{created['id']}", headers=tokens.header()).get_json()
    assert (shown["status"], shown["withdrawn_reason"]) == ("withdrawn", "patient_request")


def _overflows(page) -> int:
    """How far the main content reaches beyond the window's right edge (0 or less when it reflows;
    the shared page header is measured by the platform's own tests)."""
    return page.evaluate("""() => {
        // an element clipped by an ancestor that fits (a visually hidden table head) does not count
        const shown = e => { for (let a = e.parentElement; a && a.tagName !== 'MAIN'; a = a.parentElement) {
            if (getComputedStyle(a).overflowX !== 'visible' && a.getBoundingClientRect().right <= innerWidth) return false; }
            return true; };
        return Math.max(...[...document.querySelectorAll('main, main *')].filter(shown)
                        .map(e => e.getBoundingClientRect().right)) - innerWidth; }""")


def test_the_review_page_letter_and_reply_page_reflow_at_320_px(app, tokens, page):
    from tests.services.adjustments.conftest import suggestion_body
    client = app.test_client()
    body = suggestion_body(functional_effects="Needs-a-" + "very" * 40 + "-long-unbroken-word and more.",
                           **{"job.title": "Supervisor" * 10})
    created = client.post("/suggestions", json=body, headers=tokens.header()).get_json()
    client.post(f"/suggestions/{created['id']}/issue", json={"version": 1}, headers=tokens.header())
    page.set_viewport_size({"width": 320, "height": 900})
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), f"/review/{created['id']}")
        reply = page.locator("a[href*='/respond/']").first.get_attribute("href")
        assert _overflows(page) <= 0, "review page"
        page.goto(f"{base}/suggestions/{created['id']}/letter")
        assert _overflows(page) <= 0, "letter"
        page.goto(reply)
        assert _overflows(page) <= 0, "employer's reply page"


def test_the_printed_letter_shows_the_reply_link_once(app, tokens, page):
    """Pages audit 2, #13: NHS.UK's print rule wrote the single-use link out a second time after it."""
    from tests.services.adjustments.conftest import suggestion_body

    client, h = app.test_client(), tokens.header()
    created = client.post("/suggestions", json=suggestion_body(), headers=h).get_json()
    assert client.post(f"/suggestions/{created['id']}/issue", json={"version": 1}, headers=h).status_code == 200
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), f"/suggestions/{created['id']}/letter")
        page.emulate_media(media="print")
        reply = page.locator("a[href*='/respond/']")
        assert reply.count() == 1
        after = reply.evaluate("a => getComputedStyle(a, '::after').content")
        assert after in ("none", "normal"), after
        other = page.evaluate("""() => { const a = document.createElement('a'); a.href = '/x';
            document.querySelector('main').append(a); return getComputedStyle(a, '::after').content; }""")
        assert "Link" in other  # NHS.UK's print rule is in force for other links: the test can fail


def test_the_employer_sees_no_clinicians_menu_and_the_clinician_sees_all_they_wrote(app, tokens, page):
    # Found on a walk through the running system: the employer's page offered "Your suggestions" and "Find
    # guidance" (a sign-in page to them), and their role, start date and comments never reached the clinician.
    from datetime import timedelta
    from tests.services.adjustments.conftest import suggestion_body
    from worklink_adjustments.domain import uk_today

    client, h = app.test_client(), tokens.header()
    created = client.post("/suggestions", json=suggestion_body(), headers=h).get_json()
    assert client.post(f"/suggestions/{created['id']}/issue", json={"version": 1}, headers=h).status_code == 200
    start = uk_today() + timedelta(days=7)
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), f"/review/{created['id']}")
        reply = page.locator("a[href*='/respond/']").first.get_attribute("href")

        employer = page.context.browser.new_context().new_page()
        employer.goto(reply)
        assert employer.get_by_role("navigation", name="Menu").count() == 0
        assert employer.get_by_role("link", name="Your suggestions").count() == 0
        for i in range(employer.locator("input[value=agreed]").count()):
            employer.locator(f"#items-{i}-outcome").check()
        employer.get_by_label("Your name").fill("Jo Manager")
        employer.get_by_label("Your role (optional)").fill("Warehouse manager")
        fill_date(employer, "Changes start on (optional)", start.isoformat())  # three boxes, as NHS.UK asks
        employer.get_by_label("Anything else (optional)").fill("Happy to talk it through with Ravi.")
        employer.get_by_role("button", name="Send your answer").click()
        expect(employer.get_by_role("heading", level=1)).to_have_text("Answer sent")  # waits for the redirect's page
        assert employer.get_by_role("navigation", name="Menu").count() == 0
        assert_accessible(employer)
        employer.context.close()

        page.reload()
        answer = page.locator("#employer-response").inner_text()
        today = uk_today()
        assert f"(Jo Manager, Warehouse manager, {today.day} {today:%B %Y})" in answer  # a date in words
        assert f"Changes start on {start.day} {start:%B %Y}." in answer
        assert "They added: Happy to talk it through with Ravi." in answer
        assert_accessible(page)


def test_the_clinician_changes_a_draft_and_amends_an_issued_suggestion_on_the_pages(app, tokens, page):
    # Found on a walk through the running system: a typo seen in the letter preview, or an employer's
    # "not possible", had no way back on the pages (only the API could edit or amend).
    from tests.services.adjustments.conftest import suggestion_body

    client, h = app.test_client(), tokens.header()
    created = client.post("/suggestions", json=suggestion_body(), headers=h).get_json()
    kept = ("patient", "assessment", "conditions", "decision", "categories", "functional_effects", "period",
            "reassessment_needed", "review_date", "job", "signposting", "consent", "issuer", "supersedes_id")

    def stored():
        body = client.get(f"/suggestions/{created['id']}", headers=h).get_json()
        rows = [{k: r.get(k) for k in ("adjustment_id", "difficulty", "free_text", "schedule")}
                for r in body["recommendations"]]
        return {k: body[k] for k in kept} | {"recommendations": rows}, body

    before, _ = stored()
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), f"/review/{created['id']}")
        page.get_by_role("link", name="Change the draft").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Change the draft")
        assert page.get_by_label("First name").input_value() == "Sam"
        assert_accessible(page)
        page.get_by_role("button", name="Save and preview the letter").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("^Suggestion for Sam Patel"))  # saved
        after, body = stored()
        assert after == before and body["version"] == 2  # saved unchanged: everything the form showed came back

        page.get_by_role("link", name="Change the draft").click()
        page.get_by_label("First name").fill("Someone else")
        page.get_by_role("link", name="Back to the suggestion, unchanged").click()  # a way out, saving nothing
        expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("^" + re.escape("Suggestion for Sam Patel, assessed on ")))
        page.get_by_role("link", name="Change the draft").click()
        page.get_by_label("First name").fill("")
        page.get_by_role("button", name="Save and preview the letter").click()
        assert "Enter the patient's first name" in page.get_by_role("alert").inner_text()
        expect(page.get_by_role("heading", level=1)).to_have_text("Change the draft")
        assert page.locator("#recommendations-0-difficulty").input_value() == "Tiredness by mid-afternoon"
        page.get_by_label("First name").fill("Samir")
        page.get_by_role("button", name="Save and preview the letter").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("^" + re.escape("Suggestion for Samir Patel, assessed on ")))

        page.get_by_role("button", name="Issue the suggestion").click()
        page.get_by_role("link", name="Amend the suggestion").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Amend the suggestion")
        page.get_by_label("Functional effects, in plain words").fill("Tires quickly; mornings are hardest.")
        page.get_by_role("button", name="Save and preview the letter").click()
        assert page.locator("#status .nhsuk-tag").inner_text() == "Amended"
        assert "This letter replaces an earlier one" in page.locator(".nhsuk-inset-text").inner_text()
        _, body = stored()
        assert body["functional_effects"] == "Tires quickly; mornings are hardest."
        assert body["recommendations"][2]["free_text"] == "Start at 10am for the first month."


def test_guidance_results_say_how_many_are_shown_and_what_each_costs_in_words(app, tokens, page):
    # Found on a walk through the running system: "60 adjustments for Low back pain" above 25 of them, and
    # costs read as codes ("cost 100 1000").
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), "/find?condition=back_pain")
        heading = page.get_by_role("heading", level=2).first.inner_text()
        assert re.fullmatch(r"The best 25 of \d+ adjustments for Low back pain", heading), heading
        assert "; costs £100 to £1,000; Access to Work may help)" in page.locator("#adjustment-sit_stand_desk-hint").inner_text()
        assert "(amended duties; no cost)" in page.locator("#adjustment-no_heavy_lifting-hint").inner_text()
        assert "cost 100 1000" not in page.content()
        assert_accessible(page)


def test_the_clinician_follows_a_referral_to_its_outcomes_on_the_referrals_site(app, tokens, page, monkeypatch):
    # Found on a walk through the running system: the review page said "completed" and nothing more; the
    # outcomes are on the referrals site, which nothing on these pages led to.
    import uuid
    import sqlalchemy as sa
    from worklink_adjustments.models import ReferralRequest

    monkeypatch.setenv("ADJUSTMENTS_REFERRALS_URL", "https://referrals.example/")
    created = _issued_with_a_referral(app, tokens)
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), f"/review/{created['id']}")
        assert page.locator("#referral").get_by_role("link").count() == 0  # not yet made into a referral
        referral_id = uuid.uuid4()
        with app.extensions["worklink"].database.transaction() as session:  # as the referrals service's event does
            session.execute(sa.update(ReferralRequest).where(ReferralRequest.suggestion_id == uuid.UUID(created["id"]))
                            .values(referral_id=referral_id, status="completed"))
        page.reload()
        link = page.locator("#referral").get_by_role("link", name="see the referral and its outcomes")
        assert link.get_attribute("href") == f"https://referrals.example/queue/{referral_id}"
        assert_accessible(page)


def test_a_referral_needs_a_way_for_the_adviser_to_contact_the_patient(app, tokens, page):
    # Found on a walk through the running system: a referral made with no phone or email reached the adviser
    # as "Contact: None given" (the referrals service's own intake refuses one).
    from tests.services.adjustments.conftest import suggestion_body

    body = suggestion_body(**{"patient.email": ..., "patient.phone": ..., "consent.refer_to_employment_adviser": True})
    refused = app.test_client().post("/suggestions", json=body, headers=tokens.header())
    assert refused.status_code == 422
    assert [e["pointer"] for e in refused.get_json()["errors"]] == ["/patient/phone"]
    unreferred = {**body, "consent": {**body["consent"], "refer_to_employment_adviser": False}}
    assert app.test_client().post("/suggestions", json=unreferred, headers=tokens.header()).status_code == 201
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), "/write?condition=back_pain&adjustment=no_heavy_lifting")
        page.get_by_label("NHS number").fill(VALID_NHS)
        page.get_by_label("First name").fill("Ravi")
        page.get_by_label("Last name").fill("Shah")
        fill_date(page, "Date of birth", "1979-02-03")
        page.get_by_label("Functional effects, in plain words").fill("Cannot lift heavy items for a month.")
        page.locator("#recommendations-0-difficulty").fill("Lifting boxes")
        page.get_by_label("Or for this many days").fill("28")
        page.get_by_label("To be referred to an employment adviser").check()
        page.get_by_label("Your name").fill("Dr Ada Lovelace")
        page.get_by_label("Doctor").check()
        page.get_by_role("button", name="Save and preview the letter").click()
        assert "phone number or email address" in page.locator("#patient-phone-error").inner_text()
        assert page.get_by_role("alert").get_by_role("link", name=re.compile("phone number or email")) \
            .get_attribute("href") == "#patient-phone"
        assert page.get_by_label("First name").input_value() == "Ravi"
        assert_accessible(page)
        page.get_by_label("Phone (optional)").fill("07700 900123")
        page.get_by_role("button", name="Save and preview the letter").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("^" + re.escape("Suggestion for Ravi Shah, assessed on ")))
