"""The write form, as NHS.UK's patterns ask, in real headless Chromium with axe-core: its error summary lists
the problems in the order of the fields on the page, each linking to its field, and each date is typed into
three boxes (day, month, year), read and checked on the server with a message saying what to fix.

Found on a look through the clinician flow: the summary began with "Enter your name" and "Select your
profession", the last questions on the page (the schema's order), and the dates were the browser's date
picker, whose look and words vary by browser and which a date of birth is slow to reach in."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.browser import assert_accessible, live_server, sign_in, submit
from tests.services.adjustments.conftest import VALID_NHS
from tests.services.adjustments.test_pages import fill_date
from worklink_adjustments.domain import uk_today

pytestmark = pytest.mark.timeout(180)
SAVE = "Save and preview the letter"
DATES = ("Date of birth", "Date of assessment", "When did the condition start? (optional)", "From", "Until",
         "Review date (optional)")


def summary_links(page) -> list[tuple[str, str]]:
    """The error summary's links: (target id, words), in order."""
    links = page.locator(".nhsuk-error-summary a")
    return [(link.get_attribute("href").removeprefix("#"), link.inner_text()) for link in links.all()]


def page_positions(page, ids: list[str]) -> list[int]:
    """Where each id's element is in the page, in document order (-1: no such element)."""
    return page.evaluate("""ids => { const all = [...document.querySelectorAll('[id]')].map(e => e.id);
                                     return ids.map(id => all.indexOf(id)); }""", ids)


def test_the_error_summary_lists_the_problems_in_the_order_of_the_fields(app, tokens, page):
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), "/write?condition=back_pain&adjustment=no_heavy_lifting")
        page.get_by_label("NHS number").fill("9434765918")  # a wrong check digit: a rule, found after the shapes
        page.get_by_label("Condition affecting fitness for work").first.fill("")  # a group's message
        page.locator("#recommendations-0-difficulty").fill("x" * 301)  # a row's field, mid-page
        fill_date(page, "Until", (uk_today() - timedelta(days=400)).isoformat())  # ends before it starts: a rule
        page.get_by_label("Their employer may tell us which changes they agreed").check()
        submit(page, page.get_by_role("button", name=SAVE))
        links = summary_links(page)
        targets = [target for target, _ in links]
        assert {"patient-nhs_number", "patient-given_name", "patient-birth_date-day", "conditions-0-text",
                "recommendations-0-difficulty", "period-end-day", "issuer-name", "issuer-profession"} <= set(targets)
        positions = page_positions(page, targets)
        assert -1 not in positions, links  # each links to a field on the page
        assert positions == sorted(positions), links  # top to bottom, as the fields are
        assert targets[-2:] == ["issuer-name", "issuer-profession"]  # "You" is the page's last section
        # No condition at all: its message links to, and is named by, the first condition's box (not a div).
        condition = page.locator("#conditions-0-text")
        assert condition.get_attribute("aria-describedby") == "conditions-0-text-error"
        assert " ".join(page.locator("#conditions-0-text-error").inner_text().split()) == (
            "Error: Enter the condition affecting the patient's fitness for work")
        assert_accessible(page)


