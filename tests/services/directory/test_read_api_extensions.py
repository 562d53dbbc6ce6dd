"""Responses carrying this API's extensions (distance, service_capacity, x_postcode_districts) and
confidential locations still validate against the ORUK 3.0 schemas."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from tests.services.directory.conftest import ORG_A
from worklink_directory import oruk_schemas
from worklink_directory.models import ServiceCapacity


def valid(schema: str, document: dict) -> bool:
    assert oruk_schemas.problems(schema, document) == [], document
    return True


def test_extended_and_confidential_responses_validate(app, directory):
    client = app.test_client()
    near = client.get("/service_at_locations?postcode=TA1 1AA&proximity=50000&per_page=100").get_json()
    assert near["total_items"] == 4 and all("distance" in i["location"] for i in near["contents"])
    assert all(valid("service_at_location_list", item) for item in near["contents"])
    by_distance = client.get("/services?lat=51.0146&lon=-3.1029&per_page=100").get_json()["contents"]
    assert len(by_distance) == 4 and all(valid("service_list", item) for item in by_distance)
    with app.extensions["worklink"].database.transaction() as session:
        session.add(ServiceCapacity(service_id=uuid.UUID(directory.ids["counselling"]), organization_id=ORG_A,
                                    accepting_referrals=True, open_referrals=2, available_places=3,
                                    typical_wait_days=9, updated=datetime.now(timezone.utc)))
    full = client.get(f"/services/{directory.ids['counselling']}").get_json()
    assert full["service_capacity"][0]["typical_wait_days"] == 9 and valid("service", full)
    refuge = client.get(f"/services/{directory.ids['refuge']}").get_json()
    assert valid("service", refuge)
    sal = refuge["service_at_locations"][0]["id"]
    assert valid("service_at_location", client.get(f"/service_at_locations/{sal}").get_json())


def test_a_service_at_a_location_gives_its_service_capacity_as_the_service_does(app, directory):
    """GET /service_at_locations/{id} nests the service fully, as GET /services/{id} gives it, but left out its
    `service_capacity`: an aggregator reading places by location never saw whether the service took referrals."""
    client = app.test_client()
    counselling = directory.ids["counselling"]
    with app.extensions["worklink"].database.transaction() as session:
        session.add(ServiceCapacity(service_id=uuid.UUID(counselling), organization_id=ORG_A,
                                    accepting_referrals=False, open_referrals=12, available_places=0,
                                    typical_wait_days=40, updated=datetime.now(timezone.utc)))
    service = client.get(f"/services/{counselling}").get_json()
    for placed in service["service_at_locations"]:
        at_location = client.get(f"/service_at_locations/{placed['id']}").get_json()
        assert at_location["service"]["service_capacity"] == service["service_capacity"]
        assert at_location["service"]["service_capacity"][0]["accepting_referrals"] is False
        assert valid("service_at_location", at_location)
    debt = client.get(f"/services/{directory.ids['debt']}").get_json()  # no capacity known: none on either
    sal = client.get(f"/service_at_locations/{debt['service_at_locations'][0]['id']}").get_json()
    assert "service_capacity" not in debt and "service_capacity" not in sal["service"]
