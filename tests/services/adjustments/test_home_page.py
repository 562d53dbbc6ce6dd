"""The clinician's home page reaches every suggestion of the practice: a page at a time (NHS.UK
pagination), or one patient's by NHS number; each row says when the patient was assessed; the table reflows at
320 px. The list's paging and search run on SQLite and PostgreSQL (their ordering and filtering are SQL)."""

from __future__ import annotations

import re

import pytest

from datetime import timedelta

from tests.browser import assert_accessible, live_server, sign_in, width_at
from tests.services.adjustments.conftest import VALID_NHS, suggestion_body
from tests.services.adjustments.test_pages import _overflows
from worklink_adjustments.domain import uk_today

pytestmark = pytest.mark.timeout(180)


def nhs_number(n: int) -> str:
    """A valid NHS number (modulus 11) made from `n`."""
    for prefix in range(n * 10 + 400_000_000, n * 10 + 400_000_010):
        digits = str(prefix)
        check = 11 - sum(int(d) * w for d, w in zip(digits, range(10, 1, -1))) % 11
        if check != 10:
            return digits + str(0 if check == 11 else check)
    raise AssertionError


def fill(client, tokens, count: int) -> list[str]:
    numbers = [nhs_number(i) for i in range(count)]
    for i, number in enumerate(numbers):
        body = suggestion_body(**{"patient.nhs_number": number, "patient.given_name": f"Patient{i:02d}"})
        assert client.post("/suggestions", json=body, headers=tokens.header()).status_code == 201
    return numbers


def names(html: str) -> list[str]:
    return re.findall(r'<a href="/review/[^"]+">(Patient\d\d) ', html)


def test_every_suggestion_is_reachable_by_page_or_by_nhs_number(svc):
    _, client, tokens = svc
    numbers = fill(client, tokens, 30)
    h = tokens.header()
    first = client.get("/", headers=h).get_data(as_text=True)
    assert len(names(first)) == 25 and "page 1 of 2" in first
    assert 'href="/?page=2"' in first and "Page 2 of 2" in first and "Previous" not in first
    second = client.get("/?page=2", headers=h).get_data(as_text=True)
    assert len(names(second)) == 5 and "Previous" in second and "Next" not in second
    assert sorted(names(first) + names(second)) == [f"Patient{i:02d}" for i in range(30)]
    # The oldest patient by NHS number, typed as people do: posted, never in the address
    assert 'method="post" action="/" role="search"' in first
    typed = f"{numbers[0][:3]} {numbers[0][3:6]} {numbers[0][6:]}"
    csrf = first.split('name="csrf_token" value="')[1].split('"')[0]
    found = client.post("/", data={"csrf_token": csrf, "nhs_number": typed}, headers=h).get_data(as_text=True)
    assert names(found) == ["Patient00"] and "Show all your practice" in found
    bad = client.post("/", data={"csrf_token": csrf, "nhs_number": "12345"}, headers=h)
    assert bad.status_code == 422 and "Enter a 10-digit NHS number" in bad.get_data(as_text=True)
    assert client.post("/", data={"nhs_number": typed}, headers=h).status_code == 400  # no CSRF token
    # An NHS number in the address (an old bookmark) filters nothing and is not echoed
    ignored = client.get(f"/?nhs_number={numbers[0]}", headers=h).get_data(as_text=True)
    assert len(names(ignored)) == 25 and numbers[0] not in ignored
    assert client.get("/?page=banana", headers=h).status_code == 200