def test_each_date_is_typed_in_three_boxes_and_checked_on_the_server(app, tokens, page):
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), "/write?condition=back_pain&adjustment=no_heavy_lifting")
        assert page.locator("input[type=date]").count() == 0
        for question in DATES:
            group = page.get_by_role("group", name=question, exact=True)
            boxes = group.locator("input")
            assert [group.locator(f"label[for='{b.get_attribute('id')}']").inner_text() for b in boxes.all()] == [
                "Day", "Month", "Year"], question
            assert {b.get_attribute("inputmode") for b in boxes.all()} == {"numeric"}
        # The patient's date of birth: a browser must not offer the clinician's own (WCAG 1.3.5 is about the user).
        assert {b.get_attribute("autocomplete") for b in page.get_by_role("group", name="Date of birth").locator(
            "input").all()} == {None}
        today = uk_today()  # the assessment and the start are today unless changed
        assessed = page.get_by_role("group", name="Date of assessment")
        assert [assessed.get_by_label(part, exact=True).input_value() for part in ("Day", "Month", "Year")] == [
            str(today.day), str(today.month), str(today.year)]

        page.get_by_label("NHS number").fill(VALID_NHS)
        page.get_by_label("First name").fill("Ravi")
        page.get_by_label("Last name").fill("Shah")
        page.get_by_label("Functional effects, in plain words").fill("Cannot lift heavy items for a month.")
        page.get_by_label("Or for this many days").fill("28")
        page.get_by_label("Your name").fill("Dr Ada Lovelace")
        page.get_by_label("Doctor").check()
        born = page.get_by_role("group", name="Date of birth")
        # (what is typed, the message, the boxes marked: the first is linked, as NHS.UK's pattern asks)
        all_three = ["day", "month", "year"]
        mistakes = (({"Day": "3", "Year": "1979"}, "must include a month", ["month"]),
                    ({"Day": "", "Month": "", "Year": "1979"}, "must include a day and a month", ["day", "month"]),
                    ({"Day": "31", "Month": "2", "Year": "1979"}, "must be a real date", all_three),
                    ({"Day": "3", "Month": "2", "Year": "79"}, "must include the year as 4 numbers", ["year"]),
                    ({"Day": "3", "Month": "2", "Year": str(today.year + 1)}, "must be in the past", all_three))
        for typed, words, marked in mistakes:
            message, first = f"Date of birth {words}", f"patient-birth_date-{marked[0]}"
            for part, value in typed.items():
                born.get_by_label(part, exact=True).fill(value)
            submit(page, page.get_by_role("button", name=SAVE))
            assert summary_links(page)[0] == (first, message)
            assert len(summary_links(page)) == (2 if "past" in message else 1)  # also after the assessment
            shown = page.locator(f"#{first}-error").inner_text()
            assert " ".join(shown.split()) == f"Error: {message}"
            marks = born.locator(".nhsuk-input--error").all()
            assert [box.get_attribute("id").rsplit("-", 1)[1] for box in marks] == marked
            assert born.get_attribute("aria-describedby") == f"patient-birth_date-hint {first}-error"
            assert born.get_by_label("Year", exact=True).input_value() == typed["Year"]  # as typed, to correct
        assert_accessible(page)
        # Every other date says which it is, and is not asked for when it is optional and left empty.
        fill_date(page, "Date of birth", "1979-02-03")
        page.get_by_role("group", name="Review date (optional)").get_by_label("Month", exact=True).fill("5")
        submit(page, page.get_by_role("button", name=SAVE))
        assert summary_links(page) == [("review_date-day", "The review date must include a day and a year")]

        page.get_by_role("group", name="Review date (optional)").get_by_label("Month", exact=True).fill("")
        submit(page, page.get_by_role("button", name=SAVE))
        assert page.get_by_role("heading", level=1).inner_text().startswith("Suggestion for Ravi Shah")
        suggestion_id = page.url.split("/review/")[1].split("?")[0]
        stored = app.test_client().get(f"/suggestions/{suggestion_id}", headers=tokens.header()).get_json()
        assert stored["patient"]["birth_date"] == "1979-02-03" and stored["review_date"] is None
        assert stored["assessment"]["date"] == today.isoformat()

        # Changing it shows the stored dates in their boxes.
        page.get_by_role("link", name="Change the draft").click()
        born = page.get_by_role("group", name="Date of birth")
        assert [born.get_by_label(part, exact=True).input_value() for part in ("Day", "Month", "Year")] == [
            "3", "2", "1979"]


def test_a_program_posting_the_page_one_iso_date_a_field_is_still_read(client, tokens):
    """The page's form before the three boxes, and scripts written against it, sent "patient.birth_date" as
    YYYY-MM-DD: still read, and still checked."""
    from tests.services.adjustments.test_page_errors import csrf_for, summary

    h = {**tokens.header(), "Accept": "text/html"}
    form = {"csrf_token": csrf_for(client, "/write", headers=h), "patient.birth_date": "1985-02-30"}
    assert "Date of birth must be a real date" in summary(client.post("/write", data=form, headers=h))


def test_the_advice_is_checked_in_the_same_round_as_the_rest(client, tokens):
    """Found on the same look: "Describe the functional effects" came only after every other answer was fixed,
    a second round of errors for a box that was empty the first time."""
    from tests.services.adjustments.test_page_errors import csrf_for, summary

    h = {**tokens.header(), "Accept": "text/html"}
    form = {"csrf_token": csrf_for(client, "/write", headers=h), "decision": "may_be_fit"}
    messages = summary(client.post("/write", data=form, headers=h))
    assert "Enter the patient's first name" in messages
    assert "Describe the functional effects of the condition in plain words." in messages
    assert messages.index("Describe the functional effects of the condition in plain words.") < messages.index(
        "Enter your name")  # in the page's order
    not_fit = {**form, "decision": "not_fit", "categories": "altered_hours"}
    assert any("cannot carry advice" in m for m in summary(client.post("/write", data=not_fit, headers=h)))
