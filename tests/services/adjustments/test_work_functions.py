"""Job tasks (work functions) are edited by alliance admins like conditions and limitations: each
edit is a new guidance version recording who made it, and errors are problem+json with pointers."""

from __future__ import annotations

from tests.services.adjustments.conftest import suggestion_body


def test_an_alliance_admin_adds_and_edits_job_tasks_that_search_and_suggestions_then_use(client, tokens):
    admin = tokens.header(role="alliance_admin", org=None, subject="admin-1")
    task = {"id": "cleaning_vehicles", "name": "Cleaning and valeting vehicles", "onet_element_id": "4.A.3.a.1",
            "examples": ["car valeting", "jet washing"]}
    assert client.post("/guidance/work-functions", json=task, headers=tokens.header()).status_code == 403
    bad = client.post("/guidance/work-functions", headers=admin,
                      json={**task, "onet_element_id": "forty-two", "name": "", "examples": ["x"]})
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"
    assert {e["pointer"] for e in bad.get_json()["errors"]} == {"/onet_element_id", "/name", "/examples/0"}
    created = client.post("/guidance/work-functions", json=task, headers=admin)
    assert created.status_code == 201 and created.get_json() == task
    again = client.post("/guidance/work-functions", json=task, headers=admin)
    assert again.status_code == 409 and again.mimetype == "application/problem+json"

    found = client.get("/guidance/search?q=jet+washing", headers=tokens.header()).get_json()
    assert found["work_functions"][0]["id"] == "cleaning_vehicles"
    assert client.get("/guidance/search?task=cleaning_vehicles", headers=tokens.header()).status_code == 200
    catalogue = client.get("/guidance/catalogue", headers=tokens.header()).get_json()
    assert "cleaning_vehicles" in [w["id"] for w in catalogue["work_functions"]]
    written = client.post("/suggestions", json=suggestion_body(**{"job.tasks": ["cleaning_vehicles"]}),
                          headers=tokens.header())
    assert written.status_code == 201 and written.get_json()["job"]["tasks"] == ["cleaning_vehicles"]

    edit = {"name": "Shift, night, early or weekend work", "examples": ["night shifts", "weekend rota"],
            "onet_element_id": None}
    assert client.patch("/guidance/work-functions/shift_work", json=edit, headers=tokens.header()).status_code == 403
    edited = client.patch("/guidance/work-functions/shift_work", json=edit, headers=admin)
    assert edited.status_code == 200 and edited.get_json() == {"id": "shift_work", **edit}
    found = client.get("/guidance/search?q=weekend", headers=tokens.header()).get_json()
    assert found["work_functions"][0]["id"] == "shift_work"
    missing = client.patch("/guidance/work-functions/juggling", json={"name": "Juggling"}, headers=admin)
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    invalid = client.patch("/guidance/work-functions/shift_work", json={"onet_element_id": "4.A.?"}, headers=admin)
    assert invalid.status_code == 422 and invalid.get_json()["errors"][0]["pointer"] == "/onet_element_id"

    versions = client.get("/guidance/versions", headers=admin).get_json()["items"]
    assert [(v["change"], v["published_by"]) for v in versions[:2]] == [
        ("edit job task shift_work", "admin-1"), ("add job task cleaning_vehicles", "admin-1")]
    assert written.get_json()["guidance_version"] == versions[1]["version"]  # written after the task was added


def test_a_job_task_no_rule_names_finds_adjustments_by_its_words(client, tokens):
    """'Organising, planning and prioritising work' and two other job tasks of the find page's list found no
    adjustment on their own: no rule names them yet. Their names and examples are searched as words instead."""
    h = tokens.header()
    for task, expected in (("planning_work", "Checklists and task lists"),
                           ("colleague_communication", "Agreed communication method"),
                           ("information_processing", "Accessible document formats")):
        found = client.get(f"/guidance/search?task={task}&limit=10", headers=h).get_json()
        assert found["total"] > 0 and expected in [hit["adjustment"]["title"] for hit in found["hits"]], task
    with_rules = client.get("/guidance/search?task=driving_vehicles", headers=h).get_json()  # rules only, as before
    assert sorted(hit["adjustment"]["title"] for hit in with_rules["hits"]) == ["No driving for work",
                                                                                  "Vehicle adaptations"]
    page = client.get("/find?task=planning_work", headers=h).get_data(as_text=True)
    assert 'id="no-match"' not in page and "Checklists and task lists" in page
