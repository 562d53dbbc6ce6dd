"""Clinicians pick conditions, difficulties, job tasks and adjustments by name from lists: the library holds one
entry of a kind under a name (in any case or spacing), or two would read the same and the one picked might not
carry the guidance meant. Adding or renaming into a name taken is a 409 problem+json pointing at the name."""

from __future__ import annotations

import pytest

from tests.services.adjustments.test_neutral_ids import NEW

KINDS = [  # path, a new entry's body, an entry of the starter library and its name
    ("/guidance/conditions", {"id": "ptsd_2", "category": "mental_health", "limitation_ids": ["concentration"]},
     "anxiety", "Anxiety"),
    ("/guidance/limitations", {"id": "fatigue_2", "domain": "physical"}, "concentration", "Concentration"),
    ("/guidance/work-functions", {"id": "handling_2"}, "physical_activity", "General physical activity"),
]


def admin(tokens):
    return tokens.header(role="alliance_admin", org=None, subject="admin-1")


def refused_for_name(response, pointer="/name"):
    assert response.status_code == 409 and response.mimetype == "application/problem+json", response.get_json()
    [error] = response.get_json()["errors"]
    return error["pointer"] == pointer


@pytest.mark.parametrize("path, body, taken_id, taken", KINDS)
def test_a_new_entry_may_not_take_a_name_in_use_in_any_case_or_spacing(client, tokens, path, body, taken_id, taken):
    for same in (taken, taken.upper(), f"  {taken.lower()} ".replace(" ", "  ")):
        assert refused_for_name(client.post(path, json={**body, "name": same}, headers=admin(tokens))), same
    assert taken_id in client.post(path, json={**body, "name": taken}, headers=admin(tokens)).get_json()["detail"]
    assert client.post(path, json={**body, "name": f"{taken} at work"}, headers=admin(tokens)).status_code == 201


@pytest.mark.parametrize("path, body, taken_id, taken", KINDS)
def test_an_entry_may_not_be_renamed_to_another_ones_name_but_keeps_its_own(client, tokens, path, body, taken_id,
                                                                               taken):
    assert client.post(path, json={**body, "name": "Something new"}, headers=admin(tokens)).status_code == 201
    item = f"{path}/{body['id']}"
    revision = client.get(item, headers=admin(tokens)).get_json().get("revision") if "limitations" in path else None
    edit = {"revision": revision} if revision else {}
    assert refused_for_name(client.patch(item, json={**edit, "name": taken.lower()}, headers=admin(tokens)))
    renamed = client.patch(item, json={**edit, "name": "SOMETHING NEW"}, headers=admin(tokens))
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "SOMETHING NEW"


def test_a_live_adjustment_may_not_take_a_live_ones_title_but_a_draft_or_retired_one_may(client, tokens):
    title = "Phased return over four weeks"  # phased_return_4wk, live in the starter library
    assert refused_for_name(client.post("/guidance/adjustments", json={**NEW, "id": "rest_room", "title": title},
                                        headers=admin(tokens)), "/title")
    retired = {**NEW, "id": "rest_room", "title": title.upper(), "review_status": "retired"}
    assert client.post("/guidance/adjustments", json=retired, headers=admin(tokens)).status_code == 201
    revision = client.get("/guidance/adjustments/rest_room", headers=admin(tokens)).get_json()["revision"]
    back = client.patch("/guidance/adjustments/rest_room", json={"revision": revision, "review_status": "published"},
                        headers=admin(tokens))
    assert refused_for_name(back, "/title")
    renamed = client.patch("/guidance/adjustments/rest_room", headers=admin(tokens), json={
        "revision": revision, "review_status": "published", "title": "Somewhere to rest"})
    assert renamed.status_code == 200 and renamed.get_json()["title"] == "Somewhere to rest"
