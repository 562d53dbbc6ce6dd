"""ORUK 3.0 `postcode` on /service_at_locations: "If service_area is available, only return results
where the postcode exists within the service_area" - and the residents' search does the same."""

from __future__ import annotations

import re

from tests.services.directory.conftest import build_directory, make_app, token_for

AT_LOCATIONS = "/service_at_locations?per_page=50&postcode="


def names(client, url: str) -> set[str]:
    response = client.get(url)
    assert response.status_code == 200, response.get_json()
    return {item["service"]["name"] for item in response.get_json()["contents"]}


def found_on_find(client, query: str) -> set[str]:
    html = client.get("/find?" + query).get_data(as_text=True)
    return {name.replace("&#39;", "'") for name in re.findall(r'nhsuk-card__link" href="[^"]+">([^<]+)<', html)}


def test_a_postcode_returns_only_services_whose_area_covers_it(database_url, tmp_path):
    app = make_app(database_url, tmp_path)
    known = build_directory(app)
    client, admin = app.test_client(), token_for(app, "alliance_admin")
    areas = {"counselling": [{"name": "Taunton", "postcode_districts": ["TA1", "TA2"]}],
             "debt": [{"name": "Sedgemoor", "postcode_districts": ["TA6", "TA7"]},
                      {"name": "Taunton", "postcode_districts": ["TA1"]}],
             "cafe": [{"name": "Somerset"}]}  # an area that names no districts: taken to cover everyone
    for key, body in areas.items():
        response = client.patch(f"/manage/services/{known.ids[key]}", json={"service_areas": body}, headers=admin)
        assert response.status_code == 200, response.get_json()

    everyone = {"Young people's job club, Yeovil", "Wellbeing cafe, Taunton"}  # no stated districts
    assert names(client, AT_LOCATIONS + "BA20%201AA") == everyone  # Yeovil: neither Taunton nor Sedgemoor
    assert names(client, AT_LOCATIONS + "TA6%203BB") == everyone | {"Debt and money advice, Bridgwater"}
    in_taunton = names(client, AT_LOCATIONS + "TA1%201AA")
    assert in_taunton == everyone | {"Debt and money advice, Bridgwater", "Taunton counselling service"}
    # with proximity too: coverage and distance both apply, nearest first
    near = client.get(AT_LOCATIONS + "TA1%201AA&proximity=20000").get_json()["contents"]
    assert [item["service"]["name"] for item in near] == [
        "Taunton counselling service", "Wellbeing cafe, Taunton", "Debt and money advice, Bridgwater"]
    assert names(client, AT_LOCATIONS + "BA20%201AA&proximity=20000") == {"Young people's job club, Yeovil"}
    # with a search and a filter
    assert names(client, AT_LOCATIONS + "BA20%201AA&search=counselling") == set()
    assert names(client, AT_LOCATIONS + "TA1%201AA&search=counselling") >= {"Taunton counselling service"}

    # the residents' search: a Yeovil resident is not offered Taunton's counselling
    from_yeovil = found_on_find(client, "postcode=BA20+1AA")
    assert "Taunton counselling service" not in from_yeovil and "Debt and money advice, Bridgwater" not in from_yeovil
    assert from_yeovil >= everyone
    assert "Showing services open to people living in BA20 postcodes." in client.get(
        "/find?postcode=BA20+1AA").get_data(as_text=True)
    assert "Taunton counselling service" in found_on_find(client, "postcode=TA1+1AA")
    assert "Taunton counselling service" in found_on_find(client, "q=counselling")  # no postcode: no area check


def test_upgrading_copies_each_listings_districts_for_the_coverage_check(database_url, tmp_path):
    from alembic import command

    from tests.services.directory.conftest import SPEC
    from worklink.migrations import alembic_config, upgrade

    app = make_app(database_url, tmp_path)
    known = build_directory(app)
    client, admin = app.test_client(), token_for(app, "alliance_admin")
    body = {"service_areas": [{"name": "Taunton", "postcode_districts": ["TA2", "TA1"]}]}
    assert client.patch(f"/manage/services/{known.ids['counselling']}", json=body, headers=admin).status_code == 200
    app.extensions["worklink"].database.dispose()
    command.downgrade(alembic_config(SPEC.migrations_dir, database_url), "directory_0008")  # before the copy
    upgrade(SPEC.migrations_dir, database_url)
    app = make_app(database_url, tmp_path)
    client = app.test_client()
    assert "Taunton counselling service" not in names(client, AT_LOCATIONS + "BA20%201AA")
    assert "Taunton counselling service" in names(client, AT_LOCATIONS + "TA1%201AA")
    assert "Young people's job club, Yeovil" in names(client, AT_LOCATIONS + "BA20%201AA")  # no area: anyone
