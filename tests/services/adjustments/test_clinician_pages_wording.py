"""What the clinician's pages call a suggestion: the review page says whose it is and from which assessment
(the id only as a small reference), and its status reads as an NHS.UK tag in words, the same on the home list
and the review page; in real headless Chromium with axe-core.

Found on a look through the clinician flow: the review page was titled "Suggestion 3F2A9C1B (issued)", and the
status read as a code ("superseded", "issued (version 2)"). A later review: "Issued version 2" right after a first
issue read as "amended once"; an amended suggestion now says which issue it is, as the employer's answers do."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.browser import assert_accessible, live_server, sign_in, submit
from tests.services.adjustments.conftest import suggestion_body
from worklink_adjustments.domain import uk_today

pytestmark = pytest.mark.timeout(180)


def in_words(day) -> str:
    return f"{day.day} {day:%B %Y}"


def test_the_review_page_says_whose_suggestion_and_from_which_assessment(app, tokens, page):
    client, h = app.test_client(), tokens.header()
    assessed = uk_today() - timedelta(days=3)
    body = suggestion_body(**{"assessment.date": assessed.isoformat(),
                              "assessment.condition_started_on": (assessed - timedelta(days=40)).isoformat()})
    created = client.post("/suggestions", json=body, headers=h).get_json()
    reference = created["id"][:8].upper()
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), f"/review/{created['id']}")
        assert page.get_by_role("heading", level=1).inner_text() == (
            f"Suggestion for Sam Patel, assessed on {in_words(assessed)}")
        assert page.locator("#reference").inner_text() == f"Reference {reference}"
        # a caption above the heading, as NHS.UK's: below it, it stood apart from everything
        assert page.evaluate("""() => !!(document.querySelector('#reference').compareDocumentPosition(
            document.querySelector('h1')) & Node.DOCUMENT_POSITION_FOLLOWING)""")
        # a draft's employer has not been asked yet ("None yet" read as waiting for them)
        assert page.locator("#employer-response").inner_text() == (
            "Not asked yet: the letter asks the employer once you issue it")
        # The tab's title says what and when, never whose: history outlives sign-out on a shared PC.
        assert page.title().startswith(
            f"Suggestion from the assessment on {in_words(assessed)} (Draft), reference {reference}")
        assert "Sam" not in page.title() and "Patel" not in page.title()
        assert_accessible(page)


def test_the_status_is_a_tag_in_words_on_the_home_list_and_the_review_page(app, tokens, page):
    """Found in a review: a first issue read "Issued version 2" (the version counts every save, the issue too),
    which clinicians read as "amended once". A suggestion issued once shows no number; an amended one says which
    issue it is, on the home list and the review page alike."""
    client, h = app.test_client(), tokens.header()
    draft = client.post("/suggestions", json=suggestion_body(), headers=h).get_json()
    saved = client.put(f"/suggestions/{draft['id']}", json={**suggestion_body(), "version": 1}, headers=h)
    assert saved.get_json()["version"] == 2  # a draft saved twice is still no issue
    replaced = client.post("/suggestions", json=suggestion_body(**{"patient.given_name": "Ravi"}), headers=h).get_json()
    assert client.post(f"/suggestions/{replaced['id']}/issue", json={"version": 1}, headers=h).status_code == 200
    newer = client.post("/suggestions", json=suggestion_body(**{"patient.given_name": "Ravi", "supersedes_id":
                                                                replaced["id"]}), headers=h).get_json()
    assert client.put(f"/suggestions/{newer['id']}", json={**suggestion_body(**{
        "patient.given_name": "Ravi", "supersedes_id": replaced["id"]}), "version": 1}, headers=h).status_code == 200
    issued = client.post(f"/suggestions/{newer['id']}/issue", json={"version": 2}, headers=h).get_json()
    assert issued["version"] == 3  # issued once, after one more save of the draft
    amended = client.post("/suggestions", json=suggestion_body(**{"patient.given_name": "Mo"}), headers=h).get_json()
    assert client.post(f"/suggestions/{amended['id']}/issue", json={"version": 1}, headers=h).status_code == 200
    for version in (2, 3):  # amended twice: its third issue
        assert client.post(f"/suggestions/{amended['id']}/amend", json={**suggestion_body(**{
            "patient.given_name": "Mo"}), "version": version}, headers=h).status_code == 200
    expected = {draft["id"]: "Draft", newer["id"]: "Issued", replaced["id"]: "Replaced by a newer suggestion",
                amended["id"]: "Amended – third issue"}
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), "/")
        rows = page.locator("tbody tr")
        statuses = {row.locator("a").first.get_attribute("href").removeprefix("/review/"):
                    " ".join(row.locator("td:nth-child(3)").inner_text().split()).removeprefix("Status ")
                    for row in rows.all()}
        assert statuses == expected, statuses
        tags = page.locator("tbody .nhsuk-tag")
        assert sorted(tags.all_inner_texts()) == ["Amended", "Draft", "Issued", "Replaced by a newer suggestion"]
        assert_accessible(page)

        for suggestion_id, words in expected.items():
            page.goto(f"{base}/review/{suggestion_id}")
            status = page.locator("#status")
            assert status.locator(".nhsuk-tag").inner_text() == words.split(" – ")[0]
            assert " ".join(status.inner_text().split()) == words
        assert_accessible(page)
    assert not re.search(r"version \d", page.content())


def test_the_employer_s_answers_name_the_issue_as_the_status_tag_does(app, tokens, page):
    """The review page's answers said "Answer to version 2" for the answer to a first issue: each now names the
    issue it answered in the tag's words, by number only once the suggestion was amended."""
    from tests.services.adjustments.test_employer_api_and_rounds import ANSWER, letter_token

    client, h = app.test_client(), tokens.header()
    created = client.post("/suggestions", json=suggestion_body(), headers=h).get_json()
    assert client.post(f"/suggestions/{created['id']}/issue", json={"version": 1}, headers=h).status_code == 200
    assert client.post(f"/employer-links/{letter_token(client, tokens, created['id'])}/response",
                       json=ANSWER).status_code == 201
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), f"/review/{created['id']}")
        assert page.locator("#status").inner_text().strip() == "Issued"
        assert page.locator("#employer-response strong").all_inner_texts() == ["Answer to the letter"]
        amended = client.post(f"/suggestions/{created['id']}/amend", json={**suggestion_body(), "version": 2},
                              headers=h)
        assert amended.status_code == 200
        page.reload()
        assert " ".join(page.locator("#status").inner_text().split()) == "Amended – second issue"
        assert page.locator("#employer-response p").first.inner_text() == (
            "None yet for the second issue, the current one")
        assert page.locator("#employer-response strong").all_inner_texts() == [
            "Answer to the first issue (since amended)"]
        assert client.post(f"/employer-links/{letter_token(client, tokens, created['id'])}/response",
                           json=ANSWER).status_code == 201
        page.reload()
        assert page.locator("#employer-response strong").all_inner_texts() == [
            "Answer to the second issue (current)", "Answer to the first issue (since amended)"]
        assert "version" not in page.locator("#employer-response").inner_text()
        assert_accessible(page)


