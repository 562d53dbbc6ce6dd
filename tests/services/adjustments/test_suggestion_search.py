"""POST /suggestions/search: the NHS-number search in a JSON body, so the number stays out of the URL and
every access log on the way; GET /suggestions?nhs_number= still answers, marked deprecated."""

from __future__ import annotations

import logging

import pytest

from worklink.logs import JsonFormatter
from tests.services.adjustments.conftest import OTHER_PRACTICE, PRACTICE, VALID_NHS, patient_reference, suggestion_body
from tests.services.adjustments.test_lifecycle import audit_rows, create

OTHER_NHS = "9434765870"


def ids(response) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [item["id"] for item in response.get_json()["items"]]


def test_the_posted_search_finds_what_the_query_did_in_the_practice_only_and_audits_it(svc):
    app, client, tokens = svc
    mine, other = tokens.header(), tokens.header(org=OTHER_PRACTICE, subject="dr-other")
    first, second = create(client, tokens)["id"], create(client, tokens)["id"]
    create(client, tokens, **{"patient.nhs_number": OTHER_NHS})
    theirs = client.post("/suggestions", json=suggestion_body(), headers=other)
    assert theirs.status_code == 201

    found = client.post("/suggestions/search", json={"nhs_number": "943 476 5919"}, headers=mine)
    assert sorted(ids(found)) == sorted([first, second]) and found.get_json()["total"] == 2
    assert ids(found) == ids(client.get(f"/suggestions?nhs_number={VALID_NHS}", headers=mine))
    # The same filters and paging as the listing.
    page = client.post("/suggestions/search", json={"nhs_number": VALID_NHS, "status": "draft", "limit": 1,
                                                    "offset": 1}, headers=mine)
    assert ids(page) == ids(found)[1:] and page.get_json()["total"] == 2
    assert ids(client.post("/suggestions/search", json={"nhs_number": VALID_NHS, "status": "issued"},
                           headers=mine)) == []
    # Another practice's suggestion for the same patient is not found, nor ours by them.
    assert ids(client.post("/suggestions/search", json={"nhs_number": VALID_NHS}, headers=other)) == [
        theirs.get_json()["id"]]
    assert ids(client.post("/suggestions/search", json={"nhs_number": OTHER_NHS}, headers=other)) == []

    before = len(audit_rows(app))
    client.post("/suggestions/search", json={"nhs_number": VALID_NHS}, headers=mine)
    listed = audit_rows(app)[before:]
    assert sorted((r.action, r.resource_id, r.person_id, r.actor, r.actor_org) for r in listed) == sorted(
        ("list", sid, patient_reference(app), "dr-ada", str(PRACTICE)) for sid in (first, second))


@pytest.mark.parametrize("typed, says", [
    ("9434765918", "check digit"),  # ten digits, wrong check digit
    ("94347", "10 digits"),
    (9434765919, "Not a valid string"),
])
def test_a_bad_nhs_number_is_a_problem_naming_the_field(svc, typed, says):
    _app, client, tokens = svc
    response = client.post("/suggestions/search", json={"nhs_number": typed}, headers=tokens.header())
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    [error] = response.get_json()["errors"]
    assert error["pointer"] == "/nhs_number" and says in error["detail"]


def test_the_search_is_for_clinicians_only(svc):
    _app, client, tokens = svc
    assert client.post("/suggestions/search", json={"nhs_number": VALID_NHS}).status_code == 401
    refused = client.post("/suggestions/search", json={"nhs_number": VALID_NHS},
                          headers=tokens.header(role="adviser"))
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"


def test_the_query_parameter_is_deprecated_in_the_document_and_the_answer(svc):
    _app, client, tokens = svc
    spec = client.get("/openapi.json").get_json()
    [parameter] = [p for p in spec["paths"]["/suggestions"]["get"]["parameters"] if p["name"] == "nhs_number"]
    assert parameter["deprecated"] is True
    assert "requestBody" in spec["paths"]["/suggestions/search"]["post"]
    used = client.get(f"/suggestions?nhs_number={VALID_NHS}", headers=tokens.header())
    assert used.status_code == 200
    assert used.headers["Deprecation"] == "@1795651200"  # RFC 9745: 2026-11-26T00:00:00Z
    assert used.headers["Link"] == '</suggestions/search>; rel="successor-version"'
    plain = client.get("/suggestions", headers=tokens.header())
    assert "Deprecation" not in plain.headers and "Link" not in plain.headers


def test_our_request_log_never_records_the_nhs_number(svc, caplog):
    _app, client, tokens = svc
    caplog.set_level(logging.INFO, logger="worklink.http")
    caplog.clear()
    client.get(f"/suggestions?nhs_number={VALID_NHS}&limit=5", headers=tokens.header())
    client.post("/suggestions/search", json={"nhs_number": VALID_NHS}, headers=tokens.header())
    records = [r for r in caplog.records if r.name == "worklink.http"]
    assert [(r.route, r.status) for r in records] == [("/suggestions", 200), ("/suggestions/search", 200)]
    # The log line has the path alone (worklink.web.app.loggable_path), never the query string.
    assert not [r for r in records if VALID_NHS in JsonFormatter().format(r)]
