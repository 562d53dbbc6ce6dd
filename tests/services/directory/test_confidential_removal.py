"""Deleting a confidential place (a refuge's) takes a confirmation, and an acknowledgement - an address published,
a confidential place deleted - counts only with the version of the listing it was made on (If-Match).

Before 2026-11-28 removing a refuge's only location deleted it at once, and with it the only record that its
postcode was confidential: the refuge added again was published unless someone remembered to tick the box. And a
PATCH saying `publish_address: true` went ahead without If-Match, so an acknowledgement made on a stale copy could
publish a place a colleague had marked confidential since, unseen. Neither was in /openapi.json."""

from __future__ import annotations

import pytest

from tests.services.directory.conftest import GEOCODER, ORG_B, token_for
from tests.services.directory.test_partner_confidential_postcode import locations, stored
from tests.services.directory.test_partner_pages import csrf, outbox, signed_in, trail
from worklink_directory.importer import import_records

REFUGE = {"name": "Taunton centre", "address_1": "1 High Street", "city": "Taunton", "postal_code": "TA1 1AA"}


def read(client, refuge: str, owner: dict) -> str:
    return client.get(f"/manage/services/{refuge}", headers=owner).headers["ETag"]


def test_the_api_deletes_a_confidential_place_only_when_told_on_the_version_read(both):
    app, directory = both
    refuge, client = directory.ids["refuge"], app.test_client()
    owner = token_for(app, "org_admin", ORG_B, subject="cal-at-safe-homes")
    (place,) = locations(app, refuge)
    before, trail_before = len(outbox(app)), trail(app, refuge)

    refused = client.patch(f"/manage/services/{refuge}", json={"locations": []}, headers=owner)
    assert refused.status_code == 409 and refused.mimetype == "application/problem+json"
    problem = refused.get_json()
    assert problem["title"] == "Confirm removing a confidential place"
    assert "send `remove_confidential_places: true`" in problem["detail"]
    assert problem["errors"] == [{"location": "json", "pointer": "/remove_confidential_places", "detail": (
        f"Location {place['id']} (Taunton centre) is confidential (a refuge or similar) and this write deletes it: no "
        "other listing uses it and no confidential place is kept at its postcode. Its address is then gone, and a "
        "place added there later is published unless sent with `confidential: true`.")}]
    assert stored(app, place["id"]).confidential is True  # nothing changed: the place, the trail, no event
    assert len(outbox(app)) == before and trail(app, refuge) == trail_before

    # so the refuge sent again (as a new place) is still known to be confidential
    again = client.patch(f"/manage/services/{refuge}", json={"locations": [REFUGE]}, headers=owner)
    assert again.status_code == 200  # replaced in one write: it stays confidential, nothing forgotten to confirm
    (moved,) = locations(app, refuge)
    assert stored(app, moved["id"]).confidential is True and "addresses" not in moved

    # the acknowledgement alone is not enough: it must name the version it was given on
    removal = {"locations": [], "remove_confidential_places": True}
    unconditional = client.patch(f"/manage/services/{refuge}", json=removal, headers=owner)
    assert unconditional.status_code == 428 and unconditional.mimetype == "application/problem+json"
    assert unconditional.get_json()["errors"][0]["pointer"] == "/remove_confidential_places"
    for stale in ("*", '"1"'):
        answer = client.patch(f"/manage/services/{refuge}", json=removal, headers={**owner, "If-Match": stale})
        assert answer.status_code == (428 if stale == "*" else 412)
    assert stored(app, moved["id"]) is not None

    done = client.patch(f"/manage/services/{refuge}", json=removal,
                        headers={**owner, "If-Match": read(client, refuge, owner)})
    assert done.status_code == 200 and "service_at_locations" not in done.get_json()
    assert stored(app, moved["id"]) is None
    assert ("delete", f"locations/{moved['id']}", "Taunton centre, 1 High Street, Taunton, TA1 1AA", "",
            "cal-at-safe-homes") in trail(app, refuge)


def test_a_public_place_is_removed_as_before(both):
    app, directory = both
    owner = token_for(app, "org_admin", ORG_B)
    refuge, client = directory.ids["refuge"], app.test_client()
    public = client.post("/manage/services", headers=owner, json={
        "organization_id": str(ORG_B), "name": "Drop-in", "locations": [
            {**REFUGE, "address_1": "9 Open Road", "postal_code": "TA6 3BB", "city": "Bridgwater"}]})
    assert public.status_code == 201
    # no acknowledgement, no If-Match: a client that deletes no confidential place is unaffected
    assert client.patch(f"/manage/services/{public.get_json()['id']}", json={"locations": []},
                        headers=owner).status_code == 200
    assert stored(app, locations(app, refuge)[0]["id"]).confidential is True


