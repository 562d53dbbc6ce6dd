"""The guidance knowledge base: the starter library's content, ranked search, versioned edits."""

from __future__ import annotations

import re

import sqlalchemy as sa

from worklink_adjustments import knowledge
from worklink_adjustments.models import GuidanceRule
from worklink_adjustments.schemas import AREAS, COST_BANDS, EQUALITY_ACT, ATW_ELEMENTS
from worklink_adjustments.domain import FIT_NOTE_CATEGORIES
from tests.services.adjustments.conftest import LIBRARY_VERSION, build_app, make_settings, suggestion_body


def test_starter_library_is_substantial_and_complete():
    library = knowledge.starter_library()
    assert len(library["conditions"]) >= 30
    assert len(library["limitations"]) >= 25
    assert len(library["adjustments"]) >= 150
    assert len(library["phrase_templates"]) >= 25
    limitation_ids = {item["id"] for item in library["limitations"]}
    for adjustment in library["adjustments"]:
        assert adjustment["fit_note_category"] in FIT_NOTE_CATEGORIES
        assert adjustment["equality_act_requirement"] in EQUALITY_ACT
        assert adjustment["adjustment_area"] in AREAS
        assert adjustment["cost_band"] in COST_BANDS
        assert adjustment["access_to_work"] == (adjustment["access_to_work_element"] is not None)
        assert adjustment["access_to_work_element"] in (None, *ATW_ELEMENTS)
        assert len(adjustment["employer_text"]) > 15
    reached = {r["adjustment_id"] for r in library["guidance_rules"]}
    assert reached == {a["id"] for a in library["adjustments"]}, "every adjustment is reachable by a rule"
    assert {r["limitation_id"] for r in library["guidance_rules"]} == limitation_ids
    for condition in library["conditions"]:
        assert set(condition["limitation_ids"]) <= limitation_ids
    # Each rule says how strongly to consider the adjustment, why, and on whose guidance.
    source_ids = {item["id"] for item in library["sources"]}
    for rule in library["guidance_rules"]:
        assert rule["priority"] in (1, 2, 3) and rule["rationale"].strip(), rule
        assert rule["source_ids"] and set(rule["source_ids"]) <= source_ids, rule
    assert any(r["condition_id"] for r in library["guidance_rules"])  # narrowed to a condition
    assert any(r["work_function_id"] for r in library["guidance_rules"])  # or to a job task
    # ICF codes are optional, and only ever well-formed body-function/activity codes.
    coded = [code for item in library["limitations"] for code in item.get("icf_codes") or ()]
    assert coded and all(re.fullmatch(r"[bdes]\d{3,5}", code) for code in coded), coded


def ids(response, n=None):
    return [h["adjustment"]["id"] for h in response.get_json()["hits"]][:n]


def test_search_ranks_condition_specific_guidance_first(client, tokens):
    back = client.get("/guidance/search?condition=back_pain&limit=10", headers=tokens.header())
    assert back.status_code == 200
    body = back.get_json()
    assert body["guidance_version"] == LIBRARY_VERSION
    assert body["limitations"][0]["id"] == "lifting"  # the condition's first usual limitation
    top = ids(back, 10)
    assert "no_heavy_lifting" in top[:5] and "standing_sitting_mix" in top[:5]
    assert all(h["score"] >= body["hits"][i + 1]["score"] for i, h in enumerate(body["hits"][:-1]))
    # The same limitation without the condition: back-specific rules no longer add their bonus.
    lifting = client.get("/guidance/search?limitation=lifting&limit=100", headers=tokens.header()).get_json()
    scores = {h["adjustment"]["id"]: h["score"] for h in lifting["hits"]}
    assert scores["no_heavy_lifting"] < {h["adjustment"]["id"]: h["score"] for h in body["hits"]}["no_heavy_lifting"]


def test_search_by_a_limitation_ranks_its_first_choice_adjustments_first(app, client, tokens):
    """A limitation on its own finds every adjustment its live rules name, those it names at priority 1 first,
    then 2, then 3 (only a rule narrowed to a condition or a job task waits for that condition or task)."""
    with app.extensions["worklink"].database.engine.connect() as conn:
        rules = conn.execute(sa.select(GuidanceRule.adjustment_id, GuidanceRule.priority).where(
            GuidanceRule.limitation_id == "concentration", GuidanceRule.condition_id.is_(None),
            GuidanceRule.work_function_id.is_(None),
            GuidanceRule.review_status.in_(("published", "clinically_reviewed")))).all()
    best: dict[str, int] = {}
    for adjustment_id, priority in rules:
        best[adjustment_id] = min(priority, best.get(adjustment_id, 3))
    body = client.get("/guidance/search?limitation=concentration&limit=100", headers=tokens.header()).get_json()
    found = [h["adjustment"]["id"] for h in body["hits"]]
    assert body["total"] == len(found) and set(found) == set(best)
    priorities = [best[aid] for aid in found]
    assert priorities == sorted(priorities) and len(set(priorities)) > 1, priorities


