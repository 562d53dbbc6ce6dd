"""An add form sent twice (a double click without JavaScript, a slow page clicked again, two tabs) adds once.

Each add form carries its own id, which what it adds is given: the second send finds the first's listing, contact,
location or opening times and says so, instead of publishing a second copy residents would read twice."""

from __future__ import annotations

import re
import uuid

import pytest
import sqlalchemy as sa

from tests.services.directory.conftest import ORG_A, ORG_B, build_directory, make_app
from tests.services.directory.test_partner_pages import listing_form, outbox, signed_in
from tests.apps import disposed_after
from worklink_directory.models import Service
from worklink_directory.pages import partner


@pytest.fixture()
def both_databases(database_url, tmp_path):
    """The app and the known directory on SQLite and on PostgreSQL (concurrent sends differ between them)."""
    for app in disposed_after(make_app(database_url, tmp_path)):
        yield app, build_directory(app)


def form_fields(html: str) -> dict[str, str]:
    """The form's CSRF token and form id, as a browser sends them back."""
    fields = dict(re.findall(r'name="(csrf_token|form_id)" value="([^"]*)"', html))
    assert set(fields) == {"csrf_token", "form_id"}, html
    return fields


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]*)"', html).group(1)


def api_listing(app, service_id: str) -> dict:
    return app.test_client().get(f"/services/{service_id}").get_json()


def listings_named(app, name: str) -> list[str]:
    with app.extensions["worklink"].database.sessions() as session:
        return [str(i) for i in session.scalars(sa.select(Service.id).where(Service.name == name))]


def test_a_new_listing_sent_twice_is_published_once(both_databases):
    app, directory = both_databases
    client = signed_in(app, "org_admin", ORG_A)
    page = client.get("/partner/services/new").get_data(as_text=True)
    assert 'data-prevent-double-click="true"' in page  # with JavaScript, the second click is not sent at all
    form = {**listing_form(name="Chard money advice drop-in", taxonomy_term_ids=[directory.terms["debt"]]),
            **form_fields(page)}

    first, second = client.post("/partner/services/new", data=form), client.post("/partner/services/new", data=form)
    (made,) = listings_named(app, "Chard money advice drop-in")
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == f"/partner/services/{made}?done=created"
    assert second.headers["Location"] == f"/partner/services/{made}?done=created-again"
    assert "This form had already published the listing" in client.get(second.headers["Location"]).get_data(
        as_text=True)
    assert [aggregate for kind, aggregate, _ in outbox(app) if kind == "directory.service.published"].count(made) == 1


def test_a_new_listing_form_keeps_its_id_after_a_mistake(app, directory):
    client = signed_in(app, "org_admin", ORG_A)
    sent = form_fields(client.get("/partner/services/new").get_data(as_text=True))
    wrong = client.post("/partner/services/new", data={**listing_form(name="X"), **sent})
    assert wrong.status_code == 400 and form_fields(wrong.get_data(as_text=True))["form_id"] == sent["form_id"]
    form = {**listing_form(name="Chard money advice drop-in", taxonomy_term_ids=[directory.terms["debt"]]), **sent}
    assert client.post("/partner/services/new", data=form).headers["Location"].endswith("?done=created")
    assert client.post("/partner/services/new", data=form).headers["Location"].endswith("?done=created-again")
    assert listings_named(app, "Chard money advice drop-in") == [sent["form_id"]]


def test_two_sends_of_a_new_listing_at_the_same_moment_end_on_the_one_listing(app, directory, monkeypatch):
    """PostgreSQL: both sends find no listing yet, and the second insert fails on the first's id - it is the same
    listing, not an error page."""
    client = signed_in(app, "org_admin", ORG_A)
    form = {**listing_form(name="Chard money advice drop-in", taxonomy_term_ids=[directory.terms["debt"]]),
            **form_fields(client.get("/partner/services/new").get_data(as_text=True))}
    assert client.post("/partner/services/new", data=form).status_code == 303
    looked_up = []

    def not_yet_seen(session, listing_id):  # as the second send saw it: before the first committed
        looked_up.append(listing_id)
        return None if len(looked_up) == 1 else real(session, listing_id)

    real = partner._listing_made_by_this_form
    monkeypatch.setattr(partner, "_listing_made_by_this_form", not_yet_seen)
    again = client.post("/partner/services/new", data=form)
    assert again.status_code == 303 and again.headers["Location"].endswith(f"{form['form_id']}?done=created-again")
    assert len(looked_up) == 2 and listings_named(app, "Chard money advice drop-in") == [form["form_id"]]


def test_a_new_listing_form_naming_another_organisations_listing_changes_nothing(app, directory):
    client = signed_in(app, "org_admin", ORG_A)
    form = {**listing_form(name="Chard money advice drop-in", taxonomy_term_ids=[directory.terms["debt"]]),
            **form_fields(client.get("/partner/services/new").get_data(as_text=True)),
            "form_id": directory.ids["refuge"]}  # Safe Homes Somerset's listing
    assert client.post("/partner/services/new", data=form).status_code == 403
    assert listings_named(app, "Chard money advice drop-in") == []


PARTS = {
    "contacts": {"name": "Evening line", "phone": "01632 960123"},
    "locations": {"name": "Taunton library", "address_1": "Paul Street", "city": "Taunton",
                  "postal_code": "TA1 1AA"},
    "opening-times": {"byday": ["TU", "TH"], "opens_at": "18:00", "closes_at": "20:00"},
}


