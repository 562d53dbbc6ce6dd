"""A confidential place stays unpublished wherever the organisation lists it again, and its address,
postcode, coordinates, name, description and accessibility notes are in no read: not the ORUK service or
service at location, not any list or search, not a distance search or the distance it shows, not the
residents' pages."""

from __future__ import annotations

import copy
import uuid

from tests.services.directory.conftest import GEOCODER, ORG_A, ORG_B, build_directory, make_app, token_for
from tests.services.directory.test_confidential import refuge_location
from tests.services.directory.test_partner_pages import signed_in
from worklink_directory.importer import import_records

REFUGE = {"name": "Hidden House", "address_1": "7 Hidden Lane", "city": "Taunton", "postal_code": "TA1 1AA",
          "latitude": 51.0150, "longitude": -3.1030, "description": "Above the bakery",
          "accessibility": "Ramp at the back door"}
SECRETS = ("Hidden", "51.015", "-3.103", "bakery", "Ramp at the back")


def reads(app, service_id: str) -> dict[str, str]:
    """Every read that could carry a listing's location, as text."""
    client = app.test_client()
    service = client.get(f"/services/{service_id}").get_json()
    at_point = "lat=51.0150&lon=-3.1030"
    paths = [f"/services/{service_id}", f"/find/services/{service_id}", f"/find/services/{service_id}?postcode=TA1+1AA",
             "/services?per_page=100", "/services?search=support", f"/services?{at_point}&per_page=100",
             f"/services?{at_point}&radius=50", f"/services?{at_point}&search=support", "/service_at_locations?per_page=100",
             "/service_at_locations?search=support", "/service_at_locations?postcode=TA1%201AA&per_page=100",
             "/service_at_locations?postcode=TA1%201AA&proximity=100", "/find?q=support", "/find?postcode=TA1+1AA",
             "/find?q=support&postcode=TA1+1AA", "/find?postcode=TA1+1AA&within=1609"]
    paths += [f"/service_at_locations/{sal['id']}" for sal in service["service_at_locations"]]
    return {path: client.get(path).get_data(as_text=True) for path in paths}


def assert_unpublished(app, service_id: str) -> None:
    for path, text in reads(app, service_id).items():
        assert not [secret for secret in SECRETS if secret in text], path
    client = app.test_client()
    for near in ("/services?lat=51.0150&lon=-3.1030&radius=50", "/service_at_locations?postcode=TA1%201AA&proximity=100"):
        assert service_id not in client.get(near).get_data(as_text=True), near  # no distance to triangulate from


def test_the_refuges_address_details_are_in_no_read(app):
    refuge = build_directory(app).ids["refuge"]
    owner = token_for(app, "org_admin", ORG_B)
    loc = refuge_location(app, refuge)
    moved = app.test_client().patch(f"/manage/services/{refuge}", headers=owner,
                                    json={"locations": [{"id": str(loc.id), **REFUGE}]})
    assert moved.status_code == 200
    assert refuge_location(app, refuge).confidential
    assert_unpublished(app, refuge)


def test_the_place_listed_again_under_another_listing_of_the_organisation_stays_confidential(database_url, tmp_path):
    app = make_app(database_url, tmp_path)
    known = build_directory(app)
    client, owner = app.test_client(), token_for(app, "org_admin", ORG_B)
    loc = refuge_location(app, known.ids["refuge"])
    assert client.patch(f"/manage/services/{known.ids['refuge']}", headers=owner,
                        json={"locations": [{"id": str(loc.id), **REFUGE}]}).status_code == 200

    # the same organisation lists its outreach service at the refuge, not saying it is confidential
    body = {"organization_id": str(ORG_B), "name": "Floating support", "description": "Support at home.",
            "locations": [dict(REFUGE)]}
    created = client.post("/manage/services", json=body, headers=owner)
    assert created.status_code == 201
    assert_unpublished(app, created.get_json()["id"])

    # so does its feed, which gives the place an id of its own under that listing
    record = client.get(f"/services/{created.get_json()['id']}").get_json()
    record.update(id=str(uuid.uuid4()), name="Drop-in support")
    record["service_at_locations"] = [{"id": str(uuid.uuid4()), "location": {
        "id": str(uuid.uuid4()), "location_type": "physical", "name": REFUGE["name"],
        "addresses": [{"id": str(uuid.uuid4()), "address_1": REFUGE["address_1"], "city": "Taunton",
                       "state_province": "Somerset", "postal_code": "TA1 1AA", "country": "GB",
                       "address_type": "physical"}]}}]
    ctx = app.extensions["worklink"]
    assert import_records(ctx.database, ctx.outbox, [copy.deepcopy(record)], GEOCODER).created == 1
    assert_unpublished(app, record["id"])

    # publishing it takes an explicit false, acknowledged, and another organisation's places at that postcode are
    # its own
    unacknowledged = client.post("/manage/services", headers=owner, json={
        **body, "name": "Open office", "locations": [{**REFUGE, "confidential": False}]})
    assert unacknowledged.status_code == 409
    assert unacknowledged.get_json()["errors"][0]["pointer"] == "/locations/0/publish_address"
    # (acknowledged on the version read: a new listing has none, so it is created first)
    published = client.post("/manage/services", headers=owner, json={**body, "name": "Open office", "locations": []})
    client.patch(f"/manage/services/{published.get_json()['id']}", json={
        "locations": [{**REFUGE, "confidential": False, "publish_address": True}]},
        headers={**owner, "If-Match": published.headers["ETag"]})
    assert "7 Hidden Lane" in client.get(f"/services/{published.get_json()['id']}").get_data(as_text=True)
    theirs = client.post("/manage/services", headers=token_for(app, "org_admin", ORG_A), json={
        **body, "organization_id": str(ORG_A), "name": "Library advice",
        "locations": [{"name": "Library", "address_1": "1 Library Way", "city": "Taunton", "postal_code": "TA1 1AA"}]})
    assert "1 Library Way" in client.get(f"/services/{theirs.get_json()['id']}").get_data(as_text=True)


def test_the_residents_pages_are_never_served_stale_by_a_cache(app):
    """A shared cache (a CDN, a proxy) keeping a page with no Cache-Control may serve it for a while by its own
    heuristic: an address marked confidential since would still be shown. Every resident page must be asked
    for again; a signed-in partner's pages are kept out of caches altogether."""
    known = build_directory(app)
    client = app.test_client()
    for path in (f"/find/services/{known.ids['refuge']}", "/find", "/find?q=support&postcode=TA1+1AA"):
        assert client.get(path).headers["Cache-Control"] == "no-cache", path
    partner = signed_in(app, "org_admin", ORG_B)
    assert partner.get(f"/partner/services/{known.ids['refuge']}").headers["Cache-Control"] == "no-store"
    assert partner.get(f"/find/services/{known.ids['refuge']}").headers["Cache-Control"] == "no-store"
