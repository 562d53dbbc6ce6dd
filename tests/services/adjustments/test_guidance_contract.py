"""The guidance API answers as its OpenAPI document says (fuzz audit 2, #5b, #5d) and never with a 500
for a rule id no column could hold (#8)."""

from __future__ import annotations

import jsonschema
import pytest

from tests.services.adjustments.conftest import build_app, make_settings
from tests.services.adjustments.test_clinical_review import admin


def json_schema(node):
    """An OpenAPI 3.0 schema as JSON Schema: `nullable: true` becomes a null type."""
    if isinstance(node, list):
        return [json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: json_schema(v) for k, v in node.items()}
    if node.pop("nullable", False):
        node = {"anyOf": [node, {"type": "null"}]}
    return node


def check_answer(client, response, method: str, path: str) -> None:
    """`response` matches the 200 schema the document gives `method path`, and that schema exists."""
    spec = client.get("/openapi.json").get_json()
    documented = spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema.validate(response.get_json(), {**json_schema(documented),
                                              "components": json_schema(spec["components"])})


def test_the_guidance_versions_answer_is_documented(client, tokens):
    answer = client.get("/guidance/versions", headers=tokens.header())
    assert answer.status_code == 200 and answer.get_json()["items"]
    check_answer(client, answer, "get", "/guidance/versions")


def test_a_clinically_reviewed_rule_and_adjustment_match_the_documented_answer(client, tokens):
    rule_id = client.get("/guidance/review-report", headers=admin(tokens)).get_json()["unreviewed_rules"][0]["id"]
    rule = client.post(f"/guidance/rules/{rule_id}/clinical-review", json={"revision": 1}, headers=admin(tokens))
    assert rule.status_code == 200 and rule.get_json()["review_status"] == "clinically_reviewed"
    check_answer(client, rule, "post", "/guidance/rules/{rule_id}/clinical-review")
    adjustment = client.post("/guidance/adjustments/quiet_workspace/clinical-review", json={"revision": 1},
                             headers=admin(tokens))
    assert adjustment.status_code == 200 and adjustment.get_json()["review_status"] == "clinically_reviewed"
    check_answer(client, adjustment, "post", "/guidance/adjustments/{adjustment_id}/clinical-review")
    # A request still cannot set it: only the review endpoint records who and when.
    refused = client.patch(f"/guidance/rules/{rule_id}", json={"revision": 2, "review_status": "clinically_reviewed"},
                           headers=admin(tokens))
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["pointer"] == "/review_status"


@pytest.fixture()
def any_database_client(tmp_path, database_url):
    app = build_app(make_settings(tmp_path, database_url))
    yield app.test_client()
    app.extensions["worklink"].database.dispose()


@pytest.mark.parametrize("rule_id", [0, 2**31, 2**63, 2**65])
def test_a_rule_id_no_column_could_hold_is_a_404_problem(any_database_client, tokens, rule_id):
    client, h = any_database_client, {**admin(tokens), "Accept": "application/json"}
    for method, path, body in (("patch", f"/guidance/rules/{rule_id}", {"revision": 1, "priority": 1}),
                               ("post", f"/guidance/rules/{rule_id}/clinical-review", {"revision": 1})):
        answer = getattr(client, method)(path, json=body, headers=h)
        assert answer.status_code == 404 and answer.mimetype == "application/problem+json", (path, answer.status)
    largest = client.patch(f"/guidance/rules/{2**31 - 1}", json={"revision": 1, "priority": 1}, headers=h)
    assert largest.status_code == 404 and largest.get_json()["detail"] == f"No rule {2**31 - 1}."
    parameter = client.get("/openapi.json").get_json()["paths"]["/guidance/rules/{rule_id}"]["parameters"][0]
    assert (parameter["schema"]["minimum"], parameter["schema"]["maximum"]) == (1, 2**31 - 1)
