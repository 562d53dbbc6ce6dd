"""Amendments and replacements as the clinician and the API read them.

Found in a review: a suggestion that replaces another (`supersedes_id`) said nothing of what it replaced, and the
replaced one only "Replaced by a newer suggestion": both now name and link the other by its assessment date, on
the review page and the home list (the practice's own suggestions only). The API had no issue number though the
pages say "Amended – second issue": `issue_number` gives the same count. An ended suggestion's issue read
"Withdrawn – third issue" (as if only that issue was withdrawn) and its employer answer "None yet ... the current
one" (the employer can no longer answer): they now say it ended after that issue. Each test runs on SQLite and
PostgreSQL (`svc`): the replacements and issue counts are queries of their own."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.browser import assert_accessible, live_server, sign_in
from tests.services.adjustments.conftest import suggestion_body
from tests.services.adjustments.test_employer_api_and_rounds import ANSWER, letter_token
from worklink_adjustments.domain import uk_today

pytestmark = pytest.mark.timeout(180)


def in_words(day) -> str:
    return f"{day.day} {day:%B %Y}"


def assessed_on(day, **overrides) -> dict:
    return suggestion_body(**{"assessment.date": day.isoformat(),
                              "assessment.condition_started_on": (day - timedelta(days=40)).isoformat(), **overrides})


def html(client, h, path: str) -> str:
    return " ".join(client.get(path, headers={**h, "Accept": "text/html"}).get_data(as_text=True).split())


def test_a_replacement_and_the_suggestion_it_replaced_link_each_other_by_assessment_date(svc, page):
    app, client, tokens = svc
    h = tokens.header()
    first_day, second_day = uk_today() - timedelta(days=30), uk_today() - timedelta(days=2)
    older = client.post("/suggestions", json=assessed_on(first_day), headers=h).get_json()
    assert client.post(f"/suggestions/{older['id']}/issue", json={"version": 1}, headers=h).status_code == 200
    newer = client.post("/suggestions", json=assessed_on(second_day, supersedes_id=older["id"]), headers=h).get_json()
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), f"/review/{newer['id']}")
        # a draft replaces nothing yet, and the older one is not yet replaced
        assert page.locator(".wl-replacement").all_inner_texts() == [
            f"Will replace the suggestion of {in_words(first_day)} once issued"]
        page.goto(f"{base}/review/{older['id']}")
        assert page.locator(".wl-replacement").count() == 0

        assert client.post(f"/suggestions/{newer['id']}/issue", json={"version": 1}, headers=h).status_code == 200
        page.goto(f"{base}/review/{newer['id']}")
        assert page.locator(".wl-replacement").all_inner_texts() == [
            f"Replaces the suggestion of {in_words(first_day)}"]
        page.get_by_role("link", name=f"the suggestion of {in_words(first_day)}").click()
        expect(page).to_have_url(f"{base}/review/{older['id']}")  # waits for the link's page
        expect(page.locator(".wl-replacement")).to_have_text([f"Replaced by the suggestion of {in_words(second_day)}"])
        assert_accessible(page)
        page.get_by_role("link", name=f"the suggestion of {in_words(second_day)}").click()
        expect(page).to_have_url(f"{base}/review/{newer['id']}")
        assert_accessible(page)

        page.goto(f"{base}/")
        notes = {row.locator("a").first.get_attribute("href").removeprefix("/review/"):
                 row.locator(".wl-replacement").all_inner_texts() for row in page.locator("tbody tr").all()}
        assert notes == {newer["id"]: [f"Replaces the suggestion of {in_words(first_day)}"],
                         older["id"]: [f"Replaced by the suggestion of {in_words(second_day)}"]}, notes
        assert page.locator(f'tbody a[href="/review/{older["id"]}"]').count() == 2  # the patient's name and the note
        assert_accessible(page)


def test_another_practice_s_suggestion_is_never_named(svc):
    """The API refuses another practice's `supersedes_id`; a row that names one anyway (made before that check,
    or by hand) links to nothing: a page names only the practice's own suggestions, as every read does."""
    app, client, tokens = svc
    h = tokens.header()
    other = tokens.header(org=uuid.uuid4())
    ours = client.post("/suggestions", json=suggestion_body(), headers=h).get_json()
    assert client.post(f"/suggestions/{ours['id']}/issue", json={"version": 1}, headers=h).status_code == 200
    theirs = client.post("/suggestions", json=suggestion_body(), headers=other).get_json()
    assert client.post(f"/suggestions/{theirs['id']}/issue", json={"version": 1}, headers=other).status_code == 200
    with app.extensions["worklink"].database.engine.begin() as conn:
        conn.execute(sa.text("UPDATE suggestions SET supersedes_id = :ours WHERE id = :theirs"),
                     {"ours": uuid.UUID(ours["id"]).hex if conn.dialect.name == "sqlite" else ours["id"],
                      "theirs": uuid.UUID(theirs["id"]).hex if conn.dialect.name == "sqlite" else theirs["id"]})
    assert html(client, other, f"/review/{theirs['id']}").count("wl-replacement") == 0
    assert html(client, h, f"/review/{ours['id']}").count("wl-replacement") == 0
    assert "wl-replacement" not in html(client, h, "/") and "wl-replacement" not in html(client, other, "/")
    assert client.get(f"/suggestions/{ours['id']}", headers=h).get_json()["superseded_by_id"] is None