def test_no_status_reads_as_a_code(app, tokens):
    """Every status the lifecycle has is given words and a colour of NHS.UK's tags."""
    from worklink_adjustments.domain import STATUSES

    template = app.jinja_env.get_template("adjustments/_macros.html")
    tags = template.module.STATUS_TAGS
    assert set(tags) == set(STATUSES)
    assert all(words[0].isupper() and "_" not in words for words, _ in tags.values())
    with app.test_request_context():
        assert template.module.status_tag("superseded", 1) == (
            '<strong class="nhsuk-tag nhsuk-tag--grey">Replaced by a newer suggestion</strong>')
        assert template.module.status_tag("amended", 12) == (
            '<strong class="nhsuk-tag nhsuk-tag--purple">Amended</strong> <span class="nhsuk-body-s">– 12th issue</span>')
        assert template.module.status_tag("draft") == '<strong class="nhsuk-tag nhsuk-tag--white">Draft</strong>'


def test_ordinals_are_words_to_ninth_then_numerals():
    from worklink_adjustments.pages.wording import ordinal

    assert [ordinal(n) for n in (1, 2, 3, 9, 10, 11, 12, 13, 21, 22, 23, 101, 111)] == [
        "first", "second", "third", "ninth", "10th", "11th", "12th", "13th", "21st", "22nd", "23rd", "101st", "111th"]


