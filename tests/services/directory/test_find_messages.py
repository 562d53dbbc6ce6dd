"""The residents' search speaks plainly: a mistake is told in the page's words beside its field (never
the read API's parameter names or quoted values), and an old link past the last page shows the last page. Times and paging on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest

from tests.services.directory.conftest import ORG_A, service_body, token_for

SEARCH = "q=counselling&"


@pytest.mark.parametrize("query, field, message", [
    ("postcode=ZZ", "postcode", "Enter a full postcode, like TA1 1AA."),
    ("postcode=TA9+9ZZ", "postcode", "We do not know the postcode TA9 9ZZ; this directory covers Somerset."),
    ("within=1609", "postcode", "Enter a postcode to search within a distance."),
    ("postcode=TA1+1AA&within=7", "within", "Select a distance from the list."),
    ("age=abc", "age", "Enter your age in whole years, like 34."),
    ("age=200", "age", "Enter your age in whole years, like 34."),
    ("time=25:00", "time", "Enter a time, like 9:30 or 17:30."),
    ("time=noon", "time", "Enter a time, like 9:30 or 17:30."),
    ("day=XX", "day", "Select a day from the list."),
    ("category=abc", "category", "Select a type of support from the list."),
    ("category=00000000-0000-0000-0000-000000000000", "category", "Select a type of support from the list."),
    ("delivery=pigeon", "delivery", "Select how you get help from the list."),
    ("q=" + "a" * 201, "q", "Enter what you need help with in 200 characters or fewer."),
])
def test_a_mistake_is_told_in_the_pages_words(app, directory, query, field, message):
    response = app.test_client().get("/find?" + query)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f'<a href="#{field}">{message}</a>' in html  # the error summary links to the field
    assert re.search(rf'id="{field}-error"[^>]*>\s*<span class="nhsuk-u-visually-hidden">Error:</span>\s*'
                     rf'{re.escape(message)}', html), html[html.find("nhsuk-error-message"):][:400]
    for api_words in ("must be", "start_time", "taxonomy_term_id", "radius", "'ZZ'", "is not a UK postcode"):
        assert api_words not in html


def test_times_are_read_as_residents_write_them(both):
    app, _ = both
    client = app.test_client()
    for written in ("9.30", "9:30", "09:30"):
        response = client.get(f"/find?time={written}&day=MO")
        assert response.status_code == 200 and "Taunton counselling service" in response.get_data(as_text=True)


def test_a_page_past_the_end_shows_the_last_page(both):
    app, _ = both
    client, admin = app.test_client(), token_for(app, "alliance_admin")
    for number in range(10):  # with the two open on Mondays already: 12, two pages of 10
        body = service_body(ORG_A, f"Job club {number}", ["employment-advice"], description="Help into work.")
        assert client.post("/manage/services", json=body, headers=admin).status_code == 201
    total = re.search(r"(\d+) services found", client.get("/find?day=MO").get_data(as_text=True))
    assert total and int(total.group(1)) > 10
    for page in ("9", "2"):
        response = client.get(f"/find?day=MO&page={page}")
        html = response.get_data(as_text=True)
        assert response.status_code == 200 and "There is a problem" not in html
        assert "Page 1 of 2" in html and "Page 3 of 2" not in html  # the last page: a link back to page 1
        assert len(re.findall(r'class="nhsuk-card__link"', html)) == int(total.group(1)) - 10
    for broken in ("abc", "0", "-1"):  # a broken link starts at the first page
        html = client.get(f"/find?day=MO&page={broken}").get_data(as_text=True)
        assert "There is a problem" not in html and "Page 2 of 2" in html
    assert "There is a problem" not in client.get(f"/find?{SEARCH}page=9").get_data(as_text=True)
