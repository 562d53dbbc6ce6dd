"""Amendments and replacements as the clinician and the API read them.

Found in a review: the API had no issue number though the
pages say "Amended – second issue": `issue_number` gives the same count."""

from __future__ import annotations

import pytest

from tests.services.adjustments.conftest import suggestion_body

pytestmark = pytest.mark.timeout(180)


def html(client, h, path: str) -> str:
    return " ".join(client.get(path, headers={**h, "Accept": "text/html"}).get_data(as_text=True).split())


def test_the_api_gives_the_issue_number_the_pages_show(app, tokens):
    client, h = app.test_client(), tokens.header()
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

