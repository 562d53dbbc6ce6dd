"""Partner pages through the Flask test client: who may use them, and that a page edit is a real write
(the metadata trail, the outbox event, the search index, the published API)."""

from __future__ import annotations

import json
import re
import uuid

import pytest
import sqlalchemy as sa

from tests.services.directory.conftest import ORG_A, ORG_B, build_directory, make_app
from worklink.auth import mint_token
from worklink.web.pages import SESSION_COOKIE
from worklink_directory.models import Location, Metadata, Service
from tests.browser import sealed


@pytest.fixture()
def both_databases(database_url, tmp_path):
    """The app and the known directory on SQLite and on PostgreSQL (for the tests that write)."""
    app = make_app(database_url, tmp_path)
    return app, build_directory(app)


def signed_in(app, role: str, org: uuid.UUID | None = None, subject: str = "ada"):
    client = app.test_client()
    token = mint_token(app.extensions["worklink"].settings.jwt, role=role, org=str(org) if org else None,
                       subject=subject)
    client.set_cookie(SESSION_COOKIE, sealed(app, token))
    return client


def csrf(client, path: str = "/partner") -> str:
    html = client.get(path).get_data(as_text=True)
    return html.split('name="csrf_token" value="')[1].split('"')[0]


def outbox(app) -> list[tuple[str, str, dict]]:
    ctx = app.extensions["worklink"]
    table = ctx.tables.outbox
    with ctx.database.engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.type, table.c.aggregateid, table.c.payload).order_by(table.c.position))
        return [(r.type, r.aggregateid, json.loads(r.payload)) for r in rows]


def trail(app, service_id: str) -> set[tuple[str, str, str, str, str]]:
    with app.extensions["worklink"].database.sessions() as session:
        rows = session.scalars(sa.select(Metadata).where(Metadata.resource_id == uuid.UUID(service_id)))
        return {(m.last_action_type, m.field_name, m.previous_value, m.replacement_value, m.updated_by) for m in rows}


def listing_form(**changes) -> dict:
    """The details form as the counselling listing's page shows it, with `changes`."""
    form = {"name": "Taunton counselling service", "description": "Short-term counselling for anxiety and stress.",
            "application_process": "Call the advice line.", "taxonomy_term_ids": [], "minimum_age": "18",
            "maximum_age": "", "is_free": "yes", "fees": "", "delivery_modes": ["in_person", "telephone"],
            "alert": ""}
    form.update(changes)
    return form


def page_paths(app, directory) -> list[str]:
    counselling = directory.ids["counselling"]
    body = app.test_client().get(f"/services/{counselling}").get_json()
    location = body["service_at_locations"][0]["location"]["id"]
    contact, schedule = body["contacts"][0]["id"], body["schedules"][0]["id"]
    base = f"/partner/services/{counselling}"
    return [base, f"{base}/locations/new", f"{base}/locations/{location}", f"{base}/locations/{location}/remove",
            f"{base}/contacts/new", f"{base}/contacts/{contact}", f"{base}/contacts/{contact}/remove",
            f"{base}/opening-times/new", f"{base}/opening-times/{schedule}",
            f"{base}/opening-times/{schedule}/remove", f"{base}/withdraw"]


def test_anonymous_visitors_are_sent_to_sign_in(app, directory):
    client = app.test_client()
    for path in ["/partner", "/partner/services/new", *page_paths(app, directory)]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/signin?next=")
    token = csrf(client, "/signin")
    counselling = directory.ids["counselling"]
    response = client.post(f"/partner/services/{counselling}/withdraw", data={"csrf_token": token, "reason": "closed"})
    assert response.status_code == 302 and response.headers["Location"].startswith("/signin")
    assert app.test_client().get(f"/services/{counselling}").get_json()["status"] == "active"


