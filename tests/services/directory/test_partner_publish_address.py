"""Publishing a confidential place's address (a refuge's) takes a confirmation, on the pages and in the API.

Before 2026-11-27 unticking "Keep this address confidential" on a place's change page and saving published the
address at once, and a PATCH with `confidential: false` did the same: for a refuge, one slip is a safety incident.
Now the page asks first, saying what becomes public where, and nothing changes until "Yes, publish the address"
(posted from a page as new as the listing); the API refuses such a write (409) until it says `publish_address`."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.services.directory.conftest import ORG_B, build_directory, make_app, service_body, token_for
from tests.services.directory.test_partner_confidential_postcode import locations, stored
from tests.services.directory.test_partner_pages import csrf, outbox, signed_in, trail
from worklink_directory import oruk_schemas

UNTICKED = {"name": "Taunton centre", "address_1": "1 High Street", "city": "Taunton", "postal_code": "TA1 1AA",
            "accessibility": "Step-free access. Ring the bell."}  # the refuge's change page, box unticked


def hidden(html: str) -> dict[str, str]:
    """The confirmation form's fields, as a browser would post them back."""
    form = html.split('action="/partner/services/')[1].split("</form>")[0]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form))


def refuge_page(app, directory, subject: str = "ada"):
    refuge = directory.ids["refuge"]
    client = signed_in(app, "org_admin", ORG_B, subject=subject)
    (place,) = locations(app, refuge)
    return client, refuge, place["id"], f"/partner/services/{refuge}/locations/{place['id']}"


def test_unticking_asks_first_and_nothing_changes_until_confirmed(app, directory):
    client, refuge, place, path = refuge_page(app, directory, subject="bea-at-safe-homes")
    before, trail_before = len(outbox(app)), trail(app, refuge)
    asked = client.post(path, data={"csrf_token": csrf(client), **UNTICKED})
    html = " ".join(asked.get_data(as_text=True).split())
    assert asked.status_code == 200
    assert "<h1>Publish the address of Taunton centre?</h1>" in html
    assert 'class="nhsuk-warning-callout"' in html and "Anyone will be able to see this address" in html
    assert "Taunton centre is confidential now" in html
    assert "1 High Street, Taunton, TA1 1AA, its accessibility notes and its position on a map" in html
    assert "the service page of Safe housing support, and searches and distance results near TA1 1AA" in html
    assert "the open data feed (the Open Referral UK API)" in html and '"listing updated" event' in html
    assert "Yes, publish the address" in html and "No, keep it confidential" in html
    # nothing changed yet: the mark, the accessibility notes, no trail, no event, nothing published
    assert stored(app, place).confidential is True and stored(app, place).accessibility == "Step-free access."
    assert len(outbox(app)) == before and trail(app, refuge) == trail_before
    assert "1 High Street" not in app.test_client().get(f"/services/{refuge}").get_data(as_text=True)

    fields = hidden(asked.get_data(as_text=True))
    assert {k: fields[k] for k in UNTICKED} == UNTICKED and fields["publish_address"] == "yes"
    assert "confidential" not in fields and fields["csrf_token"]
    confirmed = client.post(path, data=fields)
    assert confirmed.status_code == 303
    assert stored(app, place).confidential is False
    assert stored(app, place).accessibility == "Step-free access. Ring the bell."  # the pending edit, carried
    published = app.test_client().get(f"/services/{refuge}").get_json()
    assert published["service_at_locations"][0]["location"]["addresses"][0]["address_1"] == "1 High Street"
    assert oruk_schemas.problems("service", published) == []
    # audited as any change: the trail names the person who confirmed
    assert ("update", f"locations/{place}/confidential", "True", "False", "bea-at-safe-homes") in trail(app, refuge)
    assert [kind for kind, _, _ in outbox(app)[before:]] == ["directory.service.updated"]


def test_no_keeps_it_confidential(app, directory):
    client, refuge, place, path = refuge_page(app, directory)
    asked = client.post(path, data={"csrf_token": csrf(client), **UNTICKED})
    no = re.search(r'<a href="([^"]+)">No, keep it confidential</a>', asked.get_data(as_text=True)).group(1)
    listing = client.get(no.replace("&amp;", "&"))
    assert listing.status_code == 200
    assert "Nothing was saved: the address is still confidential." in listing.get_data(as_text=True)
    assert stored(app, place).confidential is True and stored(app, place).accessibility == "Step-free access."
    assert "1 High Street" not in app.test_client().get(f"/services/{refuge}").get_data(as_text=True)


