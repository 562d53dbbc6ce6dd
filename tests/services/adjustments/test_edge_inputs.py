"""Inputs at the edges: a version too big for the database, a body naming a suggestion that does not
exist, words put in the review page's address, an NHS number of one repeated digit, answers of spaces and
dates no one means."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from worklink_adjustments.domain import nhs_number_is_valid, uk_today
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


@pytest.mark.parametrize("field, value", [("patient.given_name", " "), ("patient.family_name", "\t \n"),
                                          ("issuer.name", "   "), ("conditions", [{"text": "  "}])])
def test_a_required_answer_of_spaces_is_refused_where_it_is_typed(client, tokens, field, value):
    """Fuzz audit 2, #11: blank text passed "required" and minimum lengths."""
    response = client.post("/suggestions", json=suggestion_body(**{field: value}), headers=tokens.header())
    assert response.status_code == 422, response.get_json()
    pointer = "/" + field.replace(".", "/") + ("/0/text" if field == "conditions" else "")
    assert [e["pointer"] for e in response.get_json()["errors"]] == [pointer]


def test_typed_words_are_stored_without_the_spaces_around_them(client, tokens):
    body = suggestion_body(**{"patient.given_name": "  Sam ", "issuer.name": " Dr Ada Lovelace  "})
    created = client.post("/suggestions", json=body, headers=tokens.header()).get_json()
    assert (created["patient"]["given_name"], created["issuer"]["name"]) == ("Sam", "Dr Ada Lovelace")


def test_the_employers_answer_needs_a_real_name_and_a_plausible_start_date(client, tokens):
    from tests.services.adjustments.test_employer_api_and_rounds import letter_token

    h = tokens.header()
    sid = client.post("/suggestions", json=suggestion_body(), headers=h).get_json()["id"]
    assert client.post(f"/suggestions/{sid}/issue", json={"version": 1}, headers=h).status_code == 200
    token = letter_token(client, tokens, sid)
    items = [{"index": i, "outcome": "agreed"} for i in range(3)]
    for answer, pointer in (({"responder_name": "  "}, "/responder_name"),
                            ({"responder_name": "Jo", "effective_from": "0001-01-01"}, "/effective_from"),
                            ({"responder_name": "Jo", "effective_from": "9999-12-31"}, "/effective_from")):
        refused = client.post(f"/employer-links/{token}/response", json={"items": items, **answer})
        assert refused.status_code == 422, answer
        assert [e["pointer"] for e in refused.get_json()["errors"]] == [pointer]
    start = (uk_today() + timedelta(days=14)).isoformat()
    answered = client.post(f"/employer-links/{token}/response",
                           json={"items": items, "responder_name": " Jo Manager ", "effective_from": start})
    assert answered.status_code == 201 and answered.get_json()["responder_name"] == "Jo Manager"


@pytest.mark.parametrize("action", ["issue", "withdraw", "refer", "withdraw-referral-consent"])
def test_a_version_too_big_for_the_database_on_the_review_page_is_a_refusal_not_a_failure(svc, action):
    """The review page's forms post the version read; one no column holds (a form edited by hand) is told as a
    suggestion that changed, as the API's 422 on /version, never a database error."""
    app, client, tokens = svc
    h = tokens.header()
    s = created(client, tokens)
    if action != "issue":
        assert client.post(f"/suggestions/{s['id']}/issue", json={"version": 1}, headers=h).status_code == 200
    token = csrf_for(client, f"/review/{s['id']}", headers=h)
    response = client.post(f"/review/{s['id']}/{action}",
                           data={"csrf_token": token, "version": str(2**63), "reason": "other"}, headers=h)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert "error=" in response.location