def test_another_organisations_staff_get_403_and_change_nothing(app, directory):
    client = signed_in(app, "org_admin", ORG_B)
    token = csrf(client)
    for path in page_paths(app, directory):
        assert client.get(path).status_code == 403, path
        response = client.post(path, data={"csrf_token": token, **listing_form(name="Hijacked"), "reason": "closed",
                                           "address_1": "1 Road", "city": "Town", "postal_code": "TA1 1AA",
                                           "phone": "01632 960999", "byday": "MO", "opens_at": "09:00",
                                           "closes_at": "10:00"})
        assert response.status_code == 403, path
        assert response.mimetype == "text/html"
    body = app.test_client().get(f"/services/{directory.ids['counselling']}").get_json()
    assert body["name"] == "Taunton counselling service" and body["status"] == "active"
    assert len(body["service_at_locations"]) == 1 and len(body["contacts"]) == 1 and len(body["schedules"]) == 2
    # their own listing list leaves other organisations' out; other roles may not use the pages at all
    listed = client.get("/partner").get_data(as_text=True)
    assert "Safe housing support" in listed and "Taunton counselling service" not in listed
    for role in ("resident", "gp", "adviser"):
        assert signed_in(app, role, ORG_A).get("/partner").status_code == 403


def test_unknown_listings_and_parts_are_404(app, directory):
    client = signed_in(app, "org_admin", ORG_A)
    counselling = directory.ids["counselling"]
    for path in (f"/partner/services/{uuid.uuid4()}", "/partner/services/not-an-id",
                 f"/partner/services/{counselling}/locations/{uuid.uuid4()}",
                 f"/partner/services/{counselling}/contacts/{uuid.uuid4()}/remove",
                 f"/partner/services/{counselling}/pets/new"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "text/html"


def test_form_posts_without_the_csrf_token_are_refused(app, directory):
    client = signed_in(app, "org_admin", ORG_A)
    response = client.post(f"/partner/services/{directory.ids['counselling']}", data=listing_form(name="Forged"))
    assert response.status_code == 400
    assert app.test_client().get(f"/services/{directory.ids['counselling']}").get_json()["name"] != "Forged"


def test_a_head_request_only_reads_a_page_and_changes_nothing(app, directory):
    """Flask answers HEAD with the GET view, and the CSRF check lets HEAD by as safe: a page that
    wrote on anything but GET removed a contact, with no form and no token."""
    client = signed_in(app, "org_admin", ORG_A)
    counselling = directory.ids["counselling"]
    api = app.test_client()
    before = api.get(f"/services/{counselling}").get_json()
    for path in ["/partner/services/new", *page_paths(app, directory)]:
        assert client.head(path).status_code == 200, path
    assert api.get(f"/services/{counselling}").get_json() == before
    assert [kind for kind, _aggregate, _payload in outbox(app) if kind != "directory.service.published"] == []


def test_a_page_edit_leaves_the_metadata_trail_and_the_outbox_event(both_databases):
    app, directory = both_databases
    client = signed_in(app, "org_admin", ORG_A, subject="ada-at-org-a")
    counselling = directory.ids["counselling"]
    token = csrf(client, f"/partner/services/{counselling}")
    before = len(outbox(app))
    form = listing_form(name="Taunton talking therapies", taxonomy_term_ids=[directory.terms["counselling"]],
                        maximum_age="65", csrf_token=token, assure="1")
    response = client.post(f"/partner/services/{counselling}", data=form)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/partner/services/{counselling}?done=saved-checked"  # assure="1"
    assert "Your changes were saved." in client.get(response.headers["Location"]).get_data(as_text=True)

    changes = trail(app, counselling)
    assert ("update", "name", "Taunton counselling service", "Taunton talking therapies", "ada-at-org-a") in changes
    assert ("update", "maximum_age", "", "65", "ada-at-org-a") in changes
    listed_before = " ".join(sorted(str(directory.terms[c]) for c in ("counselling", "mental-health")))
    assert ("update", "taxonomy_term_ids", listed_before, str(directory.terms["counselling"]),
            "ada-at-org-a") in changes  # mental-health dropped
    assert not any(field == "delivery_modes" for _a, field, *_ in changes)  # unchanged lists are not sent
    assert any(action == "assure" for action, *_ in changes)
    events = outbox(app)[before:]
    assert [(kind, aggregate) for kind, aggregate, _ in events] == [
        ("directory.service.updated", counselling), ("directory.service.updated", counselling)]
    assert set(events[0][2]["data"]["changed"]) == {"name", "description", "maximum_age", "taxonomy_term_ids"}
    assert events[1][2]["data"]["changed"] == ["assured_date"]
    published = app.test_client()
    assert published.get("/services?search=talking therapies").get_json()["contents"][0]["id"] == counselling
    body = published.get(f"/services/{counselling}").get_json()
    assert [a["taxonomy_term"]["code"] for a in body["attributes"]] == ["counselling"]
    assert body["assured_date"] and body["maximum_age"] == 65

    # a part's page is a write of the same kind: an opening time added
    before = len(outbox(app))
    added = client.post(f"/partner/services/{counselling}/opening-times/new",
                        data={"csrf_token": token, "byday": "FR", "opens_at": "9.30", "closes_at": "12:00"})
    assert added.status_code == 303
    friday = [s for s in published.get(f"/services/{counselling}").get_json()["schedules"] if s["byday"] == "FR"]
    new_lines = set(trail(app, counselling)) - set(changes)
    assert new_lines == {("create", f"schedules/{friday[0]['id']}", "", "FR, 09:30, 12:00", "ada-at-org-a")}
    (event,) = outbox(app)[before:]
    assert event[0] == "directory.service.updated" and event[2]["data"]["changed"] == ["schedules"]
    times = [(s["byday"], s["opens_at"]) for s in published.get(f"/services/{counselling}").get_json()["schedules"]]
    assert times == [("MO", "09:00"), ("WE", "09:00"), ("FR", "09:30")]


def test_mistakes_are_shown_beside_each_field_and_nothing_is_saved(app, directory):
    client = signed_in(app, "org_admin", ORG_A)
    counselling = directory.ids["counselling"]
    token = csrf(client)
    before = len(outbox(app))
    response = client.post(f"/partner/services/{counselling}", data={
        **listing_form(name="X", minimum_age="40", maximum_age="20", is_free="no", delivery_modes=[]),
        "csrf_token": token})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "<title>Error: " in html
    for field in ("name", "taxonomy_term_ids", "maximum_age", "fees", "delivery_modes"):
        assert f'<a href="#{field}">' in html, field  # in the summary, linked to the field
        assert f'id="{field}-error"' in html, field  # and beside it
    response = client.post(f"/partner/services/{counselling}/opening-times/new",
                           data={"csrf_token": token, "byday": "", "opens_at": "17:00", "closes_at": "9am"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Select at least one day." in html and "Enter the closing time as a 24-hour time, like 17:30." in html
    response = client.post(f"/partner/services/{counselling}/locations/new",
                           data={"csrf_token": token, "address_1": "1 Quay", "city": "Bristol",
                                 "postal_code": "BS1 4DJ"})
    assert response.status_code == 400 and "We do not know the postcode BS1 4DJ" in response.get_data(as_text=True)
    response = client.post(f"/partner/services/{counselling}/contacts/new",
                           data={"csrf_token": token, "name": "Desk", "email": "not-an-address"})
    assert response.status_code == 400 and "like name@example.com" in response.get_data(as_text=True)
    assert len(outbox(app)) == before
    assert app.test_client().get(f"/services/{counselling}").get_json()["name"] == "Taunton counselling service"


def test_locations_keep_their_ids_confidential_ones_stay_unpublished_and_removed_ones_are_deleted(both_databases):
    app, directory = both_databases
    client = signed_in(app, "org_admin", ORG_A)
    debt = directory.ids["debt"]
    token = csrf(client)
    api = app.test_client()
    (original,) = [sal["location"] for sal in api.get(f"/services/{debt}").get_json()["service_at_locations"]]
    changed = client.post(f"/partner/services/{debt}/locations/{original['id']}", data={
        "csrf_token": token, "name": "Advice hub", "address_1": "2 Eastover", "city": "Bridgwater",
        "postal_code": "ta6 3bb", "confidential": "1"})
    assert changed.status_code == 303 and changed.headers["Location"].endswith("?done=changed&part=locations")
    (location,) = [sal["location"] for sal in api.get(f"/services/{debt}").get_json()["service_at_locations"]]
    assert location["id"] == original["id"]  # changed in place
    assert "addresses" not in location and "latitude" not in location  # confidential: never published
    assert "2 Eastover" not in api.get(f"/find/services/{debt}").get_data(as_text=True)
    with app.extensions["worklink"].database.sessions() as session:
        stored = session.get(Location, uuid.UUID(original["id"]))
        assert (stored.address_1, stored.postal_code, stored.confidential) == ("2 Eastover", "TA6 3BB", True)
        assert (stored.latitude, stored.longitude) == (51.1280, -3.0030)  # geocoded, kept for staff only
    page = client.get(f"/partner/services/{debt}").get_data(as_text=True)
    assert "2 Eastover" in page and "The address is never published." in page

    assert client.get(f"/partner/services/{debt}/locations/{original['id']}/remove").status_code == 200
    removed = client.post(f"/partner/services/{debt}/locations/{original['id']}/remove", data={
        "csrf_token": token, "remove_confidential_places": "yes"})  # as its page posts (test_confidential_removal.py)
    assert removed.status_code == 303
    assert api.get(f"/services/{debt}").get_json().get("service_at_locations", []) == []
    with app.extensions["worklink"].database.sessions() as session:
        assert session.get(Location, uuid.UUID(original["id"])) is None  # not left behind


def test_contacts_and_opening_times_changed_on_their_pages_keep_their_ids(both_databases):
    app, directory = both_databases
    client = signed_in(app, "org_admin", ORG_A, subject="ada-at-org-a")
    counselling = directory.ids["counselling"]
    token = csrf(client)
    api = app.test_client()
    before = api.get(f"/services/{counselling}").get_json()
    (contact,) = before["contacts"]
    monday = next(s for s in before["schedules"] if s["byday"] == "MO")
    trail_before = trail(app, counselling)
    assert client.post(f"/partner/services/{counselling}/contacts/{contact['id']}", data={
        "csrf_token": token, "name": "Advice line", "phone": "01632 960002",
        "email": "talk@org-a.example.org"}).status_code == 303
    assert client.post(f"/partner/services/{counselling}/opening-times/{monday['id']}", data={
        "csrf_token": token, "byday": "MO", "opens_at": "08:30", "closes_at": "17:00"}).status_code == 303
    after = api.get(f"/services/{counselling}").get_json()
    assert [(c["id"], c["phones"][0]["id"], c["phones"][0]["number"], c["email"]) for c in after["contacts"]] == [
        (contact["id"], contact["phones"][0]["id"], "01632 960002", "talk@org-a.example.org")]
    assert sorted((s["id"], s["byday"], s["opens_at"]) for s in after["schedules"]) == sorted(
        (s["id"], s["byday"], "08:30" if s["byday"] == "MO" else s["opens_at"]) for s in before["schedules"])
    phone_id = contact["phones"][0]["id"]
    assert trail(app, counselling) - trail_before == {
        ("update", f"contacts/{contact['id']}/email", "", "talk@org-a.example.org", "ada-at-org-a"),
        ("update", f"contacts/{contact['id']}/phones/{phone_id}/number", "01632 960001", "01632 960002",
         "ada-at-org-a"),
        ("update", f"schedules/{monday['id']}/opens_at", "09:00", "08:30", "ada-at-org-a")}

    # A second number: added beside the first (which keeps its id), checked like the first.
    page = f"/partner/services/{counselling}/contacts/{contact['id']}"
    form = {"csrf_token": token, "name": "Advice line", "phone": "01632 960002", "email": "talk@org-a.example.org"}
    wrong = client.post(page, data={**form, "phone_2": "call us"})
    assert wrong.status_code == 400 and 'id="phone_2-error"' in wrong.get_data(as_text=True)
    assert client.post(page, data={**form, "phone_2": "01632 960777"}).status_code == 303
    (phones,) = [c["phones"] for c in api.get(f"/services/{counselling}").get_json()["contacts"]]
    assert [p["number"] for p in phones] == ["01632 960002", "01632 960777"] and phones[0]["id"] == phone_id
    assert 'value="01632 960777"' in client.get(page).get_data(as_text=True)


def test_alliance_admin_adds_a_listing_for_a_chosen_organisation(app, directory):
    client = signed_in(app, "alliance_admin")
    token = csrf(client, "/partner/services/new")
    form = {**listing_form(name="Carers' wellbeing group", taxonomy_term_ids=[directory.terms["carers"]]),
            "csrf_token": token}
    missing = client.post("/partner/services/new", data=form)
    assert missing.status_code == 400
    assert "Select the organisation that runs the service." in missing.get_data(as_text=True)
    created = client.post("/partner/services/new", data={**form, "organization_id": str(ORG_B)})
    assert created.status_code == 303
    service_id = created.headers["Location"].split("/")[3].split("?")[0]
    body = app.test_client().get(f"/services/{service_id}").get_json()
    assert body["organization_id"] == str(ORG_B) and body["name"] == "Carers' wellbeing group"
    assert ("directory.service.published", service_id) in [(k, a) for k, a, _ in outbox(app)]
    assert ("create", "*", "", "Carers' wellbeing group", "ada") in trail(app, service_id)
    # an org_admin publishes only for their own organisation, whatever the form says
    own = signed_in(app, "org_admin", ORG_A)
    made = own.post("/partner/services/new", data={**form, "csrf_token": csrf(own), "organization_id": str(ORG_B)})
    with app.extensions["worklink"].database.sessions() as session:
        svc = session.get(Service, uuid.UUID(made.headers["Location"].split("/")[3].split("?")[0]))
        assert svc.organization_id == ORG_A


@pytest.mark.parametrize("reason", ["", "bored"])
def test_withdrawing_needs_a_reason_from_the_list(app, directory, reason):
    client = signed_in(app, "org_admin", ORG_A)
    debt = directory.ids["debt"]
    response = client.post(f"/partner/services/{debt}/withdraw", data={"csrf_token": csrf(client), "reason": reason})
    assert response.status_code == 400
    assert "Select why you are withdrawing this listing." in response.get_data(as_text=True)
    assert app.test_client().get(f"/services/{debt}").get_json()["status"] == "active"


def test_a_withdrawn_listing_can_no_longer_be_changed(app, directory):
    client = signed_in(app, "org_admin", ORG_A)
    debt, token = directory.ids["debt"], csrf(client)
    withdrawn = client.post(f"/partner/services/{debt}/withdraw", data={"csrf_token": token, "reason": "moved"})
    assert withdrawn.status_code == 303 and withdrawn.headers["Location"] == f"/partner?withdrawn={debt}"
    listing = client.get(withdrawn.headers["Location"]).get_data(as_text=True)
    assert "Debt and money advice, Bridgwater was withdrawn." in listing
    assert f'href="/partner/services/{debt}"' not in listing
    (event,) = [p for kind, aggregate, p in outbox(app) if kind == "directory.service.withdrawn"]
    assert event["data"]["reason"] == "moved" and event["data"]["service_id"] == debt
    assert "can no longer be changed" in client.get(f"/partner/services/{debt}").get_data(as_text=True)
    assert client.post(f"/partner/services/{debt}", data={**listing_form(), "csrf_token": token}).status_code == 409
    assert client.get(f"/partner/services/{debt}/contacts/new").status_code == 409


def test_a_location_shared_with_another_listing_says_so_and_outlives_its_removal_from_one(app, directory):
    admin = {"Authorization": "Bearer " + mint_token(app.extensions["worklink"].settings.jwt, role="alliance_admin")}
    api = app.test_client()
    counselling, cafe = directory.ids["counselling"], directory.ids["cafe"]
    shared = api.get(f"/services/{counselling}").get_json()["service_at_locations"][0]["location"]
    cafe_location = api.get(f"/services/{cafe}").get_json()["service_at_locations"][0]["location"]
    moved = api.patch(f"/manage/services/{cafe}", headers=admin, json={"locations": [
        {"id": shared["id"], "name": shared["name"], "address_1": "1 High Street", "city": "Taunton",
         "postal_code": "TA1 1AA"}]})
    assert moved.status_code == 200, moved.get_json()
    client = signed_in(app, "org_admin", ORG_A)
    page = client.get(f"/partner/services/{counselling}/locations/{shared['id']}").get_data(as_text=True)
    assert "1 other listing is offered at this location too." in page
    assert "other listing" not in client.get(f"/partner/services/{counselling}/locations/new").get_data(as_text=True)
    removed = client.post(f"/partner/services/{counselling}/locations/{shared['id']}/remove",
                          data={"csrf_token": csrf(client)})
    assert removed.status_code == 303
    with app.extensions["worklink"].database.sessions() as session:
        assert session.get(Location, uuid.UUID(shared["id"])) is not None  # the cafe is still offered there
        assert session.get(Location, uuid.UUID(cafe_location["id"])) is None  # the cafe's old one was dropped
    assert api.get(f"/services/{cafe}").get_json()["service_at_locations"][0]["location"]["id"] == shared["id"]


def test_the_listings_page_pages_through_every_listing(app, directory):
    admin = {"Authorization": "Bearer " + mint_token(app.extensions["worklink"].settings.jwt, role="alliance_admin")}
    api = app.test_client()
    for number in range(50):  # 6 + 50 listings: two pages for the alliance admin
        body = {"organization_id": str(ORG_A), "name": f"Listing {number:02d}", "delivery_modes": ["online"]}
        assert api.post("/manage/services", json=body, headers=admin).status_code == 201
    client = signed_in(app, "alliance_admin")
    first, second = client.get("/partner").get_data(as_text=True), client.get("/partner?page=2").get_data(as_text=True)
    assert "(56, page 1 of 2)" in first and 'href="/partner?page=2"' in first
    names = lambda html: set(re.findall(r'<a href="/partner/services/[0-9a-f-]{36}">([^<]+)</a>', html))  # noqa: E731
    assert len(names(first)) == 50 and len(names(second)) == 6 and not names(first) & names(second)
    assert client.get("/partner?page=3").status_code == 404
    own = signed_in(app, "org_admin", ORG_B).get("/partner").get_data(as_text=True)
    assert "(1)" in own and "Next" not in own  # Safe Homes Somerset has one listing


def test_staff_of_an_organisation_not_in_the_directory_cannot_add_listings(app, directory):
    response = signed_in(app, "org_admin", uuid.uuid4()).get("/partner/services/new")
    assert response.status_code == 403 and "Ask an alliance administrator" in response.get_data(as_text=True)


def test_an_opening_time_past_midnight_says_how_to_enter_it(app, directory):
    """A night shelter open Friday 20:00 to 08:00, or a cafe open until midnight: the page said only "The closing
    time must be later than the opening time." (24:00, that it is "not a 24-hour time"), leaving no way to enter
    it. It now says how - two opening times either side of midnight, 23:59 for midnight - and that entry is kept."""
    client = signed_in(app, "org_admin", ORG_A)
    cafe = directory.ids["cafe"]
    path = f"/partner/services/{cafe}/opening-times/new"

    def add(byday: str, opens: str, closes: str):
        return client.post(path, data={"byday": byday, "opens_at": opens, "closes_at": closes,
                                       "csrf_token": csrf(client, path)})

    def closing_error(response) -> str:
        assert response.status_code == 400
        found = re.search(r'id="closes_at-error"><span class="nhsuk-u-visually-hidden">Error:</span> ([^<]*)<',
                          response.get_data(as_text=True))
        return found.group(1).replace("&#34;", '"').replace("&#39;", "'")

    assert closing_error(add("FR", "20:00", "08:00")) == (
        "The closing time must be later than the opening time. If it is open past midnight, add two opening times: "
        "Friday 20:00 to 23:59, then Saturday 00:00 to 08:00.")
    assert "then Monday 00:00 to 02:00" in closing_error(add("SU", "19:00", "2:00"))  # the week goes round
    assert closing_error(add("FR", "18:00", "00:00")) == "For midnight, enter 23:59."
    assert closing_error(add("FR", "18:00", "24:00")) == "For midnight, enter 23:59."
    assert closing_error(add("FR", "12:00", "12:00")) == "The closing time must be later than the opening time."

    assert add("FR", "20:00", "23:59").status_code == 303 and add("SA", "00:00", "08:00").status_code == 303
    schedules = app.test_client().get(f"/services/{cafe}").get_json()["schedules"]
    assert [(s["byday"], s["opens_at"], s["closes_at"]) for s in schedules] == [
        ("FR", "20:00", "23:59"), ("SA", "00:00", "08:00"), ("SA", "10:00", "14:00")]


def test_opening_times_for_several_days_are_added_at_once_and_none_twice(app, directory):
    """Monday to Friday 9 to 5 is one form with the days ticked (it took five), each day its own ORUK opening
    time; a day that has those times already is refused (a second click on Add listed them twice)."""
    client = signed_in(app, "org_admin", ORG_A)
    counselling = directory.ids["counselling"]  # Monday and Wednesday 09:00 to 17:00
    path = f"/partner/services/{counselling}/opening-times/new"
    page = client.get(path).get_data(as_text=True)
    assert re.search(r'<legend[^>]*>Days</legend>', page) and 'id="byday" name="byday" type="checkbox" value="MO"' in page

    def add(days, opens="09:00", closes="17:00"):
        return client.post(path, data={"byday": days, "opens_at": opens, "closes_at": closes,
                                       "csrf_token": csrf(client, path)})

    def times():
        schedules = app.test_client().get(f"/services/{counselling}").get_json()["schedules"]
        return [(s["byday"], s["opens_at"], s["closes_at"]) for s in schedules]

    refused = add(["MO", "TU", "WE", "TH", "FR"])
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert '<a href="#byday">The listing already has Monday and Wednesday 09:00 to 17:00.</a>' in html
    assert len(re.findall(r'type="checkbox" value="(?:MO|TU|WE|TH|FR)" checked', html)) == 5  # the ticks are kept
    assert times() == [("MO", "09:00", "17:00"), ("WE", "09:00", "17:00")]

    added = add(["FR", "TU", "TH"])
    assert added.status_code == 303 and "done=added-several" in added.headers["Location"]
    assert "The opening times were added." in client.get(added.headers["Location"]).get_data(as_text=True)
    assert times() == [(day, "09:00", "17:00") for day in ("MO", "TU", "WE", "TH", "FR")]
    assert add(["SA"], "10:00", "13:00").status_code == 303 and ("SA", "10:00", "13:00") in times()
    assert add(["SA"], "10:00", "13:00").status_code == 400  # clicked twice
    assert add([]).status_code == 400 and add(["XX"]).status_code == 400
    assert len(times()) == 6