def test_the_review_page_reads_its_answers_as_the_home_list_does_and_the_confirmation_says_which(app, tokens, page):
    """Found on the same look: the referral read "requested" on the review page and "Requested" on the home
    list, an employer's answer to a recommendation in the clinician's words read "... first month.: agreed",
    and the withdrawal page named only the patient, who may have several suggestions."""
    from tests.services.adjustments.test_letters_and_employer import response_link
    from tests.services.adjustments.test_page_errors import csrf_for

    client, h = app.test_client(), tokens.header()
    body = suggestion_body(**{"consent.refer_to_employment_adviser": True})
    created = client.post("/suggestions", json=body, headers=h).get_json()
    assert client.post(f"/suggestions/{created['id']}/issue", json={"version": 1}, headers=h).status_code == 200
    link = response_link(client, tokens, created["id"])
    answered = client.post(link, data={"csrf_token": csrf_for(client, link), "responder_name": "Jo Manager",
                                       **{f"items.{i}.outcome": "agreed" for i in range(3)}})
    assert answered.status_code == 303 and answered.headers["Location"].endswith("/sent")  # recorded: "Answer sent"
    assessed = in_words(uk_today())
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), "/")
        assert page.locator("tbody td:nth-child(6)").inner_text().strip().endswith("Requested")
        page.goto(f"{base}/review/{created['id']}")
        assert page.locator("#referral").inner_text().startswith("Requested")
        items = page.locator("#employer-response li").all_inner_texts()
        assert "Start at 10am for the first month: agreed" in items, items
        assert not any(".:" in item for item in items)
        page.get_by_role("link", name="Withdraw the suggestion").click()
        expect(page.locator("#which")).to_have_text(f"Sam Patel, assessed on {assessed}")
        assert_accessible(page)


def test_the_change_and_amend_pages_say_which_suggestion(app, tokens, page):
    """Found on the same look: "Change the draft" and "Amend the suggestion" named no patient above the form."""
    from tests.services.adjustments.test_write_form import SAVE

    client, h = app.test_client(), tokens.header()
    created = client.post("/suggestions", json=suggestion_body(), headers=h).get_json()
    which = f"Sam Patel, assessed on {in_words(uk_today())}"
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), f"/review/{created['id']}/change")
        assert page.locator("#which").inner_text() == which
        page.get_by_label("First name").fill("")
        submit(page, page.get_by_role("button", name=SAVE))
        assert page.locator(".nhsuk-error-summary").count() == 1
        assert page.locator("#which").inner_text() == which  # the name as stored, not as retyped
        assert_accessible(page)
    assert client.post(f"/suggestions/{created['id']}/issue", json={"version": 1}, headers=h).status_code == 200
    amend = client.get(f"/review/{created['id']}/change", headers={**h, "Accept": "text/html"}).get_data(as_text=True)
    assert f'<span class="nhsuk-caption-l" id="which">{which}</span>' in amend
    fresh = client.get("/write", headers={**h, "Accept": "text/html"}).get_data(as_text=True)
    assert 'id="which"' not in fresh  # a new suggestion is no one's yet
