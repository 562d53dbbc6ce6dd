"""No lost updates: a write made from a stale read is refused instead of silently undoing a colleague's
change - If-Match on the write API (412), a hidden version on the partner details form (409)."""

from __future__ import annotations

import re

from tests.services.directory.conftest import ORG_A, ORG_B, build_directory, make_app, token_for
from tests.services.directory.test_partner_pages import csrf, listing_form, signed_in


def test_a_patch_with_a_stale_if_match_is_refused(database_url, tmp_path):
    app = make_app(database_url, tmp_path)
    counselling = build_directory(app).ids["counselling"]
    client, owner = app.test_client(), token_for(app, "org_admin", ORG_A)
    url = f"/manage/services/{counselling}"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=token_for(app, "org_admin", ORG_B)).status_code == 403
    read = client.get(url, headers=owner)
    assert read.status_code == 200 and read.get_json()["id"] == counselling
    etag = read.headers["ETag"]

    bob = client.patch(url, json={"alert": "Closed 24-26 December."}, headers={**owner, "If-Match": etag})
    assert bob.status_code == 200 and bob.headers["ETag"] != etag
    ada = client.patch(url, json={"description": "Six sessions."}, headers={**owner, "If-Match": etag})
    assert ada.status_code == 412 and ada.mimetype == "application/problem+json"
    assert ada.get_json()["errors"][0]["pointer"] == "/If-Match"
    now = client.get(f"/services/{counselling}").get_json()
    assert now["alert"] == "Closed 24-26 December." and now["description"] != "Six sessions."

    # read again, then the change goes through; W/ and lists of tags are understood; no If-Match: as before
    fresh = client.get(url, headers=owner).headers["ETag"]
    assert fresh == bob.headers["ETag"]
    again = client.patch(url, json={"description": "Six sessions."}, headers={**owner, "If-Match": f'"x", W/{fresh}'})
    assert again.status_code == 200 and again.get_json()["description"] == "Six sessions."
    assert client.patch(url, json={"fees": "None."}, headers=owner).status_code == 200
    assert client.patch(url, json={"fees": "Free."}, headers={**owner, "If-Match": "*"}).status_code == 200


def test_a_stale_details_form_shows_what_changed_instead_of_undoing_it(app):
    known = build_directory(app)
    counselling = known.ids["counselling"]
    path = f"/partner/services/{counselling}"
    ada, bob = signed_in(app, "org_admin", ORG_A, "ada"), signed_in(app, "org_admin", ORG_A, "bob")
    current = listing_form(description="Short-term counselling for anxiety and stress at work.",
                           taxonomy_term_ids=[known.terms["counselling"], known.terms["mental-health"]])

    def version(html: str) -> str:
        return re.search(r'name="version" value="(\d+)"', html).group(1)

    ada_version, ada_token = version(ada.get(path).get_data(as_text=True)), csrf(ada, path)  # Ada opens the form
    bob_version, bob_token = version(bob.get(path).get_data(as_text=True)), csrf(bob, path)
    saved = bob.post(path, data={**current, "alert": "Closed 24-26 December.", "version": bob_version,
                                 "csrf_token": bob_token})
    assert saved.status_code == 303

    # Ada sends the form she opened earlier: a new description, and the notice as it was then (empty)
    stale = ada.post(path, data={**current, "description": "Six sessions.", "version": ada_version,
                                 "csrf_token": ada_token})
    assert stale.status_code == 409
    html = stale.get_data(as_text=True)
    assert "<title>Error: Edit" in html
    assert re.search(r'id="alert-error".*?Saved now: \u201cClosed 24-26 December.\u201d', html, re.S)
    assert re.search(r'id="description-error".*?Saved now: \u201cShort-term counselling', html, re.S)
    assert "Six sessions." in html  # what she typed is kept
    listing = app.test_client().get(f"/services/{counselling}").get_json()
    assert listing["alert"] == "Closed 24-26 December." and listing["description"].startswith("Short-term")

    # having seen it, she keeps the notice and saves again with the version the page now carries
    resent = ada.post(path, data={**current, "description": "Six sessions.", "alert": "Closed 24-26 December.",
                                  "version": version(html), "csrf_token": csrf(ada, path)})
    assert resent.status_code == 303
    listing = app.test_client().get(f"/services/{counselling}").get_json()
    assert (listing["description"], listing["alert"]) == ("Six sessions.", "Closed 24-26 December.")


