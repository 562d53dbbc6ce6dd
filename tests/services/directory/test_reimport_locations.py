"""Re-importing a feed keeps location ids stable and leaves no orphaned location rows behind."""

from __future__ import annotations

import copy
import uuid

import sqlalchemy as sa

from tests.services.directory.conftest import GEOCODER, ORG_A, make_app, service_body, token_for
from worklink_directory import demo
from worklink_directory.importer import import_records
from worklink_directory.models import Location, ServiceAtLocation


def run_import(app, records):
    ctx = app.extensions["worklink"]
    return import_records(ctx.database, ctx.outbox, copy.deepcopy(records), GEOCODER)


def location_rows(app) -> dict[uuid.UUID, tuple[str | None, str | None]]:
    with app.extensions["worklink"].database.sessions() as session:
        return {loc.id: (loc.name, loc.postal_code) for loc in session.scalars(sa.select(Location))}


def linked_location_ids(app) -> set[uuid.UUID]:
    with app.extensions["worklink"].database.sessions() as session:
        return set(session.scalars(sa.select(ServiceAtLocation.location_id)))


def outbox_count(app) -> int:
    ctx = app.extensions["worklink"]
    with ctx.database.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(ctx.tables.outbox)).scalar_one()


def test_reimport_updates_locations_in_place_and_deletes_dropped_ones(database_url, tmp_path):
    app = make_app(database_url, tmp_path)
    records = [copy.deepcopy(r) for r, _ in zip(demo.demo_records(), range(3))]
    first_location = records[0]["service_at_locations"][0]["location"]
    kept_id = uuid.UUID(first_location["id"])
    dropped_id = uuid.UUID(records[1]["service_at_locations"][0]["location"]["id"])
    assert run_import(app, records).created == 3
    before = location_rows(app)
    assert len(before) == 3 and kept_id in before and dropped_id in before  # the feed's ids, not new ones

    # the feed moves the first service's location (same id) and gives the second a new location
    first_location["name"] = "The new library"
    first_location["addresses"][0]["postal_code"] = "TA6 3BB"
    first_location.pop("latitude", None), first_location.pop("longitude", None)
    new_id = str(uuid.uuid4())
    records[1]["service_at_locations"][0]["location"] = {
        **copy.deepcopy(records[1]["service_at_locations"][0]["location"]), "id": new_id, "name": "Market hall"}
    report = run_import(app, records)
    assert (report.created, report.updated, report.unchanged, report.rejected) == (0, 2, 1, [])

    after = location_rows(app)
    assert set(after) == linked_location_ids(app)  # no orphans
    assert len(after) == 3 and dropped_id not in after
    assert after[kept_id] == ("The new library", "TA6 3BB")  # updated in place, id kept
    assert after[uuid.UUID(new_id)][0] == "Market hall"
    service = app.test_client().get(f"/services/{records[0]['id']}").get_json()
    moved = service["service_at_locations"][0]["location"]
    assert moved["id"] == str(kept_id)
    assert (moved["latitude"], moved["longitude"]) == (51.1280, -3.0030)  # geocoded from the new postcode

    events = outbox_count(app)
    again = run_import(app, records)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)  # still idempotent
    assert outbox_count(app) == events and location_rows(app) == after


def test_import_sweeps_locations_orphaned_before_and_refuses_another_organisations_location(app):
    records = [copy.deepcopy(r) for r, _ in zip(demo.demo_records(), range(2))]
    run_import(app, records)
    with app.extensions["worklink"].database.transaction() as session:  # as older imports left them
        session.add(Location(organization_id=uuid.UUID(records[0]["organization_id"]), name="Orphan"))
    assert len(location_rows(app)) == 3
    run_import(app, records)
    assert set(location_rows(app)) == linked_location_ids(app) and len(linked_location_ids(app)) == 2

    # a record claiming a location id that belongs to a different organisation is rejected
    thief = copy.deepcopy(records[1])
    thief["id"] = str(uuid.uuid4())
    thief["organization_id"] = thief["organization"]["id"] = str(uuid.uuid4())
    thief["service_at_locations"][0]["location"]["id"] = records[0]["service_at_locations"][0]["location"]["id"]
    report = run_import(app, [thief])
    assert report.created == 0 and "belongs to another organisation" in report.rejected[0][1][0]


def test_write_api_keeps_a_location_id_it_is_sent_and_deletes_one_it_drops(app):
    with app.extensions["worklink"].database.transaction() as session:
        demo.ensure_taxonomy(session)
    client = app.test_client()
    admin = token_for(app, "alliance_admin")
    client.post("/manage/organizations", json={"id": str(ORG_A), "name": "A", "description": "A"}, headers=admin)
    body = service_body(ORG_A, "Two-site service", ["debt"], lat=51.0146, lon=-3.1029)
    body["locations"].append({"name": "Second site", "postal_code": "TA6 3BB"})
    created = client.post("/manage/services", json=body, headers=admin).get_json()
    by_name = {sal["location"]["name"]: sal["location"] for sal in created["service_at_locations"]}
    first, second = by_name["Taunton centre"], by_name["Second site"]
    sal_ids = {sal["location_id"]: sal["id"] for sal in created["service_at_locations"]}
    patch = {"locations": [{"id": first["id"], "name": "Renamed centre", "postal_code": "TA1 1AA"}]}
    changed = client.patch(f"/manage/services/{created['id']}", json=patch, headers=admin)
    assert changed.status_code == 200, changed.get_json()
    (only,) = changed.get_json()["service_at_locations"]
    assert (only["location"]["id"], only["id"]) == (first["id"], sal_ids[first["id"]])  # both ids stable
    assert only["location"]["name"] == "Renamed centre"
    assert set(location_rows(app)) == {uuid.UUID(first["id"])}  # the second site's row is gone
    twice = {"locations": [{"id": first["id"], "name": "A"}, {"id": first["id"], "name": "B"}]}
    response = client.patch(f"/manage/services/{created['id']}", json=twice, headers=admin)
    assert response.status_code == 422 and response.get_json()["errors"][0]["pointer"] == "/locations"
    assert uuid.UUID(second["id"]) not in location_rows(app)


def test_reimporting_a_csv_whose_postcodes_were_geocoded_changes_nothing(app, tmp_path):
    import csv

    from worklink_directory.importer import read_source

    with app.extensions["worklink"].database.transaction() as session:
        demo.ensure_taxonomy(session)
    row = {"id": str(uuid.uuid4()), "organization_id": str(ORG_A), "organization_name": "Frome Advice",
           "name": "Frome debt clinic", "description": "Debt help.", "categories": "debt", "address_1": "1 Market Place",
           "city": "Frome", "postal_code": "TA1 1AA", "phone": "01632 960123", "days": "MO", "opens_at": "09:00",
           "closes_at": "12:00"}
    path = tmp_path / "directory.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)
    assert run_import(app, read_source(str(path))).created == 1
    ids = set(location_rows(app))
    events = outbox_count(app)
    again = run_import(app, read_source(str(path)))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)  # the geocoded coordinates are not a change
    assert outbox_count(app) == events and set(location_rows(app)) == ids
