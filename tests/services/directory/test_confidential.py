"""A confidential location (a refuge) stays confidential through ordinary edits and re-imports:
only `confidential: false` sent explicitly clears the mark, and an import never does."""

from __future__ import annotations

import copy
import uuid

import sqlalchemy as sa

from tests.services.directory.conftest import GEOCODER, ORG_B, make_app, build_directory, token_for
from worklink_directory.importer import import_records
from worklink_directory.models import Location

STREET = "7 Hidden Lane"  # the refuge's street; other listings share its postcode TA1 1AA


def assert_address_nowhere(app, service_id: str) -> None:
    """The refuge's address is in no read: the service, its service-at-location, proximity, the resident page."""
    client = app.test_client()
    service = client.get(f"/services/{service_id}")
    own = [service.get_data(as_text=True), client.get(f"/find/services/{service_id}").get_data(as_text=True)]
    own += [client.get(f"/service_at_locations/{sal['id']}").get_data(as_text=True)
            for sal in service.get_json()["service_at_locations"]]
    for text in own:
        assert STREET not in text and "TA1 1AA" not in text, text[:2000]
    near = client.get("/service_at_locations?postcode=TA1%201AA&proximity=2000&per_page=50")
    assert STREET not in near.get_data(as_text=True)
    assert service_id not in {item["service_id"] for item in near.get_json()["contents"]}
    assert STREET not in client.get("/find?postcode=TA1+1AA").get_data(as_text=True)


def hide_refuge(app, refuge: str) -> Location:
    """Move the refuge to its own street (still marked confidential); returns its location."""
    loc = refuge_location(app, refuge)
    body = {"locations": [{"id": str(loc.id), "name": "Taunton centre", "address_1": STREET, "city": "Taunton",
                           "postal_code": "TA1 1AA", "confidential": True}]}
    owner = token_for(app, "org_admin", ORG_B)
    assert app.test_client().patch(f"/manage/services/{refuge}", json=body, headers=owner).status_code == 200
    return refuge_location(app, refuge)


def refuge_location(app, service_id: str) -> Location:
    with app.extensions["worklink"].database.sessions() as session:
        return session.scalars(sa.select(Location).where(Location.organization_id == ORG_B)).one()  # its only one


def test_a_patch_that_leaves_the_flag_out_keeps_the_address_confidential(database_url, tmp_path):
    app = make_app(database_url, tmp_path)
    refuge = build_directory(app).ids["refuge"]
    client, owner = app.test_client(), token_for(app, "org_admin", ORG_B)
    loc = hide_refuge(app, refuge)
    assert loc.confidential
    assert_address_nowhere(app, refuge)
    edit = {"id": str(loc.id), "name": "Taunton centre", "address_1": STREET, "city": "Taunton",
            "postal_code": "TA1 1AA", "accessibility": "Ring the bell."}
    assert client.patch(f"/manage/services/{refuge}", json={"locations": [edit]}, headers=owner).status_code == 200
    assert refuge_location(app, refuge).accessibility == "Ring the bell." and refuge_location(app, refuge).confidential
    assert_address_nowhere(app, refuge)

    # the same place sent again without its id is still the refuge
    no_id = {k: v for k, v in edit.items() if k != "id"}
    assert client.patch(f"/manage/services/{refuge}", json={"locations": [no_id]}, headers=owner).status_code == 200
    assert_address_nowhere(app, refuge)

    # clearing the mark takes an explicit false, and the acknowledgement that the address goes public
    unacknowledged = client.patch(f"/manage/services/{refuge}",
                                  json={"locations": [{**no_id, "confidential": False}]}, headers=owner)
    assert unacknowledged.status_code == 409
    assert_address_nowhere(app, refuge)
    read = client.get(f"/manage/services/{refuge}", headers=owner)  # acknowledged against the version read
    cleared = client.patch(f"/manage/services/{refuge}", headers={**owner, "If-Match": read.headers["ETag"]},
                           json={"locations": [{**no_id, "confidential": False, "publish_address": True}]})
    assert cleared.status_code == 200
    assert STREET in client.get(f"/services/{refuge}").get_data(as_text=True)


def test_a_reimport_of_the_partners_feed_never_clears_the_mark(app):
    known = build_directory(app)
    client, owner = app.test_client(), token_for(app, "org_admin", ORG_B)
    refuge = known.ids["refuge"]
    loc = hide_refuge(app, refuge)
    # the partner's own ORUK feed: the address, and no x_confidential (not an ORUK field)
    record = {"id": refuge, "name": "Safe housing support", "description": "Safe accommodation and support.",
              "status": "active",
              "organization": {"id": str(ORG_B), "name": "Safe Homes Somerset", "description": "Safe Homes Somerset"},
              "application_process": "Call the advice line.",
              "attributes": [{"id": str(uuid.uuid4()), "link_id": refuge, "link_type": "service",
                              "taxonomy_term_id": known.terms["carers"]}],
              "service_at_locations": [{"id": str(uuid.uuid4()), "location": {
                  "id": str(loc.id), "location_type": "physical", "name": "Safe housing office",
                  "addresses": [{"id": str(uuid.uuid4()), "address_1": STREET, "city": "Taunton",
                                 "state_province": "Somerset", "postal_code": "TA1 1AA", "country": "GB",
                                 "address_type": "physical"}]}}]}
    ctx = app.extensions["worklink"]
    report = import_records(ctx.database, ctx.outbox, [copy.deepcopy(record)], GEOCODER)
    assert report.rejected == [] and report.updated == 1
    assert refuge_location(app, refuge).confidential
    assert_address_nowhere(app, refuge)
    # importing the same feed again is no change at all (the mark is not seen as a difference)
    again = import_records(ctx.database, ctx.outbox, [copy.deepcopy(record)], GEOCODER)
    assert (again.unchanged, again.updated) == (1, 0)
    # the feed under another location id, same place: still confidential
    record["service_at_locations"][0]["location"]["id"] = str(uuid.uuid4())
    assert import_records(ctx.database, ctx.outbox, [record], GEOCODER).updated == 1
    assert_address_nowhere(app, refuge)
    trail = client.get(f"/manage/services/{refuge}/metadata?per_page=200", headers=owner).get_json()["contents"]
    assert not [m for m in trail if m["field_name"].endswith("/confidential")]