def test_search_by_job_task_and_by_free_text(client, tokens):
    driving = client.get("/guidance/search?task=driving_vehicles", headers=tokens.header())
    assert "no_driving" in ids(driving, 3)
    nights = client.get("/guidance/search?q=night+shifts", headers=tokens.header()).get_json()
    assert nights["hits"][0]["adjustment"]["id"] == "no_night_shifts"
    dyslexia = client.get("/guidance/search?q=dyslexia", headers=tokens.header()).get_json()
    assert dyslexia["conditions"][0]["id"] == "dyslexia"  # read as the condition, via its name
    assert {"text_to_speech", "voice_recognition"} <= set(h["adjustment"]["id"] for h in dyslexia["hits"][:6])
    sciatica = client.get("/guidance/search?q=sciatica", headers=tokens.header()).get_json()
    assert sciatica["conditions"][0]["id"] == "back_pain"  # via a synonym
    nothing = client.get("/guidance/search?q=zzqx", headers=tokens.header()).get_json()
    assert nothing["hits"] == [] and nothing["total"] == 0


def test_search_refuses_unknown_ids_with_field_pointers(client, tokens):
    response = client.get("/guidance/search?condition=gout&limitation=lifting&limitation=flying",
                          headers=tokens.header())
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert {e["pointer"] for e in response.get_json()["errors"]} == {"/condition", "/limitation"}
    assert client.get("/guidance/search?q=back").status_code == 401


def test_admin_edits_are_versioned_and_suggestions_record_the_version(tmp_path, database_url):
    settings = make_settings(tmp_path, database_url)
    client = build_app(settings).test_client()
    from tests.services.adjustments.conftest import Tokens
    tokens = Tokens(settings)
    admin = tokens.header(role="alliance_admin", org=None, subject="admin-1")
    current = client.get("/guidance/adjustments/quiet_workspace", headers=admin).get_json()
    assert client.patch("/guidance/adjustments/quiet_workspace", json={"title": "Quiet room"},
                        headers=tokens.header()).status_code == 403
    edited = client.patch("/guidance/adjustments/quiet_workspace",
                          json={"revision": current["revision"], "title": "A quieter place to work"}, headers=admin)
    assert edited.status_code == 200 and edited.get_json()["updated_in_version"] == LIBRARY_VERSION + 1
    stale = client.patch("/guidance/adjustments/quiet_workspace",
                         json={"revision": current["revision"], "title": "Other"}, headers=admin)
    assert stale.status_code == 409 and stale.get_json()["current_revision"] == current["revision"] + 1

    new = {"id": "walking_meetings", "title": "Walking one-to-ones", "employer_text": "Hold one-to-one meetings "
           "while walking where the employee prefers it.", "fit_note_category": "workplace_adaptations",
           "equality_act_requirement": "provision_criterion_practice", "adjustment_area": "relationships_communication",
           "cost_band": "none", "access_to_work": False}
    assert client.post("/guidance/adjustments", json=new, headers=admin).status_code == 201
    uncited = client.post("/guidance/rules", json={"limitation_id": "sitting", "adjustment_id": "walking_meetings",
                                                   "rationale": "Avoids long sitting.",
                                                   "source_ids": ["acas-mh-adjustments", "my-blog"]}, headers=admin)
    assert uncited.status_code == 422  # a rule cites only sources the library holds
    assert [e["pointer"] for e in uncited.get_json()["errors"]] == ["/source_ids/1"]
    rule = client.post("/guidance/rules", json={"limitation_id": "sitting", "adjustment_id": "walking_meetings",
                                                "priority": 1, "rationale": "Avoids long sitting.",
                                                "source_ids": ["acas-mh-adjustments"]}, headers=admin)
    assert rule.status_code == 201 and rule.get_json()["source_ids"] == ["acas-mh-adjustments"]
    found = client.get("/guidance/search?limitation=sitting&limit=100", headers=tokens.header()).get_json()
    assert found["guidance_version"] == LIBRARY_VERSION + 3 and "walking_meetings" in [h["adjustment"]["id"] for h in found["hits"]]
    assert "A quieter place to work" in client.get("/guidance/search?q=quieter", headers=tokens.header()).get_data(as_text=True)
    retired = client.patch(f"/guidance/rules/{rule.get_json()['id']}", json={"revision": 1, "review_status": "retired"},
                           headers=admin)
    assert retired.status_code == 200
    again = client.get("/guidance/search?limitation=sitting&limit=100", headers=tokens.header()).get_json()
    assert "walking_meetings" not in [h["adjustment"]["id"] for h in again["hits"]]

    created = client.post("/suggestions", json=suggestion_body(), headers=tokens.header())
    assert created.status_code == 201 and created.get_json()["guidance_version"] == LIBRARY_VERSION + 4
    versions = client.get("/guidance/versions", headers=admin).get_json()["items"]
    assert [v["version"] for v in versions] == list(range(LIBRARY_VERSION + 4, 0, -1))