def test_publishing_an_address_needs_the_version_it_was_decided_on(both):
    """Bea reads the listing (the place public), Cal marks the place confidential, Bea - whose client sends the
    acknowledgement - publishes it: before 2026-11-28 it went ahead without If-Match."""
    app, directory = both
    refuge, client = directory.ids["refuge"], app.test_client()
    owner = token_for(app, "org_admin", ORG_B)
    (place,) = locations(app, refuge)
    public = {"id": place["id"], **REFUGE, "confidential": False, "publish_address": True}
    assert client.patch(f"/manage/services/{refuge}", json={"locations": [public]},
                        headers={**owner, "If-Match": read(client, refuge, owner)}).status_code == 200
    bea_read = read(client, refuge, owner)
    assert client.patch(f"/manage/services/{refuge}", headers=owner, json={
        "locations": [{"id": place["id"], **REFUGE, "confidential": True}]}).status_code == 200  # Cal

    unconditional = client.patch(f"/manage/services/{refuge}", json={"locations": [public]}, headers=owner)
    assert unconditional.status_code == 428 and unconditional.mimetype == "application/problem+json"
    assert unconditional.get_json()["title"] == "If-Match required"
    assert "send its ETag" in unconditional.get_json()["detail"]
    assert unconditional.get_json()["errors"][0]["pointer"] == "/locations/0/publish_address"
    stale = client.patch(f"/manage/services/{refuge}", json={"locations": [public]},
                         headers={**owner, "If-Match": bea_read})
    assert stale.status_code == 412
    assert stored(app, place["id"]).confidential is True
    assert "1 High Street" not in client.get(f"/services/{refuge}").get_data(as_text=True)

    # a new listing has no version to name: it is created first, then the address published on it
    created = client.post("/manage/services", headers=owner, json={
        "organization_id": str(ORG_B), "name": "Open office", "locations": [{**REFUGE, "confidential": False,
                                                                              "publish_address": True}]})
    assert created.status_code == 428 and "create it without that place" in created.get_json()["detail"]


def test_the_remove_page_says_the_confidential_place_is_forgotten_and_asks(app, directory):
    refuge = directory.ids["refuge"]
    client = signed_in(app, "org_admin", ORG_B)
    (place,) = locations(app, refuge)
    path = f"/partner/services/{refuge}/locations/{place['id']}/remove"
    page = " ".join(client.get(path).get_data(as_text=True).split())
    assert "This is a confidential address" in page and 'class="nhsuk-warning-callout"' in page
    assert ("Removing it deletes the address from WorkLink, and WorkLink will then no longer know that TA1 1AA is a "
            "confidential address.") in page
    assert ("If you add this place again, to this or another listing, tick \u201cKeep this address "
            "confidential\u201d") in page
    assert '<input type="hidden" name="remove_confidential_places" value="yes">' in page

    # posted from a page that did not say so (opened before the place was marked): nothing removed, asked again
    before = len(outbox(app))
    unasked = client.post(path, data={"csrf_token": csrf(client)})
    assert unasked.status_code == 409
    assert "Someone marked this address confidential while you were deciding" in unasked.get_data(as_text=True)
    assert stored(app, place["id"]).confidential is True and len(outbox(app)) == before

    removed = client.post(path, data={"csrf_token": csrf(client), "remove_confidential_places": "yes"})
    assert removed.status_code == 303 and removed.headers["Location"].endswith("?done=removed&part=locations")
    assert stored(app, place["id"]) is None


@pytest.mark.parametrize("method, path, statuses", [
    ("post", "/manage/services", (409, 428)), ("patch", "/manage/services/{service_id}", (409, 412, 428)),
    ("post", "/manage/services/{service_id}/assure", (409,)), ("post", "/manage/services/{service_id}/withdraw", (409,)),
    ("post", "/manage/organizations", (409,))])
def test_openapi_documents_the_confirmation_and_precondition_answers(app, method, path, statuses):
    spec = app.test_client().get("/openapi.json").get_json()
    responses = spec["paths"][path][method]["responses"]
    for status in statuses:
        assert responses[str(status)]["content"] == {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}, status
    if path == "/manage/services" or method == "patch":
        assert "publish_address" in responses["409"]["description"]
    if method == "patch":
        assert "remove_confidential_places" in responses["409"]["description"]
        assert "If-Match" in responses["428"]["description"] and "changed" in responses["412"]["description"]
        body = spec["components"]["schemas"]["ServicePatch"]["properties"]
        assert "If-Match" in body["remove_confidential_places"]["description"]


def test_an_import_whose_feed_dropped_the_place_removes_it_as_before(app, directory):
    """The publisher's feed is its own statement and an import has nobody to ask: the record is loaded, not
    rejected for want of a confirmation."""
    refuge = directory.ids["refuge"]
    (place,) = locations(app, refuge)
    record = app.test_client().get(f"/services/{refuge}").get_json()
    record.pop("service_at_locations")
    ctx = app.extensions["worklink"]
    result = import_records(ctx.database, ctx.outbox, [record], GEOCODER)
    assert (result.updated, result.rejected) == (1, [])
    assert stored(app, place["id"]) is None