def test_the_api_gives_the_issue_number_the_pages_show(svc):
    _, client, tokens = svc
    h = tokens.header()
    created = client.post("/suggestions", json=suggestion_body(), headers=h).get_json()
    sid = created["id"]

    def numbers() -> tuple:
        one = client.get(f"/suggestions/{sid}", headers=h).get_json()["issue_number"]
        listed = client.get("/suggestions", headers=h).get_json()["items"][0]["issue_number"]
        return one, listed

    assert created["issue_number"] is None and numbers() == (None, None)  # a draft is no issue
    assert client.put(f"/suggestions/{sid}", json={**suggestion_body(), "version": 1}, headers=h).status_code == 200
    assert numbers() == (None, None)  # saved twice, still a draft
    assert client.post(f"/suggestions/{sid}/issue", json={"version": 2}, headers=h).status_code == 200
    assert numbers() == (1, 1)
    amended = client.post(f"/suggestions/{sid}/amend", json={**suggestion_body(), "version": 3}, headers=h)
    assert amended.get_json()["issue_number"] == 2 and amended.get_json()["version"] == 4
    assert numbers() == (2, 2)
    tag = 'Amended</strong> <span class="nhsuk-body-s">– second issue</span>'
    assert tag in html(client, h, f"/review/{sid}") and tag in html(client, h, "/")
    assert client.post(f"/suggestions/{sid}/withdraw", json={"version": 4, "reason": "condition_changed"},
                       headers=h).status_code == 200
    assert numbers() == (2, 2)  # kept once ended

    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    for name in ("SuggestionOut", "SuggestionSummary"):
        field = schemas[name]["properties"]["issue_number"]
        assert (field["type"], field["readOnly"], field["nullable"]) == ("integer", True, True), field


def test_an_ended_suggestion_says_after_which_issue_and_that_the_employer_can_no_longer_answer(svc):
    _, client, tokens = svc
    h = tokens.header()
    sid = client.post("/suggestions", json=suggestion_body(), headers=h).get_json()["id"]
    assert client.post(f"/suggestions/{sid}/issue", json={"version": 1}, headers=h).status_code == 200
    assert client.post(f"/employer-links/{letter_token(client, tokens, sid)}/response", json=ANSWER).status_code == 201
    assert client.post(f"/suggestions/{sid}/amend", json={**suggestion_body(), "version": 2},
                       headers=h).status_code == 200
    assert client.post(f"/suggestions/{sid}/withdraw", json={"version": 3, "reason": "condition_changed"},
                       headers=h).status_code == 200
    page = html(client, h, f"/review/{sid}")
    assert "Withdrawn</strong> <span class=\"nhsuk-body-s\">– after its second issue</span>" in page
    assert ("None for the second issue, the last one. The suggestion was withdrawn, so the employer can no longer "
            "answer") in page
    assert "None yet" not in page and "the current one" not in page
    assert "Answer to the first issue (since amended)" in page
    assert "after its second issue" in html(client, h, "/")


def test_an_ended_suggestion_s_last_answer_is_not_called_current(svc):
    _, client, tokens = svc
    h = tokens.header()
    sid = client.post("/suggestions", json=suggestion_body(), headers=h).get_json()["id"]
    assert client.post(f"/suggestions/{sid}/issue", json={"version": 1}, headers=h).status_code == 200
    assert client.post(f"/suggestions/{sid}/amend", json={**suggestion_body(), "version": 2},
                       headers=h).status_code == 200
    assert client.post(f"/employer-links/{letter_token(client, tokens, sid)}/response", json=ANSWER).status_code == 201
    assert "Answer to the second issue (current)" in html(client, h, f"/review/{sid}")
    assert client.post(f"/suggestions/{sid}/withdraw", json={"version": 3, "reason": "condition_changed"},
                       headers=h).status_code == 200
    page = html(client, h, f"/review/{sid}")
    assert "Answer to the second issue (the last one)" in page and "(current)" not in page


def test_issued_once_then_withdrawn_says_no_answer_can_come(svc):
    _, client, tokens = svc
    h = tokens.header()
    sid = client.post("/suggestions", json=suggestion_body(), headers=h).get_json()["id"]
    assert client.post(f"/suggestions/{sid}/issue", json={"version": 1}, headers=h).status_code == 200
    assert client.post(f"/suggestions/{sid}/withdraw", json={"version": 2, "reason": "condition_changed"},
                       headers=h).status_code == 200
    page = html(client, h, f"/review/{sid}")
    assert "<p>None. The suggestion was withdrawn, so the employer can no longer answer</p>" in page
    assert "issue</span>" not in page  # issued once: no number, ended or not