def test_one_patients_pages_are_turned_by_posting_not_by_links(svc):
    """A patient with more suggestions than a page: the paging carries the NHS number in the form."""
    _, client, tokens = svc
    h = tokens.header()
    for i in range(27):
        body = suggestion_body(**{"patient.given_name": f"Patient{i:02d}"})
        assert client.post("/suggestions", json=body, headers=h).status_code == 201
    csrf = client.get("/", headers=h).get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    first = client.post("/", data={"csrf_token": csrf, "nhs_number": VALID_NHS}, headers=h).get_data(as_text=True)
    assert len(names(first)) == 25 and "page 1 of 2" in first
    assert "nhs_number=" not in first and 'name="page" value="2"' in first
    second = client.post("/", data={"csrf_token": csrf, "nhs_number": VALID_NHS, "page": "2"},
                         headers=h).get_data(as_text=True)
    assert len(names(second)) == 2 and 'name="page" value="1"' in second
    assert sorted(names(first) + names(second)) == [f"Patient{i:02d}" for i in range(27)]


def test_the_home_page_table_reflows_at_320_px(app, tokens, page):
    number = fill(app.test_client(), tokens, 3)[0]
    page.set_viewport_size({"width": 320, "height": 900})
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), "/")
        assert page.locator("table.nhsuk-table-responsive tbody tr").count() == 3
        assert _overflows(page) <= 0
        assert_accessible(page)
        page.get_by_label("Find a patient's suggestions by NHS number").fill(number)
        page.get_by_role("button", name="Search").click()
        assert page.locator("caption").inner_text().startswith(
            f"Suggestions for NHS number {number[:3]} {number[3:6]} {number[6:]}")
        assert page.locator("table.nhsuk-table-responsive tbody tr").count() == 1
        assert number not in page.url and number[6:] not in page.url
        assert_accessible(page)


def test_a_suggestion_never_referred_says_so_in_words_and_its_nhs_number_is_spaced(svc):
    _, client, tokens = svc
    """The home list and the review page showed "None" for a suggestion with no referral, and the NHS number
    ran as ten digits (NHS style writes it 3 3 4)."""
    fill(client, tokens, 1)
    h = tokens.header()
    home = client.get("/", headers=h).get_data(as_text=True)
    row = home.split('<a href="/review/')[1].split("</tr>")[0]
    assert "Not referred" in row and "None" not in row
    suggestion_id = row.split('"')[0]
    review = client.get(f"/review/{suggestion_id}", headers=h)
    text = review.get_data(as_text=True)
    number = nhs_number(0)
    assert review.status_code == 200 and f"{number[:3]} {number[3:6]} {number[6:]}" in text and number not in text
    assert re.search(r'id="referral">\s*Not referred</dd>', text) and not re.search(r">\s*None\s*<", text)


def test_each_row_says_when_the_patient_was_assessed_in_words_also_at_320_px(app, tokens, page):
    """Found in a review: a patient's several suggestions differed on the list only by their period (and two with
    the same period not at all); the assessment date tells them apart, as the review page's heading does."""
    client, h = app.test_client(), tokens.header()
    today = uk_today()
    assessed = {"earlier": today - timedelta(days=40), "later": today - timedelta(days=2)}
    for which, day in assessed.items():
        body = suggestion_body(**{"assessment.date": day.isoformat(), "period.start": today.isoformat(),
                                  "assessment.condition_started_on": (day - timedelta(days=30)).isoformat(),
                                  "patient.given_name": f"Sam{which}"})
        assert client.post("/suggestions", json=body, headers=h).status_code == 201, which
    in_words = {which: f"{day.day} {day:%B %Y}" for which, day in assessed.items()}
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), "/")
        assert page.locator("thead th").all_inner_texts()[:2] == ["Patient", "Assessed on"]
        rows = {row.locator("a").inner_text(): row.locator("td").nth(1).inner_text().strip()
                for row in page.locator("tbody tr").all()}
        assert rows == {"Samearlier Patel": in_words["earlier"], "Samlater Patel": in_words["later"]}, rows
        assert_accessible(page)
        assert width_at(page, 320) <= 320
        # Stacked at 320 px, each value keeps its heading (the column's, hidden from screen readers, which have it)
        cell = page.locator("tbody tr").first.locator("td").nth(1)
        assert " ".join(cell.inner_text().split()) in {f"Assessed on {words}" for words in in_words.values()}
        assert_accessible(page)
