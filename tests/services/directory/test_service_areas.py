"""Service areas (ORUK `service_area` + postcode districts) and the reach the events carry to routing."""

from __future__ import annotations

import copy
import json
import uuid

import sqlalchemy as sa

from tests.platform.support import read_topic
from tests.services.directory.conftest import ORG_A, ORG_B, build_directory, make_app, service_body, token_for
from tests.services.directory.test_events import catalogue_on, relay
from tests.services.directory.test_import import run_import
from worklink.db import create_db_engine
from worklink.events.contracts import CATALOGUE
from worklink.migrations import upgrade
from worklink.service import installed_services
from worklink_directory import demo, oruk_schemas

TAUNTON = {"name": "Taunton and nearby", "extent_type": "text", "extent": "Postcode districts TA1, TA2",
           "postcode_districts": ["TA1", "TA2"]}


def test_areas_are_written_published_in_oruk_shape_and_replaced(app, directory):
    client, owner = app.test_client(), token_for(app, "org_admin", ORG_A)
    body = {**service_body(ORG_A, "Working Well adviser, Taunton", ["employment-advice"]), "service_areas": [TAUNTON]}
    created = client.post("/manage/services", json=body, headers=owner)
    assert created.status_code == 201, created.get_json()
    service_id = created.get_json()["id"]
    full = client.get(f"/services/{service_id}").get_json()
    assert oruk_schemas.problems("service", full) == []
    [area] = full["service_areas"]
    assert {k: area[k] for k in ("name", "service_area", "extent_type", "x_postcode_districts", "service_id")} == {
        "name": "Taunton and nearby", "service_area": "Taunton and nearby", "extent_type": "text",
        "x_postcode_districts": ["TA1", "TA2"], "service_id": service_id}

    patched = client.patch(f"/manage/services/{service_id}", headers=owner, json={"service_areas": [
        {"name": "Bridgwater", "postcode_districts": ["TA6", "TA7", "TA6"]}]})
    assert patched.status_code == 200, patched.get_json()
    areas = client.get(f"/services/{service_id}").get_json()["service_areas"]
    assert [(a["name"], a["x_postcode_districts"]) for a in areas] == [("Bridgwater", ["TA6", "TA7"])]


def test_a_bad_district_is_a_422_naming_the_field(app, directory):
    client, owner = app.test_client(), token_for(app, "org_admin", ORG_A)
    body = {**service_body(ORG_A, "Adviser", ["employment-advice"]),
            "service_areas": [{"name": "Somewhere", "postcode_districts": ["TA1", "ta 2!"]}]}
    response = client.post("/manage/services", json=body, headers=owner)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    pointers = {e["pointer"] for e in response.get_json()["errors"]}
    assert "/service_areas/0/postcode_districts/1" in pointers


def test_published_and_updated_events_carry_the_reach(sqlite_url, tmp_path, kafka_broker, new_topic):
    topic = new_topic()
    app = make_app(sqlite_url, tmp_path, catalogue=catalogue_on(topic))
    build_directory(app)  # six listings without areas: area_codes None
    client, owner = app.test_client(), token_for(app, "org_admin", ORG_A)
    body = {**service_body(ORG_A, "Working Well adviser, Taunton", ["employment-advice"], ages=(16, 64)),
            "service_areas": [TAUNTON, {"name": "Wellington", "postcode_districts": ["TA21", "TA1"]}]}
    service_id = client.post("/manage/services", json=body, headers=owner).get_json()["id"]
    assert client.patch(f"/manage/services/{service_id}", headers=owner,
                        json={"service_areas": [], "maximum_age": 67}).status_code == 200
    relay(app, kafka_broker.bootstrap_servers)

    events = [json.loads(r.value) for r in read_topic(kafka_broker.bootstrap_servers, topic, expected=8)]
    ours = [e for e in events if e["data"]["service_id"] == service_id]
    published, updated = ours
    assert published["type"] == "directory.service.published"
    assert (published["data"]["area_codes"], published["data"]["minimum_age"], published["data"]["maximum_age"]) == \
        (["TA1", "TA2", "TA21"], 16, 64)
    assert updated["type"] == "directory.service.updated"
    assert set(updated["data"]["changed"]) == {"service_areas", "maximum_age"}
    assert (updated["data"]["area_codes"], updated["data"]["maximum_age"]) == (None, 67)  # now: anyone
    assert updated["data"]["taxonomy_term_ids"] == [demo.term_id("employment-advice")]
    others = [e for e in events if e["data"]["service_id"] != service_id]
    assert others and all(e["data"]["area_codes"] is None for e in others)
    for event in ours:  # what routing consumers will read, checked by the contract itself
        entry = CATALOGUE.get(event["type"], 1)
        assert entry.schema().validate(event["data"]) == {}