def test_a_confirmation_given_after_the_listing_changed_is_a_conflict(app, directory):
    client, refuge, place, path = refuge_page(app, directory)
    asked = client.post(path, data={"csrf_token": csrf(client), **UNTICKED})
    fields = hidden(asked.get_data(as_text=True))
    # a colleague changes the listing while the confirmation page is open
    colleague = token_for(app, "org_admin", ORG_B)
    assert app.test_client().patch(f"/manage/services/{refuge}", headers=colleague,
                                   json={"alert": "Closed on Friday."}).status_code == 200
    stale = client.post(path, data=fields)
    html = " ".join(stale.get_data(as_text=True).split())
    assert stale.status_code == 409
    assert "Someone changed this listing while you were deciding, so the address was not published" in html
    assert 'name="confidential" type="checkbox" value="1" checked' in html  # the safe answer, ticked again
    assert stored(app, place).confidential is True
    # a confirmation without the listing's version (a hand-made post) is no confirmation either
    forged = {k: v for k, v in fields.items() if k != "version"}
    assert client.post(path, data=forged).status_code == 409 and stored(app, place).confidential is True
    # asked again on the listing as it is now, the confirmation publishes it
    again = client.post(path, data={"csrf_token": fields["csrf_token"], **UNTICKED})
    assert client.post(path, data=hidden(again.get_data(as_text=True))).status_code == 303
    assert stored(app, place).confidential is False


def test_a_shared_place_names_every_listing_that_would_show_it(app, directory):
    client, refuge, place, path = refuge_page(app, directory)
    outreach = app.test_client().post("/manage/services", headers=token_for(app, "org_admin", ORG_B), json={
        **service_body(ORG_B, "Outreach support", ["carers"]), "locations": [{"id": place}]})
    assert outreach.status_code == 201
    asked = client.post(path, data={"csrf_token": csrf(client), **UNTICKED})
    assert ("the service page of Safe housing support and Outreach support, and searches"
            in " ".join(asked.get_data(as_text=True).split()))


@pytest.fixture()
def api_app(database_url, tmp_path):
    app = make_app(database_url, tmp_path)
    yield app, build_directory(app)
    app.extensions["worklink"].database.dispose()


def test_the_api_refuses_to_publish_without_the_acknowledgement(api_app):
    app, directory = api_app
    refuge, client = directory.ids["refuge"], app.test_client()
    owner = token_for(app, "org_admin", ORG_B, subject="cal-at-safe-homes")
    (place,) = locations(app, refuge)
    unmark = {"id": place["id"], "name": "Taunton centre", "address_1": "1 High Street", "city": "Taunton",
              "postal_code": "TA1 1AA", "confidential": False}
    before, trail_before = len(outbox(app)), trail(app, refuge)
    refused = client.patch(f"/manage/services/{refuge}", json={"locations": [unmark]}, headers=owner)
    assert refused.status_code == 409 and refused.mimetype == "application/problem+json"
    problem = refused.get_json()
    assert problem["title"] == "Confirm publishing a confidential address"
    assert "send `publish_address: true`" in problem["detail"]
    assert problem["errors"] == [{"location": "json", "pointer": "/locations/0/publish_address", "detail": (
        f"Location {place['id']} is confidential (a refuge or similar): `confidential: false` publishes its address, "
        "postcode and position on the open feed and the residents' pages. If that is meant, send "
        "`publish_address: true` with it.")}]
    assert stored(app, place["id"]).confidential is True
    assert len(outbox(app)) == before and trail(app, refuge) == trail_before
    # `publish_address: false` is no acknowledgement
    assert client.patch(f"/manage/services/{refuge}", headers=owner, json={
        "locations": [{**unmark, "publish_address": False}]}).status_code == 409

    read = client.get(f"/manage/services/{refuge}", headers=owner)  # acknowledged against the version read
    done = client.patch(f"/manage/services/{refuge}", headers={**owner, "If-Match": read.headers["ETag"]},
                        json={"locations": [{**unmark, "publish_address": True}]})
    assert done.status_code == 200
    assert done.get_json()["service_at_locations"][0]["location"]["addresses"][0]["address_1"] == "1 High Street"
    assert "publish_address" not in done.get_data(as_text=True)  # an acknowledgement, never stored nor published
    assert oruk_schemas.problems("service", client.get(f"/services/{refuge}").get_json()) == []
    assert stored(app, place["id"]).confidential is False
    assert ("update", f"locations/{place['id']}/confidential", "True", "False",
            "cal-at-safe-homes") in trail(app, refuge)


