"""Inputs at the edges: a version too big for the database, a body naming a suggestion that does not
exist, words put in the review page's address, and an NHS number of one repeated digit."""

from __future__ import annotations

import uuid

import pytest

from worklink_adjustments.domain import nhs_number_is_valid
from tests.services.adjustments.conftest import suggestion_body
from tests.services.adjustments.test_page_errors import csrf_for


def created(client, tokens) -> dict:
    response = client.post("/suggestions", json=suggestion_body(), headers=tokens.header())
    assert response.status_code == 201
    return response.get_json()


@pytest.mark.parametrize("action, extra", [("issue", {}), ("withdraw", {"reason": "other"}),
                                           ("referral-requests", {})])
def test_a_version_too_big_for_the_database_is_a_field_error(client, tokens, action, extra):
    s = created(client, tokens)
    response = client.post(f"/suggestions/{s['id']}/{action}", json={"version": 2**63, **extra},
                           headers=tokens.header())
    assert response.status_code == 422, response.get_json()
    assert [e["pointer"] for e in response.get_json()["errors"]] == ["/version"]


def test_replacing_an_unknown_suggestion_is_a_field_error(client, tokens):
    response = client.post("/suggestions", json=suggestion_body(supersedes_id=str(uuid.uuid4())),
                           headers=tokens.header())
    assert response.status_code == 422
    assert [e["pointer"] for e in response.get_json()["errors"]] == ["/supersedes_id"]


def test_the_review_page_shows_only_its_own_words_for_a_refusal(client, tokens):
    s = created(client, tokens)
    h = tokens.header()
    crafted = client.get(f"/review/{s['id']}?error=Your session expired. Call 0800 123 456.", headers=h)
    assert crafted.status_code == 200
    html = crafted.get_data(as_text=True)
    assert "0800 123 456" not in html and "nhsuk-error-summary" not in html
    # A real refusal (issuing a version that is no longer current) comes back as a code, shown as fixed text.
    token = csrf_for(client, f"/review/{s['id']}", headers=h)
    assert client.post(f"/review/{s['id']}/issue", data={"csrf_token": token, "version": "1"},
                       headers=h).status_code == 303
    again = client.post(f"/review/{s['id']}/issue", data={"csrf_token": token, "version": "1"}, headers=h)
    assert again.status_code == 303 and again.location.endswith("?error=status")
    shown = client.get(again.location, headers=h).get_data(as_text=True)
    assert "The suggestion&#39;s status no longer allows that." in shown


@pytest.mark.parametrize("number", ["0000000000", "1111111111"])
def test_an_nhs_number_of_one_repeated_digit_is_refused(client, tokens, number):
    assert not nhs_number_is_valid(number)
    response = client.post("/suggestions", json=suggestion_body(**{"patient.nhs_number": number}),
                           headers=tokens.header())
    assert response.status_code == 422
    assert [e["pointer"] for e in response.get_json()["errors"]] == ["/patient/nhs_number"]
