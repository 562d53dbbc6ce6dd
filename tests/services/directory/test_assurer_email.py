"""Who the open feed names for a listing's last check (ORUK `assurer_email`).

It used to default to the signed-in partner's login e-mail (the token's `email` claim): a staff member's own
work address published on the open feed, which anyone may read without signing in, without their choice. Now
it is the address the partner gives, else the listing's own public e-mail, else its organisation's - never the
login. Rows stored before stay as they are; the partner's page names the address it publishes, so they can
replace it by checking the listing again."""

from __future__ import annotations

import uuid

from tests.browser import sealed
from tests.services.directory.conftest import ORG_A, service_body, token_for
from tests.services.directory.test_partner_pages import csrf, listing_form
from worklink.auth import mint_token
from worklink.web.pages import SESSION_COOKIE
from worklink_directory.models import Service

LOGIN = "lee.personal@org-a.example.org"
ORG_C = uuid.UUID("0b3c6c86-0000-4000-8000-00000000000c")


def partner(app, org: uuid.UUID = ORG_A):
    """A page client signed in as an org_admin whose token carries their own login e-mail."""
    client = app.test_client()
    token = mint_token(app.extensions["worklink"].settings.jwt, role="org_admin", org=str(org), subject="lee",
                       email=LOGIN)
    client.set_cookie(SESSION_COOKIE, sealed(app, token))
    return client


def published(app, service_id: str) -> dict:
    return app.test_client().get(f"/services/{service_id}").get_json()


def assure(app, service_id: str, **body) -> dict:
    response = app.test_client().post(f"/manage/services/{service_id}/assure", json=body,
                                      headers=token_for(app, "org_admin", ORG_A, subject="lee", email=LOGIN))
    assert response.status_code == 200
    return response.get_json()


def test_the_api_publishes_the_listings_address_never_the_login(app, directory):
    debt = directory.ids["debt"]
    owner = token_for(app, "org_admin", ORG_A)
    assert app.test_client().patch(f"/manage/services/{debt}", headers=owner,
                                   json={"email": "advice@org-a.example.org"}).status_code == 200
    assert assure(app, debt)["assurer_email"] == "advice@org-a.example.org"
    assert published(app, debt)["assurer_email"] == "advice@org-a.example.org"
    feed = app.test_client().get("/services?per_page=100").get_data(as_text=True)
    assert LOGIN not in feed and LOGIN not in app.test_client().get(f"/services/{debt}").get_data(as_text=True)
    # an address given is the one published
    assert assure(app, debt, assurer_email="listings@org-a.example.org")["assurer_email"] == \
        "listings@org-a.example.org"


def test_the_api_falls_back_to_the_organisations_address_else_none(app, directory):
    admin = token_for(app, "alliance_admin")
    client = app.test_client()
    assert client.post("/manage/organizations", headers=admin, json={
        "id": str(ORG_C), "name": "Somerset Skills", "description": "Skills.",
        "email": "hello@skills.example.org"}).status_code == 201
    created = client.post("/manage/services", headers=admin, json=service_body(ORG_C, "Skills club", ["skills"]))
    skills = created.get_json()["id"]
    body = client.post(f"/manage/services/{skills}/assure", json={}, headers=token_for(
        app, "org_admin", ORG_C, email=LOGIN)).get_json()
    assert body["assurer_email"] == "hello@skills.example.org"
    # neither the listing nor its organisation publishes an address: none, not the login
    assert "assurer_email" not in assure(app, directory.ids["cafe"])


def test_the_partner_page_publishes_the_address_given_else_the_listings(app, directory):
    counselling = directory.ids["counselling"]
    client, terms = partner(app), [directory.terms["counselling"]]
    token = csrf(client, f"/partner/services/{counselling}")
    page = client.get(f"/partner/services/{counselling}").get_data(as_text=True)
    assert "Email address for questions about this check (optional)" in page
    assert "If you leave it empty, we publish no address." in page

    saved = client.post(f"/partner/services/{counselling}", data=listing_form(
        taxonomy_term_ids=terms, csrf_token=token, assure="1", email="counselling@org-a.example.org"))
    assert saved.status_code == 303
    assert published(app, counselling)["assurer_email"] == "counselling@org-a.example.org"
    page = client.get(f"/partner/services/{counselling}").get_data(as_text=True)
    assert "The open data feed gives counselling@org-a.example.org as the address to ask about that check." in page
    assert "we publish the listing&#39;s email address, counselling@org-a.example.org." in page

    saved = client.post(f"/partner/services/{counselling}", data=listing_form(
        taxonomy_term_ids=terms, csrf_token=token, assure="1", email="counselling@org-a.example.org",
        assurer_email="team@org-a.example.org"))
    assert saved.status_code == 303
    assert published(app, counselling)["assurer_email"] == "team@org-a.example.org"
    assert LOGIN not in app.test_client().get("/services?per_page=100").get_data(as_text=True)


def test_the_partner_page_refuses_a_bad_address_or_one_without_the_tick(app, directory):
    counselling = directory.ids["counselling"]
    client, terms = partner(app), [directory.terms["counselling"]]
    token = csrf(client, f"/partner/services/{counselling}")
    bad = client.post(f"/partner/services/{counselling}", data=listing_form(
        taxonomy_term_ids=terms, csrf_token=token, assure="1", assurer_email="not an address"))
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400
    assert '<a href="#assurer_email">Enter an email address like name@example.org</a>' in html
    assert 'value="not an address"' in html  # what was typed is kept
    unticked = client.post(f"/partner/services/{counselling}", data=listing_form(
        taxonomy_term_ids=terms, csrf_token=token, assurer_email="team@org-a.example.org"))
    assert unticked.status_code == 400
    assert '<a href="#assure">Tick this box if you have checked the listing today' in unticked.get_data(as_text=True)
    assert "assured_date" not in published(app, counselling)


def test_an_address_published_before_is_left_until_the_listing_is_checked_again(app, directory):
    """Rows assured before this change may hold a login; they are not rewritten (nobody can tell a login from a
    shared address), but the page names it, and the next check replaces it."""
    debt = directory.ids["debt"]
    with app.extensions["worklink"].database.transaction() as session:
        session.get(Service, uuid.UUID(debt)).assurer_email = LOGIN
    client = partner(app)
    page = client.get(f"/partner/services/{debt}").get_data(as_text=True)
    assert f"The open data feed gives {LOGIN} as the address to ask about that check." in page
    assert "assurer_email" not in assure(app, debt)  # checked again: the listing publishes no address
