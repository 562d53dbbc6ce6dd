"""The partner location form at the postcode of one of the organisation's confidential places.

The write API keeps a new place there confidential unless the write says otherwise (commit abca1ce); the form
always says (its box, ticked or not), so an unticked box published the refuge's address listed again under
another of the organisation's services. The form now stops once, with the box ticked and why, and publishes
only when the partner unticks it again and confirms (test_partner_publish_address.py)."""

from __future__ import annotations

import re
import uuid

from tests.services.directory.conftest import ORG_A, ORG_B, service_body, token_for
from tests.services.directory.test_partner_pages import csrf, signed_in
from worklink_directory.models import Location

REFUGE_AGAIN = {"name": "", "address_1": "5 Quiet Lane", "city": "Taunton", "postal_code": "ta1 1aa"}
WARNING = "Your organisation has a confidential place at TA1 1AA, so we have ticked this box."


def another_listing(app, org: uuid.UUID) -> str:
    body = service_body(org, "Outreach support", ["carers"])
    response = app.test_client().post("/manage/services", json=body, headers=token_for(app, "alliance_admin"))
    assert response.status_code == 201
    return response.get_json()["id"]


def locations(app, service_id: str) -> list[dict]:
    body = app.test_client().get(f"/services/{service_id}").get_json()
    return [sal["location"] for sal in body.get("service_at_locations", [])]


def stored(app, location_id: str) -> Location:
    with app.extensions["worklink"].database.sessions() as session:
        return session.get(Location, uuid.UUID(location_id))


def version_of(html: str) -> str:
    return re.search(r'name="version" value="(\d+)"', html).group(1)


def test_an_unticked_place_at_a_confidential_postcode_is_asked_about_with_the_box_ticked(app, directory):
    outreach = another_listing(app, ORG_B)  # the refuge (TA1 1AA, confidential) is ORG_B's other listing
    client = signed_in(app, "org_admin", ORG_B)
    token = csrf(client)
    response = client.post(f"/partner/services/{outreach}/locations/new", data={"csrf_token": token, **REFUGE_AGAIN})
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert WARNING in html
    assert '<a href="#confidential">' in html and 'id="confidential-error"' in html  # summary and beside the box
    assert 'name="confidential" type="checkbox" value="1" checked' in " ".join(html.split())
    assert '<input type="hidden" name="confidential_asked" value="TA1 1AA">' in html
    assert 'value="5 Quiet Lane"' in html  # what was typed is kept
    assert locations(app, outreach) == []  # nothing saved yet

    kept = client.post(f"/partner/services/{outreach}/locations/new", data={
        "csrf_token": token, **REFUGE_AGAIN, "confidential": "1", "confidential_asked": "TA1 1AA"})
    assert kept.status_code == 303
    (place,) = locations(app, outreach)
    assert "addresses" not in place and "latitude" not in place  # confidential: never published
    assert stored(app, place["id"]).confidential is True


def test_unticked_again_after_the_question_it_is_published_on_purpose(app, directory):
    outreach = another_listing(app, ORG_B)
    client = signed_in(app, "org_admin", ORG_B)
    token = csrf(client)
    asked = client.post(f"/partner/services/{outreach}/locations/new", data={"csrf_token": token, **REFUGE_AGAIN})
    assert asked.status_code == 409
    unticked = client.post(f"/partner/services/{outreach}/locations/new", data={
        "csrf_token": token, **REFUGE_AGAIN, "confidential_asked": "TA1 1AA"})
    assert unticked.status_code == 200 and "Publish this address?" in unticked.get_data(as_text=True)
    assert locations(app, outreach) == []  # still nothing saved: publishing it takes a confirmation
    published = client.post(f"/partner/services/{outreach}/locations/new", data={
        "csrf_token": token, **REFUGE_AGAIN, "confidential_asked": "TA1 1AA", "publish_address": "yes",
        "version": version_of(unticked.get_data(as_text=True))})
    assert published.status_code == 303
    (place,) = locations(app, outreach)
    assert stored(app, place["id"]).confidential is False and place["addresses"][0]["address_1"] == "5 Quiet Lane"
    # asked about one postcode, moved to another confidential one: asked again
    with app.extensions["worklink"].database.transaction() as session:
        session.add(Location(organization_id=ORG_B, address_1="Hidden", city="Bridgwater", postal_code="TA6 3BB",
                             confidential=True))
    moved = client.post(f"/partner/services/{outreach}/locations/{place['id']}", data={
        "csrf_token": token, **REFUGE_AGAIN, "postal_code": "TA6 3BB", "confidential_asked": "TA1 1AA"})
    assert moved.status_code == 409 and "confidential place at TA6 3BB" in moved.get_data(as_text=True)
    assert stored(app, place["id"]).postal_code == "TA1 1AA"


def test_no_question_where_the_organisation_has_no_confidential_place_or_the_place_stays_put(app, directory):
    # ORG_A has only public places; the refuge at TA1 1AA is another organisation's and says nothing about A's
    counselling = directory.ids["counselling"]
    client = signed_in(app, "org_admin", ORG_A)
    token = csrf(client)
    added = client.post(f"/partner/services/{counselling}/locations/new", data={"csrf_token": token, **REFUGE_AGAIN})
    assert added.status_code == 303
    assert len(locations(app, counselling)) == 2
    # the refuge itself, unticked on its own page at its own postcode: no question about the postcode, but (since
    # 2026-11-27) a confirmation page before its address is published (test_partner_publish_address.py)
    refuge = directory.ids["refuge"]
    owner = signed_in(app, "org_admin", ORG_B)
    (place,) = locations(app, refuge)
    unmarked = owner.post(f"/partner/services/{refuge}/locations/{place['id']}", data={
        "csrf_token": csrf(owner), "address_1": "1 High Street", "city": "Taunton", "postal_code": "TA1 1AA"})
    assert unmarked.status_code == 200 and "Yes, publish the address" in unmarked.get_data(as_text=True)
    assert WARNING.split(",")[0] not in unmarked.get_data(as_text=True)
    assert stored(app, place["id"]).confidential is True


def test_an_alliance_admin_is_told_whose_confidential_place_it_is(app, directory):
    """An alliance admin adding the place for a partner was told "Your organisation has a confidential place":
    not theirs. They are told the listing's organisation."""
    outreach = another_listing(app, ORG_B)
    admin = signed_in(app, "alliance_admin")
    asked = admin.post(f"/partner/services/{outreach}/locations/new", data={"csrf_token": csrf(admin), **REFUGE_AGAIN})
    assert asked.status_code == 409
    html = asked.get_data(as_text=True)
    assert "Safe Homes Somerset has a confidential place at TA1 1AA, so we have ticked this box." in html
    assert "Your organisation" not in html