def test_a_stale_contact_page_shows_what_changed_instead_of_undoing_it(app):
    counselling = build_directory(app).ids["counselling"]
    contact = app.test_client().get(f"/services/{counselling}").get_json()["contacts"][0]["id"]
    path = f"/partner/services/{counselling}/contacts/{contact}"
    ada, bob = signed_in(app, "org_admin", ORG_A, "ada"), signed_in(app, "org_admin", ORG_A, "bob")

    def item_version(html: str) -> str:
        return re.search(r'name="item_version" value="([0-9a-f]+)"', html).group(1)

    ada_version, ada_token = item_version(ada.get(path).get_data(as_text=True)), csrf(ada, path)
    bob_version, bob_token = item_version(bob.get(path).get_data(as_text=True)), csrf(bob, path)
    form = {"name": "Advice line", "title": "", "phone": "01632 960001", "phone_2": "", "email": ""}
    assert bob.post(path, data={**form, "email": "advice@example.org", "item_version": bob_version,
                                "csrf_token": bob_token}).status_code == 303
    stale = ada.post(path, data={**form, "title": "Duty team", "item_version": ada_version, "csrf_token": ada_token})
    assert stale.status_code == 409
    html = stale.get_data(as_text=True)
    assert re.search(r'id="email-error".*?Saved now: \u201cadvice@example.org\u201d', html, re.S)
    assert app.test_client().get(f"/services/{counselling}").get_json()["contacts"][0]["email"] == "advice@example.org"
    resent = ada.post(path, data={**form, "title": "Duty team", "email": "advice@example.org",
                                  "item_version": item_version(html), "csrf_token": csrf(ada, path)})
    assert resent.status_code == 303
    saved = app.test_client().get(f"/services/{counselling}").get_json()["contacts"][0]
    assert (saved["title"], saved["email"]) == ("Duty team", "advice@example.org")


def test_a_stale_location_page_keeps_the_address_a_colleague_made_confidential(app):
    """Bob marks the place confidential while Ada's change page (box unticked) is open: her save is stopped and
    shown again with the box ticked, so saving again keeps the address unpublished (before, the page came back
    unticked - the box was not compared - and saving again published the refuge's address)."""
    cafe = build_directory(app).ids["cafe"]
    place = app.test_client().get(f"/services/{cafe}").get_json()["service_at_locations"][0]["location"]["id"]
    path = f"/partner/services/{cafe}/locations/{place}"
    ada, bob = signed_in(app, "org_admin", ORG_A, "ada"), signed_in(app, "org_admin", ORG_A, "bob")

    def item_version(html: str) -> str:
        return re.search(r'name="item_version" value="([0-9a-f]+)"', html).group(1)

    ada_version, ada_token = item_version(ada.get(path).get_data(as_text=True)), csrf(ada, path)
    bob_version, bob_token = item_version(bob.get(path).get_data(as_text=True)), csrf(bob, path)
    form = {"name": "Taunton centre", "address_1": "1 High Street", "city": "Taunton", "postal_code": "TA1 1AA",
            "accessibility": "Step-free access."}
    assert bob.post(path, data={**form, "confidential": "1", "item_version": bob_version,
                                "csrf_token": bob_token}).status_code == 303

    stale = ada.post(path, data={**form, "item_version": ada_version, "csrf_token": ada_token})  # box unticked
    assert stale.status_code == 409
    html = stale.get_data(as_text=True)
    assert re.search(r'id="confidential-error".*?Someone marked this address confidential while you were editing',
                     html, re.S)
    assert re.search(r'<input[^>]*id="confidential"[^>]*checked', html)
    resent = ada.post(path, data={**form, "confidential": "1", "item_version": item_version(html),
                                  "csrf_token": csrf(ada, path)})  # she saves again as the page now is
    assert resent.status_code == 303
    place = app.test_client().get(f"/services/{cafe}").get_json()["service_at_locations"][0]["location"]
    assert "addresses" not in place and "latitude" not in place