def test_edits_that_publish_nothing_need_no_acknowledgement(app, directory):
    refuge, client = directory.ids["refuge"], app.test_client()
    owner = token_for(app, "org_admin", ORG_B)
    (place,) = locations(app, refuge)
    kept = {"id": place["id"], "address_1": "1 High Street", "city": "Taunton", "postal_code": "TA1 1AA"}
    for body in ({**kept, "accessibility": "Ring the bell."}, {**kept, "confidential": True}):
        assert client.patch(f"/manage/services/{refuge}", json={"locations": [body]}, headers=owner).status_code == 200
    assert stored(app, place["id"]).confidential is True
    # another organisation's public place at the same postcode is its own business
    other = client.post("/manage/services", headers=token_for(app, "alliance_admin"), json=service_body(
        uuid.UUID("0b3c6c86-0000-4000-8000-00000000000a"), "Library advice", ["debt"], lat=51.0146, lon=-3.1029))
    assert other.status_code == 201


def test_a_place_changed_through_a_sibling_listing_makes_an_earlier_acknowledgement_stale(api_app):
    """The refuge's place is shared with an outreach listing. The owner reads the refuge listing (its ETag), then
    someone moves the place through the outreach listing. That changed what the refuge listing shows, so the ETag
    read before must no longer acknowledge publishing it: 412, nothing published. Before, a listing's version moved
    only with its own writes, and this acknowledgement - of an address its sender never saw - went through."""
    app, directory = api_app
    refuge, client = directory.ids["refuge"], app.test_client()
    owner = token_for(app, "org_admin", ORG_B, subject="cal-at-safe-homes")
    (place,) = locations(app, refuge)
    as_stored = {"id": place["id"], **{k: UNTICKED[k] for k in ("name", "address_1", "city", "postal_code")}}
    outreach = client.post("/manage/services", headers=owner, json={
        **service_body(ORG_B, "Outreach support", ["carers"]), "locations": [as_stored]})
    assert outreach.status_code == 201
    outreach_id = outreach.get_json()["id"]
    read = client.get(f"/manage/services/{refuge}", headers=owner)
    events_before = len(outbox(app))

    moved = {**as_stored, "address_1": "9 Quiet Road"}
    assert client.patch(f"/manage/services/{outreach_id}", headers=owner,
                        json={"locations": [moved]}).status_code == 200
    assert stored(app, place["id"]).confidential is True and stored(app, place["id"]).address_1 == "9 Quiet Road"

    now = client.get(f"/manage/services/{refuge}", headers=owner)
    assert now.headers["ETag"] != read.headers["ETag"]
    assert ("update", f"locations/{place['id']}/address_1", "1 High Street", "9 Quiet Road",
            "cal-at-safe-homes") in trail(app, refuge)
    updated = [(kind, subject, event["data"]["changed"]) for kind, subject, event in outbox(app)[events_before:]
               if kind == "directory.service.updated"]
    assert ("directory.service.updated", refuge, ["locations"]) in updated

    stale = client.patch(f"/manage/services/{refuge}", headers={**owner, "If-Match": read.headers["ETag"]},
                         json={"locations": [{**moved, "confidential": False, "publish_address": True}]})
    assert stale.status_code == 412 and stale.mimetype == "application/problem+json"
    assert stored(app, place["id"]).confidential is True
    assert "9 Quiet Road" not in client.get(f"/services/{refuge}").get_data(as_text=True)


def test_a_place_named_by_its_id_alone_is_offered_as_it_is(api_app):
    """Offering a second listing at the refuge's place by its id: the place keeps its name, address and mark, and
    the refuge listing is untouched. Taken as a complete item with every detail left out, it blanked the place's
    name and address for both listings."""
    app, directory = api_app
    refuge, client = directory.ids["refuge"], app.test_client()
    owner = token_for(app, "org_admin", ORG_B, subject="cal-at-safe-homes")
    (place,) = locations(app, refuge)
    read = client.get(f"/manage/services/{refuge}", headers=owner)
    outreach = client.post("/manage/services", headers=owner, json={
        **service_body(ORG_B, "Outreach support", ["carers"]), "locations": [{"id": place["id"]}]})
    assert outreach.status_code == 201
    kept = stored(app, place["id"])
    assert (kept.name, kept.address_1, kept.city, kept.postal_code, kept.confidential) == (
        "Taunton centre", "1 High Street", "Taunton", "TA1 1AA", True)
    assert client.get(f"/manage/services/{refuge}", headers=owner).headers["ETag"] == read.headers["ETag"]
    offered = client.get(f"/manage/services/{outreach.get_json()['id']}", headers=owner).get_json()
    assert [sal["location"]["id"] for sal in offered["service_at_locations"]] == [place["id"]]
