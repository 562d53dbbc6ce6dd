"""A listing's nested items (locations, contacts and their phones, opening times, service areas) are named by
id: an organisation's staff can never change, attach, detach or remove another organisation's through the write
API or the partner pages, every page form needs its CSRF token, and an id sent twice is a 422, never a 500."""

from __future__ import annotations

import uuid

import pytest

from tests.services.directory.conftest import ORG_A, ORG_B, service_body, token_for
from tests.services.directory.test_partner_pages import csrf, listing_form, outbox, page_paths, signed_in


def owned_by_b(app, directory) -> dict:
    """The refuge (organisation B's listing) as its owner reads it."""
    return app.test_client().get(f"/manage/services/{directory.ids['refuge']}",
                                 headers=token_for(app, "org_admin", ORG_B)).get_json()


def b_ids(app, directory) -> dict[str, str]:
    refuge = owned_by_b(app, directory)
    area = app.test_client().patch(f"/manage/services/{directory.ids['refuge']}", headers=token_for(
        app, "org_admin", ORG_B), json={"service_areas": [{"name": "Taunton", "postcode_districts": ["TA1"]}]})
    return {"location": refuge["service_at_locations"][0]["location_id"], "contact": refuge["contacts"][0]["id"],
            "phone": refuge["contacts"][0]["phones"][0]["id"], "schedule": refuge["schedules"][0]["id"],
            "area": area.get_json()["service_areas"][0]["id"]}


def test_another_organisations_items_cannot_be_taken_through_the_write_api(app, directory):
    ids = b_ids(app, directory)
    before = owned_by_b(app, directory)
    client, owner = app.test_client(), token_for(app, "org_admin", ORG_A)
    counselling = directory.ids["counselling"]
    taken = {"locations": [{"id": ids["location"], "name": "Ours now", "postal_code": "TA1 1AA"}],
             "contacts": [{"id": ids["contact"], "name": "Ours now"}],
             "schedules": [{"id": ids["schedule"], "byday": "SU", "opens_at": "01:00", "closes_at": "02:00"}],
             "service_areas": [{"id": ids["area"], "name": "Ours now"}]}
    phone = {"contacts": [{"name": "Ours", "phones": [{"id": ids["phone"], "number": "01632 960999"}]}]}
    for field, items in [*taken.items(), *phone.items()]:
        for method, path, body in (
                ("patch", f"/manage/services/{counselling}", {field: items}),
                ("post", "/manage/services", {**service_body(ORG_A, "Taken", ["debt"]), field: items})):
            response = getattr(client, method)(path, json=body, headers=owner)
            assert response.status_code == 422, (method, field, response.get_json())
            assert response.mimetype == "application/problem+json"
    # an alliance admin cannot move one organisation's items under another's listing either
    admin = token_for(app, "alliance_admin")
    for field, items in taken.items():
        assert client.patch(f"/manage/services/{counselling}", json={field: items}, headers=admin).status_code == 422
    assert owned_by_b(app, directory) == before


def test_another_organisations_items_cannot_be_reached_through_the_partner_pages(app, directory):
    ids = b_ids(app, directory)
    before = owned_by_b(app, directory)
    events = len(outbox(app))
    client = signed_in(app, "org_admin", ORG_A)
    token = csrf(client)
    base = f"/partner/services/{directory.ids['counselling']}"
    form = {"csrf_token": token, "name": "Ours now", "address_1": "1 Road", "city": "Taunton",
            "postal_code": "TA1 1AA", "phone": "01632 960999", "byday": "SU", "opens_at": "01:00", "closes_at": "02:00"}
    for slug, key in (("locations", "location"), ("contacts", "contact"), ("opening-times", "schedule")):
        for path in (f"{base}/{slug}/{ids[key]}", f"{base}/{slug}/{ids[key]}/remove"):
            assert client.get(path).status_code == 404, path
            assert client.post(path, data=form).status_code == 404, path
    assert owned_by_b(app, directory) == before
    assert len(outbox(app)) == events


def test_every_partner_form_needs_its_csrf_token_from_this_site(app, directory):
    """The check is app-wide (worklink.web.pages): each form refuses a post without the token, a post the
    browser says came from another site, and a cookie-signed-in post asking for JSON (a program must send
    its bearer token instead, which a forged request cannot)."""
    counselling = directory.ids["counselling"]
    before = app.test_client().get(f"/services/{counselling}").get_json()
    events = len(outbox(app))
    client = signed_in(app, "org_admin", ORG_A)
    token = csrf(client)
    form = {**listing_form(name="Forged"), "reason": "closed", "address_1": "1 Forged Road", "city": "Taunton",
            "postal_code": "TA1 1AA", "phone": "01632 960999", "byday": "SU", "opens_at": "01:00",
            "closes_at": "02:00", "organization_id": str(ORG_A)}
    for path in ["/partner/services/new", *page_paths(app, directory)]:
        assert client.post(path, data=form).status_code == 400, path
        assert client.post(path, data={**form, "csrf_token": "x" * 43}).status_code == 400, path
        assert client.post(path, data={**form, "csrf_token": token},
                           headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403, path
        assert client.post(path, data=form, headers={"Accept": "application/json"}).status_code == 401, path
    assert app.test_client().get(f"/services/{counselling}").get_json() == before
    assert len(outbox(app)) == events


@pytest.mark.parametrize("same_id", ["new", "existing"])
def test_a_phone_id_sent_under_two_contacts_is_a_422(app, directory, same_id):
    client, owner = app.test_client(), token_for(app, "org_admin", ORG_A)
    debt = directory.ids["debt"]
    before = client.get(f"/services/{debt}").get_json()
    phone = str(uuid.uuid4()) if same_id == "new" else before["contacts"][0]["phones"][0]["id"]
    response = client.patch(f"/manage/services/{debt}", headers=owner, json={"contacts": [
        {"name": "Advice line", "phones": [{"id": phone, "number": "01632 960001"}]},
        {"name": "Evening line", "phones": [{"id": phone, "number": "01632 960002"}]}]})
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert response.get_json()["errors"][0]["pointer"] == "/contacts"
    assert client.get(f"/services/{debt}").get_json() == before
