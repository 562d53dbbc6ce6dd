"""Real responses of the directory's read API match the schemas its own /openapi.json gives for them
(tests/openapi_responses.py): every field returned is documented with its type - the ORUK 3.0 fields and those
beyond the vendored ORUK schemas alike (the extensions, and HSDS fields such as a contact's phones).
test_read_api.py checks the same responses against the ORUK schemas; this checks what the service tells clients."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from tests.openapi_responses import assert_documented, returned_fields
from tests.services.directory.conftest import ORG_A, service_body, token_for
from worklink_directory import demo
from worklink_directory.models import ServiceCapacity


def fullest_service(app) -> str:
    """A listing with every optional part a response can carry: an e-mailed contact, districts, capacity."""
    body = service_body(ORG_A, "Taunton work coaching", ["employment-advice"], lat=51.0146, lon=-3.1029)
    body["contacts"][0]["email"] = "coaching@example.org"
    body["service_areas"] = [{"name": "Taunton", "postcode_districts": ["TA1", "TA2"]}]
    made = app.test_client().post("/manage/services", json=body, headers=token_for(app, "alliance_admin"))
    assert made.status_code == 201, made.get_json()
    service_id = made.get_json()["id"]
    with app.extensions["worklink"].database.transaction() as session:
        session.add(ServiceCapacity(service_id=uuid.UUID(service_id), organization_id=ORG_A, accepting_referrals=True,
                                    open_referrals=2, available_places=3, typical_wait_days=9,
                                    updated=datetime.now(timezone.utc)))
    return service_id


def first_id(response) -> str:
    assert response.status_code == 200, response.get_json()
    return response.get_json()["contents"][0]["id"]


def test_services_and_each_service_match_their_documented_schemas(app, directory):
    client = app.test_client()
    fullest = client.get(f"/services/{fullest_service(app)}")
    assert_documented(client, "get", "/services/{service_id}", fullest)
    assert {"application_process", "service_capacity", "contacts[].email", "contacts[].phones",
            "attributes[].taxonomy_term.code", "attributes[].taxonomy_term.taxonomy_detail",
            "service_areas[].x_postcode_districts"} <= returned_fields(fullest.get_json())
    listed = client.get("/services?per_page=100")
    assert_documented(client, "get", "/services", listed)
    for item in listed.get_json()["contents"]:
        assert_documented(client, "get", "/services/{service_id}", client.get(f"/services/{item['id']}"))
    near = client.get("/services?lat=51.0146&lon=-3.1029&per_page=100")
    assert_documented(client, "get", "/services", near)
    assert "contents[].distance" in returned_fields(near.get_json())


def test_services_at_locations_match_their_documented_schemas(app, directory):
    client = app.test_client()
    fullest = client.get(f"/services/{fullest_service(app)}").get_json()
    at_location = client.get(f"/service_at_locations/{fullest['service_at_locations'][0]['id']}")
    assert_documented(client, "get", "/service_at_locations/{sal_id}", at_location)
    assert "service.service_capacity" in returned_fields(at_location.get_json())  # as on /services/{id}
    near = client.get("/service_at_locations?postcode=TA1%201AA&proximity=50000&per_page=100")
    assert_documented(client, "get", "/service_at_locations", near)
    assert {"contents[].location.distance", "contents[].location.addresses",
            "contents[].location.accessibility"} <= returned_fields(near.get_json())
    for item in near.get_json()["contents"]:
        assert_documented(client, "get", "/service_at_locations/{sal_id}",
                          client.get(f"/service_at_locations/{item['id']}"))


def test_taxonomies_and_terms_match_their_documented_schemas(app, directory):
    client = app.test_client()
    for listing, one, key in (("/taxonomies", "/taxonomies/{taxonomy_id}", "taxonomy_id"),
                              ("/taxonomy_terms", "/taxonomy_terms/{term_id}", "term_id")):
        response = client.get(listing)
        assert_documented(client, "get", listing, response)
        assert_documented(client, "get", one, client.get(one.replace("{" + key + "}", first_id(response))))


def test_the_write_apis_answers_match_their_documented_schemas(app):
    """The write API's answers had no schema in the document at all: a listing (as GET /services/{id} gives
    it), the organisation registered, the change log."""
    client, admin = app.test_client(), token_for(app, "alliance_admin")
    with app.extensions["worklink"].database.transaction() as session:
        demo.ensure_taxonomy(session)
    registered = client.post("/manage/organizations", json={"id": str(ORG_A), "name": "Somerset Working Well",
                                                            "description": "Employment support."}, headers=admin)
    assert_documented(client, "post", "/manage/organizations", registered, 201)
    service_id = fullest_service(app)
    one = "/manage/services/{service_id}"
    read = client.get(f"/manage/services/{service_id}", headers=admin)
    assert_documented(client, "get", one, read)
    changed = client.patch(f"/manage/services/{service_id}", json={"name": "Taunton work coaching and CVs"},
                           headers={**admin, "If-Match": read.headers["ETag"]})
    assert_documented(client, "patch", one, changed)
    assert_documented(client, "post", one + "/assure", client.post(f"/manage/services/{service_id}/assure",
                                                                   json={}, headers=admin))
    log = client.get(f"/manage/services/{service_id}/metadata", headers=admin)
    assert_documented(client, "get", one + "/metadata", log)
    assert log.get_json()["contents"]
    assert_documented(client, "post", one + "/withdraw", client.post(f"/manage/services/{service_id}/withdraw",
                                                                     json={"reason": "closed"}, headers=admin))
    made = client.post("/manage/services", json=service_body(ORG_A, "Digital skills", ["digital-skills"]),
                       headers=admin)
    assert_documented(client, "post", "/manage/services", made, 201)
