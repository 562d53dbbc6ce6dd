"""A write looks its postcodes up only once the caller may make it: a refused write (another organisation's
listing, through the API or the partner location form) never reaches the geocoder, which costs per lookup,
has a rate limit, and would tell a stranger which postcodes it knows."""

from __future__ import annotations

import pytest

from tests.services.directory.conftest import GEOCODER, ORG_A, ORG_B, service_body, token_for
from tests.services.directory.test_partner_pages import csrf, signed_in
from worklink_directory.geocode import Point

NEW_PLACE = {"name": "Annexe", "address_1": "2 Low Street", "city": "Taunton", "postal_code": "TA1 1AA"}


class CountingGeocoder:
    """The tests' offline geocoder, noting each postcode it is asked for."""

    def __init__(self):
        self.asked: list[str] = []

    def locate(self, postcode: str) -> Point:
        self.asked.append(postcode)
        return GEOCODER.locate(postcode)


@pytest.fixture()
def geocoder(app) -> CountingGeocoder:
    counting = CountingGeocoder()
    app.extensions["directory"]["geocoder"] = counting  # what the API and the pages look postcodes up with
    return counting


def test_a_refused_api_write_asks_the_geocoder_nothing(app, directory, geocoder):
    client, stranger = app.test_client(), token_for(app, "org_admin", ORG_B)
    counselling = directory.ids["counselling"]
    patched = client.patch(f"/manage/services/{counselling}", headers=stranger, json={"locations": [NEW_PLACE]})
    created = client.post("/manage/services", headers=stranger, json={
        **service_body(ORG_A, "Not theirs to add", ["debt"]), "locations": [NEW_PLACE]})
    unknown = client.patch("/manage/services/7b0e4f0c-0000-4000-8000-000000000000", headers=stranger,
                           json={"locations": [NEW_PLACE]})
    assert (patched.status_code, created.status_code, unknown.status_code) == (403, 403, 404)
    assert geocoder.asked == []
    # the owner's own write still looks the new place up
    owner = token_for(app, "org_admin", ORG_A)
    assert client.patch(f"/manage/services/{counselling}", headers=owner,
                        json={"locations": [NEW_PLACE]}).status_code == 200
    assert geocoder.asked == ["TA1 1AA"]


def test_a_refused_location_form_asks_the_geocoder_nothing(app, directory, geocoder):
    counselling = directory.ids["counselling"]
    stranger = signed_in(app, "org_admin", ORG_B)
    response = stranger.post(f"/partner/services/{counselling}/locations/new",
                             data={"csrf_token": csrf(stranger), **NEW_PLACE})
    assert response.status_code == 403
    assert geocoder.asked == []
    owner = signed_in(app, "org_admin", ORG_A)
    response = owner.post(f"/partner/services/{counselling}/locations/new",
                          data={"csrf_token": csrf(owner), **NEW_PLACE})
    assert response.status_code == 303
    assert geocoder.asked == ["TA1 1AA"]


def test_a_location_form_for_a_withdrawn_listing_asks_the_geocoder_nothing(app, directory, geocoder):
    owner_api = token_for(app, "org_admin", ORG_A)
    cafe = directory.ids["cafe"]
    assert app.test_client().post(f"/manage/services/{cafe}/withdraw", headers=owner_api,
                                  json={"reason": "closed"}).status_code == 200
    owner = signed_in(app, "org_admin", ORG_A)
    response = owner.post(f"/partner/services/{cafe}/locations/new", data={"csrf_token": csrf(owner), **NEW_PLACE})
    assert response.status_code == 409
    assert geocoder.asked == []