def shown(app, service_id: str, slug: str) -> list:
    listing = api_listing(app, service_id)
    if slug == "contacts":
        return [(c["name"], [p["number"] for p in c.get("phones", [])]) for c in listing["contacts"]]
    if slug == "locations":
        return [sal["location"].get("name") for sal in listing["service_at_locations"]]
    return [(s["byday"], s["opens_at"]) for s in listing["schedules"]]


@pytest.mark.parametrize("slug", list(PARTS))
def test_a_contact_location_or_opening_time_sent_twice_is_added_once(both_databases, slug):
    app, directory = both_databases
    client = signed_in(app, "org_admin", ORG_A)
    counselling = directory.ids["counselling"]
    path = f"/partner/services/{counselling}/{slug}/new"
    page = client.get(path).get_data(as_text=True)
    assert 'data-prevent-double-click="true"' in page
    form = {**PARTS[slug], **form_fields(page)}
    before = shown(app, counselling, slug)

    first, second = client.post(path, data=form), client.post(path, data=form)
    assert first.status_code == second.status_code == 303
    assert "done=added" in first.headers["Location"] and "again" not in first.headers["Location"]
    assert second.headers["Location"] == f"/partner/services/{counselling}?done=added-again&part={slug}"
    noun = partner.PARTS[slug].noun
    assert f"{noun.capitalize()} already added" in client.get(second.headers["Location"]).get_data(as_text=True)
    added = [item for item in shown(app, counselling, slug) if item not in before]
    assert len(added) == (2 if slug == "opening-times" else 1), added  # Tuesday and Thursday, once each

    another = {**PARTS[slug], **form_fields(client.get(path).get_data(as_text=True))}  # a new form adds again
    if slug == "opening-times":
        another["byday"] = ["FR"]
    assert "again" not in client.post(path, data=another).headers["Location"]
    assert len(shown(app, counselling, slug)) == len(before) + len(added) + 1


def test_an_add_form_shown_again_keeps_its_id(app, directory):
    """After a mistake the page is shown again with the same form id, so its corrected send then adds once."""
    client = signed_in(app, "org_admin", ORG_A)
    counselling = directory.ids["counselling"]
    path = f"/partner/services/{counselling}/contacts/new"
    sent = form_fields(client.get(path).get_data(as_text=True))
    wrong = client.post(path, data={**sent, "name": "", "phone": "01632 960123"})
    assert wrong.status_code == 400 and form_fields(wrong.get_data(as_text=True)) == sent
    form = {**sent, "name": "Evening line", "phone": "01632 960123"}
    assert client.post(path, data=form).headers["Location"].endswith("done=added&part=contacts")
    assert client.post(path, data=form).headers["Location"].endswith("done=added-again&part=contacts")
    assert [c["id"] for c in api_listing(app, counselling)["contacts"]].count(sent["form_id"]) == 1


def test_a_form_id_naming_another_listings_item_adds_a_new_one(app, directory):
    """A forged form id that is another listing's contact neither moves nor changes it: the contact is added as new."""
    client = signed_in(app, "org_admin", ORG_A)
    counselling, debt = directory.ids["counselling"], directory.ids["debt"]
    (debt_contact,) = api_listing(app, debt)["contacts"]
    path = f"/partner/services/{counselling}/contacts/new"
    form = {**form_fields(client.get(path).get_data(as_text=True)), "form_id": debt_contact["id"],
            "name": "Evening line", "phone": "01632 960123"}
    assert client.post(path, data=form).headers["Location"].endswith("done=added&part=contacts")
    assert api_listing(app, debt)["contacts"] == [debt_contact]
    ids = [c["id"] for c in api_listing(app, counselling)["contacts"]]
    assert len(ids) == 2 and debt_contact["id"] not in ids and all(uuid.UUID(i) for i in ids)


def test_a_withdrawal_sent_twice_ends_on_the_withdrawn_banner_not_an_error(app, directory):
    """The second send of "Withdraw listing" (a double click on a slow page, the page open in a second tab) finds the
    listing withdrawn by the first: it is what the partner asked for, so it ends where the first did."""
    client = signed_in(app, "org_admin", ORG_A)
    debt = directory.ids["debt"]
    path = f"/partner/services/{debt}/withdraw"
    page = client.get(path).get_data(as_text=True)
    assert 'data-prevent-double-click="true"' in page
    form = {"csrf_token": csrf_of(page), "reason": "closed"}
    first, second = client.post(path, data=form), client.post(path, data={**form, "reason": "moved"})
    assert first.status_code == second.status_code == 303
    assert second.headers["Location"] == first.headers["Location"] == f"/partner?withdrawn={debt}"
    assert "Debt and money advice, Bridgwater was withdrawn." in client.get(second.headers["Location"]).get_data(
        as_text=True)
    assert [payload["data"]["reason"] for kind, aggregate, payload in outbox(app)
            if kind == "directory.service.withdrawn" and aggregate == debt] == ["closed"]  # once, as first asked
    assert client.get(path).status_code == 409  # the page itself: nothing left to withdraw
    other = signed_in(app, "org_admin", ORG_B)  # another organisation's staff: refused, withdrawn or not
    assert other.post(path, data={"csrf_token": csrf_of(other.get("/partner").get_data(as_text=True)),
                                  "reason": "closed"}).status_code == 403
