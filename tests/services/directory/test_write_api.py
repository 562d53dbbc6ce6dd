"""The write API: owners and alliance admins only, validation, the metadata trail, withdrawal, review."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from tests.services.directory.conftest import (ORG_A, ORG_B, build_directory, listed_long_ago, make_app, service_body,
                                              token_for)
from worklink.uktime import uk_today
from worklink_directory import services
from worklink_directory.models import Service


def outbox_types(app) -> list[tuple[str, str]]:
    ctx = app.extensions["worklink"]
    with ctx.database.engine.connect() as conn:
        return [(r.type, r.aggregateid) for r in conn.execute(
            sa.select(ctx.tables.outbox.c.type, ctx.tables.outbox.c.aggregateid).order_by(ctx.tables.outbox.c.position))]


def test_anonymous_writes_are_401_and_other_organisations_403(app, directory):
    client = app.test_client()
    counselling = directory.ids["counselling"]
    body = service_body(ORG_A, "A new service", ["debt"])
    assert client.post("/manage/services", json=body).status_code == 401
    assert client.post("/manage/services", json={}).status_code == 401  # auth before validation
    assert client.patch(f"/manage/services/{counselling}", json={"name": "Hijacked"}).status_code == 401
    other = token_for(app, "org_admin", ORG_B)
    for method, path, payload in (
            ("post", "/manage/services", body),
            ("patch", f"/manage/services/{counselling}", {"name": "Hijacked"}),
            ("post", f"/manage/services/{counselling}/assure", {}),
            ("post", f"/manage/services/{counselling}/withdraw", {"reason": "closed"}),
            ("get", f"/manage/services/{counselling}/metadata", None)):
        response = getattr(client, method)(path, json=payload, headers=other)
        assert response.status_code == 403, (method, path)
        assert response.mimetype == "application/problem+json"
    for role in ("resident", "gp", "adviser"):
        assert client.post("/manage/services", json=body, headers=token_for(app, role, ORG_A)).status_code == 403
    assert client.post("/manage/organizations", json={"name": "X", "description": "Y"},
                       headers=token_for(app, "org_admin", ORG_A)).status_code == 403
    assert client.get(f"/services/{counselling}").get_json()["name"] == "Taunton counselling service"


def test_owner_updates_and_every_change_is_in_the_metadata_trail(app, directory):
    client = app.test_client()
    owner = token_for(app, "org_admin", ORG_A, subject="ada-at-org-a")
    counselling = directory.ids["counselling"]
    response = client.patch(f"/manage/services/{counselling}", headers=owner, json={
        "name": "Taunton counselling and talking therapies", "maximum_age": 65,
        "schedules": [{"byday": "FR", "opens_at": "08:00", "closes_at": "12:00"}]})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["name"] == "Taunton counselling and talking therapies"
    assert [(s["byday"], s["opens_at"]) for s in body["schedules"]] == [("FR", "08:00")]
    assert body["service_at_locations"][0]["location"]["addresses"][0]["postal_code"] == "TA1 1AA"  # untouched
    trail = client.get(f"/manage/services/{counselling}/metadata", headers=owner).get_json()["contents"]
    changes = {(m["last_action_type"], m["field_name"], m["previous_value"], m["replacement_value"], m["updated_by"])
               for m in trail}
    assert ("update", "name", "Taunton counselling service", "Taunton counselling and talking therapies",
            "ada-at-org-a") in changes
    assert ("update", "maximum_age", "", "65", "ada-at-org-a") in changes
    (friday,) = body["schedules"]
    assert ("create", f"schedules/{friday['id']}", "", "FR, 08:00, 12:00", "ada-at-org-a") in changes
    dropped = {(m["field_name"].split("/")[0], m["previous_value"]) for m in trail if m["last_action_type"] == "delete"}
    assert dropped == {("schedules", "MO, 09:00, 17:00"), ("schedules", "WE, 09:00, 17:00")}
    assert any(m["last_action_type"] == "create" and m["field_name"] == "*" for m in trail)
    # the search index follows the change
    assert client.get("/services?search=talking therapies").get_json()["contents"][0]["id"] == counselling
    assert ("directory.service.updated", counselling) in outbox_types(app)


def test_contacts_and_opening_times_keep_their_ids_and_the_trail_names_each_change(database_url, tmp_path):
    """ORUK ids are stable: feeds and aggregators follow a contact or an opening time by its id."""
    app = make_app(database_url, tmp_path)
    directory = build_directory(app)
    client = app.test_client()
    owner = token_for(app, "org_admin", ORG_A, subject="ada-at-org-a")
    debt = directory.ids["debt"]
    current = client.get(f"/services/{debt}").get_json()
    (contact,) = current["contacts"]
    (phone,) = contact["phones"]
    (tuesday,) = current["schedules"]
    events_before = len(outbox_types(app))

    # The same lists sent back, with or without ids: nothing changes, no event, no trail line.
    same = [{"contacts": [{"id": contact["id"], "name": "Advice line", "phones": [{"id": phone["id"],
                                                                                   "number": "01632 960001"}]}]},
            {"contacts": [{"name": "Advice line", "phones": [{"number": "01632 960001"}]}],
             "schedules": [{"byday": "TU", "opens_at": "10:00", "closes_at": "14:00"}]}]
    for body in same:
        assert client.patch(f"/manage/services/{debt}", headers=owner, json=body).status_code == 200
    assert len(outbox_types(app)) == events_before
    assert len(client.get(f"/manage/services/{debt}/metadata", headers=owner).get_json()["contents"]) == 1  # create

    # An edit in place: the contact's email set, a second number added, Tuesday's opening time changed.
    response = client.patch(f"/manage/services/{debt}", headers=owner, json={
        "contacts": [{"id": contact["id"], "name": "Advice line", "email": "advice@org-a.example.org",
                      "phones": [{"id": phone["id"], "number": "01632 960001"}, {"number": "01632 960999"}]}],
        "schedules": [{"id": tuesday["id"], "byday": "TU", "opens_at": "11:00", "closes_at": "14:00"}]})
    assert response.status_code == 200, response.get_json()
    after = response.get_json()
    assert [c["id"] for c in after["contacts"]] == [contact["id"]]
    assert after["contacts"][0]["phones"][0]["id"] == phone["id"]
    added = after["contacts"][0]["phones"][1]
    assert added["number"] == "01632 960999" and added["id"] != phone["id"]
    assert [(s["id"], s["opens_at"]) for s in after["schedules"]] == [(tuesday["id"], "11:00")]
    trail = client.get(f"/manage/services/{debt}/metadata", headers=owner).get_json()["contents"]
    assert {(m["last_action_type"], m["field_name"], m["previous_value"], m["replacement_value"]) for m in trail
            if m["field_name"] != "*"} == {
        ("update", f"contacts/{contact['id']}/email", "", "advice@org-a.example.org"),
        ("create", f"contacts/{contact['id']}/phones/{added['id']}", "", "01632 960999"),
        ("update", f"schedules/{tuesday['id']}/opens_at", "10:00", "11:00")}
    assert outbox_types(app)[events_before:] == [("directory.service.updated", debt)]

    # Another listing's contact cannot be taken over by naming its id.
    others = client.get(f"/services/{directory.ids['counselling']}").get_json()["contacts"]
    stolen = client.patch(f"/manage/services/{debt}", headers=owner, json={
        "contacts": [{"id": others[0]["id"], "name": "Mine now"}]})
    assert stolen.status_code == 422 and stolen.mimetype == "application/problem+json"
    assert stolen.get_json()["errors"][0]["pointer"] == "/contacts"
    assert client.get(f"/services/{directory.ids['counselling']}").get_json()["contacts"] == others


def test_assure_sets_the_date_and_assurer(app, directory):
    client = app.test_client()
    owner = token_for(app, "org_admin", ORG_A, email="lee@org-a.example.org")
    body = client.post(f"/manage/services/{directory.ids['debt']}/assure", json={}, headers=owner).get_json()
    assert body["assured_date"] == uk_today().isoformat()
    assert "assurer_email" not in body  # never Lee's login: the listing and its organisation publish no address
    other = client.post(f"/manage/services/{directory.ids['debt']}/assure", headers=owner,
                        json={"assurer_email": "sam@org-a.example.org"}).get_json()
    assert other["assurer_email"] == "sam@org-a.example.org"
    # an alliance admin whose token has no email checks it next: Sam is no longer named as the assurer
    admin = token_for(app, "alliance_admin", subject="alex")
    third = client.post(f"/manage/services/{directory.ids['debt']}/assure", headers=admin, json={}).get_json()
    assert third["assured_date"] == uk_today().isoformat() and "assurer_email" not in third
    trail = client.get(f"/manage/services/{directory.ids['debt']}/metadata", headers=owner).get_json()["contents"]
    assert [(m["previous_value"], m["replacement_value"], m["updated_by"]) for m in trail
            if m["field_name"] == "assurer_email"][0] == ("sam@org-a.example.org", "", "alex")


def test_withdrawn_listings_are_no_longer_offered(app, directory):
    client = app.test_client()
    owner = token_for(app, "org_admin", ORG_A)
    debt = directory.ids["debt"]
    response = client.post(f"/manage/services/{debt}/withdraw", json={"reason": "no_longer_funded"}, headers=owner)
    assert response.status_code == 200 and response.get_json()["status"] == "defunct"
    assert debt not in [s["id"] for s in client.get("/services?per_page=100").get_json()["contents"]]
    assert client.get("/services?search=debt").get_json()["total_items"] == 0
    assert client.get(f"/services/{debt}").get_json()["status"] == "defunct"
    again = client.post(f"/manage/services/{debt}/withdraw", json={"reason": "closed"}, headers=owner)
    assert again.status_code == 409
    assert client.patch(f"/manage/services/{debt}", json={"name": "Back"}, headers=owner).status_code == 409
    assert ("directory.service.withdrawn", debt) in outbox_types(app)


def test_invalid_bodies_are_422_with_field_pointers(app, directory):
    client = app.test_client()
    owner = token_for(app, "org_admin", ORG_A)
    cases = [
        ({**service_body(ORG_A, "X", [])}, "/name"),
        ({**service_body(ORG_A, "Ok name", []), "schedules": [{"byday": "MO", "opens_at": "17:00",
                                                                "closes_at": "09:00"}]}, "/schedules/0/closes_at"),
        ({**service_body(ORG_A, "Ok name", []), "schedules": [{"byday": "XX", "opens_at": "09:00",
                                                                "closes_at": "17:00"}]}, "/schedules/0/byday"),
        ({**service_body(ORG_A, "Ok name", []), "minimum_age": 30, "maximum_age": 20}, "/maximum_age"),
        ({**service_body(ORG_A, "Ok name", [], lat=51.0, lon=-3.0, postcode="NOT A POSTCODE")},
         "/locations/0/postal_code"),
        ({**service_body(ORG_A, "Ok name", []), "taxonomy_term_ids": [str(uuid.uuid4())]}, "/taxonomy_term_ids"),
        ({**service_body(ORG_A, "Ok name", []), "delivery_modes": ["carrier_pigeon"]}, "/delivery_modes/0"),
        ({**service_body(ORG_A, "Ok name", []), "email": "not-an-email"}, "/email"),
    ]
    for payload, pointer in cases:
        response = client.post("/manage/services", json=payload, headers=owner)
        assert response.status_code == 422, (pointer, response.get_json())
        assert pointer in [e["pointer"] for e in response.get_json()["errors"]], response.get_json()
    admin = token_for(app, "alliance_admin")
    unknown_org = client.post("/manage/services", json=service_body(uuid.uuid4(), "Orphan", []), headers=admin)
    assert unknown_org.status_code == 422 and unknown_org.get_json()["errors"][0]["pointer"] == "/organization_id"
    patch = client.patch(f"/manage/services/{directory.ids['jobclub']}", json={"minimum_age": 30}, headers=owner)
    assert patch.status_code == 422  # 30 > the stored maximum age of 24
    assert client.get(f"/services/{directory.ids['jobclub']}").get_json()["minimum_age"] == 16


@pytest.mark.parametrize("items, pointer", [
    ({"schedules": [{"byday": "MO"}]}, "/schedules/0/opens_at"),
    ({"schedules": [{}]}, "/schedules/0/byday"),
    ({"contacts": [{"name": "Advice line", "phones": [{}]}]}, "/contacts/0/phones/0/number"),
])
def test_a_patch_sends_each_item_of_a_list_whole(app, directory, items, pointer):
    """Only the listing's own fields are optional on PATCH: partial=True reached into the lists' items too, so
    an opening time without its hours or a phone without its number got past the schema (a 500)."""
    client, owner = app.test_client(), token_for(app, "org_admin", ORG_A)
    before = client.get(f"/services/{directory.ids['jobclub']}").get_json()
    response = client.patch(f"/manage/services/{directory.ids['jobclub']}", json=items, headers=owner)
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert pointer in [e["pointer"] for e in response.get_json()["errors"]], response.get_json()
    assert client.get(f"/services/{directory.ids['jobclub']}").get_json() == before


def test_locations_without_coordinates_are_geocoded_from_the_postcode(app, directory):
    client = app.test_client()
    body = service_body(ORG_A, "Bridgwater CV clinic", ["cv-interview"])
    body["locations"] = [{"name": "Library", "address_1": "Binford Place", "city": "Bridgwater",
                          "postal_code": "TA6 3BB"}]
    created = client.post("/manage/services", json=body, headers=token_for(app, "org_admin", ORG_A)).get_json()
    location = created["service_at_locations"][0]["location"]
    assert (location["latitude"], location["longitude"]) == (51.1280, -3.0030)


def test_review_due_flags_each_lapsed_listing_once(app, directory):
    ctx = app.extensions["worklink"]
    now = datetime.now(timezone.utc)
    with ctx.database.transaction() as session:
        for svc in session.scalars(sa.select(Service)):
            svc.assured_date = (now - timedelta(days=10)).date()
        session.get(Service, uuid.UUID(directory.ids["cafe"])).assured_date = (now - timedelta(days=100)).date()
        session.get(Service, uuid.UUID(directory.ids["debt"])).assured_date = None
    listed_long_ago(app, days=100)  # never assured, listed 100 days ago: due
    with ctx.database.transaction() as session:
        assert services.flag_review_due(session, ctx.outbox, now=now) == 2
    with ctx.database.transaction() as session:
        assert services.flag_review_due(session, ctx.outbox, now=now) == 0  # told once
    due = [aggregate for kind, aggregate in outbox_types(app) if kind == "directory.service.review_due"]
    assert sorted(due) == sorted([directory.ids["cafe"], directory.ids["debt"]])
    client = app.test_client()
    client.post(f"/manage/services/{directory.ids['cafe']}/assure", json={}, headers=token_for(app, "alliance_admin"))
    with ctx.database.transaction() as session:
        # later: the four others lapse, and so does the cafe (assured today, so told again); the
        # debt service was already told and has not been assured since. (93 days: with 92, the one day to spare
        # would go to the hour BST ends, run between 23:00 and midnight UTC in late summer.)
        assert services.flag_review_due(session, ctx.outbox, now=now + timedelta(days=93)) == 5


def test_blank_names_and_descriptions_are_refused_so_every_listing_stays_oruk_valid(app, directory):
    from worklink_directory import oruk_schemas

    client = app.test_client()
    admin = token_for(app, "alliance_admin")
    for body, pointer in (({"name": "", "description": "Helps"}, "/name"), ({"name": "   ", "description": "Helps"}, "/name"),
                          ({"name": "Org", "description": ""}, "/description"),
                          ({"name": "Org", "description": " \u00a0 "}, "/description")):
        refused = client.post("/manage/organizations", json=body, headers=admin)
        assert refused.status_code == 422 and refused.mimetype == "application/problem+json", body
        assert [e["pointer"] for e in refused.get_json()["errors"]] == [pointer], refused.get_json()

    made = client.post("/manage/organizations", json={"name": "  Tidy Org ", "description": " Helps people "},
                       headers=admin)
    assert made.status_code == 201
    org_id = made.get_json()["id"]
    blank = client.post("/manage/services", json=service_body(org_id, "   ", []), headers=admin)
    assert blank.status_code == 422 and blank.get_json()["errors"][0]["pointer"] == "/name"
    service = client.post("/manage/services", json=service_body(org_id, " Job club ", []), headers=admin)
    assert service.status_code == 201
    service_id = service.get_json()["id"]
    renamed = client.patch(f"/manage/services/{service_id}", json={"name": " x "}, headers=admin)
    assert renamed.status_code == 422 and renamed.get_json()["errors"][0]["pointer"] == "/name"

    full = client.get(f"/services/{service_id}").get_json()
    assert (full["name"], full["organization"]["name"], full["organization"]["description"]) \
        == ("Job club", "Tidy Org", "Helps people")
    assert oruk_schemas.problems("service", full) == []


def test_a_write_that_would_break_oruk_on_the_feed_is_refused_and_rolled_back(app, directory):
    """An organisation stored before names were checked (blank name): its listings cannot be published or
    changed into an invalid ORUK record; the write is refused and nothing of it is kept."""
    from worklink_directory.models import Organization

    legacy = uuid.uuid4()
    with app.extensions["worklink"].database.transaction() as session:
        session.add(Organization(id=legacy, name="", description="Stored before names were checked"))
    client = app.test_client()
    admin = token_for(app, "alliance_admin")
    events_before = outbox_types(app)
    refused = client.post("/manage/services", json=service_body(legacy, "Job club", []), headers=admin)
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    assert refused.get_json()["errors"] == [{"location": "listing", "pointer": "/organization",
                                             "detail": "'name' is a required property"}]
    documented = client.get("/openapi.json").get_json()["components"]["schemas"]["FieldError"]["properties"]["location"]
    assert "listing" in documented["enum"]
    with app.extensions["worklink"].database.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Service)
                              .where(Service.organization_id == legacy)) == 0
    assert outbox_types(app) == events_before  # no event about a listing that was never saved

    changed = client.patch(f"/manage/services/{directory.ids['jobclub']}", json={"name": "Job club plus"},
                           headers=admin)
    assert changed.status_code == 200 and changed.get_json()["name"] == "Job club plus"  # a valid one goes ahead