def test_catalogue_lists_the_pickers(client, tokens):
    body = client.get("/guidance/catalogue", headers=tokens.header()).get_json()
    assert len(body["conditions"]) >= 30 and len(body["limitations"]) >= 25 and len(body["work_functions"]) >= 10
    assert any("{period}" in p["text"] for p in body["phrases"])


def test_an_alliance_admin_adds_a_condition_that_search_then_reads(client, tokens):
    admin = tokens.header(role="alliance_admin", org=None, subject="admin-1")
    condition = {"id": "raynauds", "name": "Raynaud's phenomenon", "category": "musculoskeletal",
                 "synonyms": ["cold fingers"], "limitation_ids": ["hand_use", "temperature"]}
    assert client.post("/guidance/conditions", json=condition, headers=tokens.header()).status_code == 403
    unknown = client.post("/guidance/conditions", headers=admin,
                          json={**condition, "limitation_ids": ["hand_use", "levitation"]})
    assert unknown.status_code == 422 and unknown.mimetype == "application/problem+json"
    assert [e["pointer"] for e in unknown.get_json()["errors"]] == ["/limitation_ids/1"]
    assert client.post("/guidance/conditions", json=condition, headers=admin).status_code == 201
    assert client.post("/guidance/conditions", json=condition, headers=admin).status_code == 409

    found = client.get("/guidance/search?q=cold+fingers", headers=tokens.header()).get_json()
    assert found["guidance_version"] == LIBRARY_VERSION + 1 and found["conditions"][0]["id"] == "raynauds"
    assert [lim["id"] for lim in found["limitations"][:2]] == ["hand_use", "temperature"]
    by_id = client.get("/guidance/search?condition=raynauds", headers=tokens.header()).get_json()
    assert by_id["total"] > 0


def test_an_alliance_admin_edits_conditions_and_adds_limitations_and_wording(client, tokens):
    admin = tokens.header(role="alliance_admin", org=None, subject="admin-1")
    limitation = {"id": "vibration", "name": "Vibration tolerance", "domain": "physical",
                  "description": "Vibrating tools or vehicles bring on symptoms.", "icf_codes": ["b2401"]}
    assert client.post("/guidance/limitations", json=limitation, headers=tokens.header()).status_code == 403
    bad = client.post("/guidance/limitations", json={**limitation, "icf_codes": ["x99"]}, headers=admin)
    assert [e["pointer"] for e in bad.get_json()["errors"]] == ["/icf_codes/0"]
    assert client.post("/guidance/limitations", json=limitation, headers=admin).status_code == 201
    assert client.post("/guidance/limitations", json=limitation, headers=admin).status_code == 409

    renamed = client.patch("/guidance/conditions/back_pain", headers=admin,
                           json={"synonyms": ["sciatica", "lumbago"], "limitation_ids": ["lifting", "vibration"]})
    assert renamed.status_code == 200 and renamed.get_json()["limitation_ids"] == ["lifting", "vibration"]
    unknown = client.patch("/guidance/conditions/back_pain", json={"limitation_ids": ["levitation"]}, headers=admin)
    assert unknown.status_code == 422 and unknown.get_json()["errors"][0]["pointer"] == "/limitation_ids/0"
    assert client.patch("/guidance/conditions/gout", json={"name": "Gout"}, headers=admin).status_code == 404
    found = client.get("/guidance/search?q=lumbago", headers=tokens.header()).get_json()
    assert found["conditions"][0]["id"] == "back_pain"
    assert [lim["id"] for lim in found["limitations"][:2]] == ["lifting", "vibration"]

    wording = {"limitation_id": "vibration", "text": "{patient} should avoid vibrating tools for {period}."}
    assert client.post("/guidance/phrases", json={"text": wording["text"]}, headers=admin).status_code == 422
    assert client.post("/guidance/phrases", json={**wording, "adjustment_id": "teleport"},
                       headers=admin).get_json()["errors"][0]["pointer"] == "/adjustment_id"
    for broken in ("{patient should avoid vibrating tools.", "{0.__class__} should avoid vibrating tools.",
                   "{name} should avoid vibrating tools for {period}.", "Avoid vibrating tools for period}."):
        refused = client.post("/guidance/phrases", json={**wording, "text": broken}, headers=admin)
        assert refused.status_code == 422 and refused.get_json()["errors"][0]["pointer"] == "/text", broken
    assert client.post("/guidance/phrases", json=wording, headers=admin).status_code == 201
    catalogue = client.get("/guidance/catalogue", headers=tokens.header()).get_json()
    assert catalogue["guidance_version"] == LIBRARY_VERSION + 3
    assert "vibration" in [lim["id"] for lim in catalogue["limitations"]]
    assert wording["text"] in [p["text"] for p in catalogue["phrases"]]