def test_an_oruk_feed_with_areas_imports_and_reimports_unchanged(app):
    with app.extensions["worklink"].database.transaction() as session:
        demo.ensure_taxonomy(session)
    records = [copy.deepcopy(r) for r, _ in zip(demo.demo_records(), range(3))]
    assert all(r["service_areas"][0]["x_postcode_districts"] for r in records)
    assert run_import(app, records).created == 3
    full = app.test_client().get(f"/services/{records[0]['id']}").get_json()
    assert full["service_areas"][0]["x_postcode_districts"] == records[0]["service_areas"][0]["x_postcode_districts"]
    assert run_import(app, copy.deepcopy(records)).unchanged == 3
    records[1]["service_areas"][0]["x_postcode_districts"] = ["BA5"]
    again = run_import(app, records)
    assert (again.updated, again.unchanged) == (1, 2)


def test_upgrading_indexes_the_services_already_listed(database_url, tmp_path):
    """directory_0003 moved search into the database's engine: existing listings must stay findable."""
    spec = installed_services()["directory"]
    upgrade(spec.migrations_dir, database_url, "directory_0002")
    service_id, term = uuid.uuid4(), demo.term_id("counselling")
    engine = create_db_engine(database_url)
    with engine.begin() as conn:
        org = uuid.uuid4()
        conn.execute(sa.text("INSERT INTO taxonomy (id, name, description) VALUES (:id, 'T', 'T')"),
                     {"id": _db_uuid(conn, uuid.UUID(demo.TAXONOMY["id"]))})
        conn.execute(sa.text("INSERT INTO taxonomy_term (id, taxonomy_id, code, name, description) "
                             "VALUES (:id, :tax, 'counselling', 'Counselling', 'C')"),
                     {"id": _db_uuid(conn, uuid.UUID(term)), "tax": _db_uuid(conn, uuid.UUID(demo.TAXONOMY["id"]))})
        conn.execute(sa.text("INSERT INTO organization (id, name, description, is_demo) VALUES (:id, 'O', 'O', false)"),
                     {"id": _db_uuid(conn, org)})
        conn.execute(sa.text(
            "INSERT INTO service (id, organization_id, name, description, status, is_free, delivery_modes, "
            "last_modified, is_demo) VALUES (:id, :org, 'Riverside listening service', 'Someone to talk to.', "
            "'active', true, 'in_person', CURRENT_TIMESTAMP, false)"),
            {"id": _db_uuid(conn, service_id), "org": _db_uuid(conn, org)})
        conn.execute(sa.text("INSERT INTO service_term (id, service_id, taxonomy_term_id) VALUES (:id, :s, :t)"),
                     {"id": _db_uuid(conn, uuid.uuid4()), "s": _db_uuid(conn, service_id),
                      "t": _db_uuid(conn, uuid.UUID(term))})
    engine.dispose()
    app = make_app(database_url, tmp_path)  # upgrades to head
    client = app.test_client()
    for words in ("listening", "counseling"):  # its own words, and its category's label (US spelling)
        found = client.get(f"/services?search={words}").get_json()
        assert [s["id"] for s in found["contents"]] == [str(service_id)], words


def _db_uuid(conn, value: uuid.UUID):
    """UUIDs as each database stores them (SQLite: 32 hex characters)."""
    return value.hex if conn.dialect.name == "sqlite" else value


def test_organisation_b_cannot_set_areas_on_a_listing_of_a(app, directory):
    client = app.test_client()
    response = client.patch(f"/manage/services/{directory.ids['counselling']}", json={"service_areas": [TAUNTON]},
                            headers=token_for(app, "org_admin", ORG_B))
    assert response.status_code == 403


def test_the_service_page_tells_residents_where_they_need_to_live(app, directory):
    client, owner = app.test_client(), token_for(app, "org_admin", ORG_A)
    body = {**service_body(ORG_A, "Working Well adviser, Taunton", ["employment-advice"], ages=(None, 64)),
            "service_areas": [TAUNTON]}
    service_id = client.post("/manage/services", json=body, headers=owner).get_json()["id"]
    html = client.get(f"/find/services/{service_id}").get_data(as_text=True)
    assert "Taunton and nearby (postcodes starting TA1, TA2)" in html
    assert "Up to age 64" in html
    anywhere = client.get(f"/find/services/{directory.ids['debt']}").get_data(as_text=True)
    assert "Where you need to live" in anywhere and "Anywhere" in anywhere
