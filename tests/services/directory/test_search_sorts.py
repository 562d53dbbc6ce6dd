"""Search words combine with every sort the extension offers (relevance, name, last_reviewed, distance)."""

from __future__ import annotations

from tests.services.directory.conftest import build_directory, make_app, token_for
from tests.services.directory.test_read_api import assert_valid, names

BRIDGWATER = "lat=51.1280&lon=-3.0030"


def test_search_with_every_sort(database_url, tmp_path):
    app = make_app(database_url, tmp_path)
    known = build_directory(app)
    client = app.test_client()
    admin = token_for(app, "alliance_admin")
    assert client.post(f"/manage/services/{known.ids['debt']}/assure", json={}, headers=admin).status_code == 200

    by_relevance = names(client.get("/services?search=counselling"))
    assert by_relevance[0] == "Taunton counselling service" and "Debt and money advice, Bridgwater" in by_relevance
    found = set(by_relevance)
    assert names(client.get("/services?search=counselling&sort=relevance")) == by_relevance
    assert names(client.get("/services?search=counselling&sort=name")) == sorted(found)
    reviewed = names(client.get("/services?search=counselling&sort=last_reviewed"))
    assert reviewed[0] == "Debt and money advice, Bridgwater" and set(reviewed) == found  # the one assured first
    nearest = client.get(f"/services?search=counselling&{BRIDGWATER}&sort=distance")
    assert names(nearest)[0] == "Debt and money advice, Bridgwater"
    distances = [item["distance"] for item in nearest.get_json()["contents"]]
    assert distances == sorted(distances)
    within = names(client.get(f"/services?search=counselling&{BRIDGWATER}&radius=5000&sort=distance"))
    assert within == ["Debt and money advice, Bridgwater"]
    for sort in ("name", "last_reviewed", "relevance"):  # combined with a filter and a radius too
        response = client.get(f"/services?search=counselling&age=30&{BRIDGWATER}&radius=50000&sort={sort}")
        assert set(names(response)) <= found and names(response), sort
        for item in response.get_json()["contents"]:
            assert_valid("service_list", item)
