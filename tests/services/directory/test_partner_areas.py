"""Partner pages: where people need to live (service areas) is editable, checked, and routed on."""

from __future__ import annotations

from tests.services.directory.conftest import ORG_A
from worklink_directory import demo
from tests.services.directory.test_partner_pages import csrf, listing_form as details, outbox, signed_in


TERMS = {code: demo.term_id(code) for code in ("counselling", "mental-health")}


def listing_form(**changes) -> dict:
    return details(taxonomy_term_ids=[TERMS["counselling"], TERMS["mental-health"]], **changes)


def test_partner_sets_changes_and_clears_the_area_of_a_listing(app, directory):
    client = signed_in(app, "org_admin", ORG_A)
    counselling = directory.ids["counselling"]
    path = f"/partner/services/{counselling}"
    token = csrf(client, path)

    response = client.post(path, data=listing_form(csrf_token=token, area_name="Taunton and nearby",
                                                   postcode_districts="ta1, TA2  ta1"))
    assert response.status_code == 303
    [area] = client.get(f"/services/{counselling}").get_json()["service_areas"]
    assert (area["name"], area["x_postcode_districts"]) == ("Taunton and nearby", ["TA1", "TA2"])
    page = client.get(path).get_data(as_text=True)
    assert 'value="Taunton and nearby"' in page and 'value="TA1 TA2"' in page
    [(_type, _key, event)] = outbox(app)[-1:]
    assert event["data"]["area_codes"] == ["TA1", "TA2"] and "service_areas" in event["data"]["changed"]

    before = len(outbox(app))  # saving the form as shown changes nothing, so publishes nothing
    client.post(path, data=listing_form(csrf_token=token, area_name="Taunton and nearby", postcode_districts="TA1 TA2"))
    assert len(outbox(app)) == before

    client.post(path, data=listing_form(csrf_token=token, area_name="", postcode_districts=""))
    assert "service_areas" not in client.get(f"/services/{counselling}").get_json()
    assert outbox(app)[-1][2]["data"]["area_codes"] is None


def test_bad_districts_and_a_missing_name_are_explained_beside_the_fields(app, directory):
    client = signed_in(app, "org_admin", ORG_A)
    path = f"/partner/services/{directory.ids['counselling']}"
    token = csrf(client, path)
    response = client.post(path, data=listing_form(csrf_token=token, area_name="", postcode_districts="TA1 12X"))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Enter postcode districts like TA1 or BS16 (12X is not one)." in page
    assert "Name the area, for example Taunton and nearby." in page
    assert 'href="#postcode_districts"' in page and 'href="#area_name"' in page  # the error summary links
    assert "service_areas" not in app.test_client().get(f"/services/{directory.ids['counselling']}").get_json()


def test_partner_sets_website_email_and_a_temporary_closure_residents_see(app, directory):
    client = signed_in(app, "org_admin", ORG_A)
    counselling = directory.ids["counselling"]
    path = f"/partner/services/{counselling}"
    token = csrf(client, path)
    bad = client.post(path, data=listing_form(csrf_token=token, url="www.example", email="not-an-email",
                                              status="shut"))
    assert bad.status_code == 400
    page = bad.get_data(as_text=True)
    for message in ("Enter the website address in full, like https://www.example.org/",
                    "Enter an email address like name@example.org", "Select whether the service is open."):
        assert message in page

    saved = client.post(path, data=listing_form(csrf_token=token, url="https://counselling.example.org/",
                                                email="hello@counselling.example.org", status="temporarily closed",
                                                alert="Closed until 5 January."))
    assert saved.status_code == 303
    body = client.get(f"/services/{counselling}").get_json()
    assert (body["url"], body["email"], body["status"]) == ("https://counselling.example.org/",
                                                            "hello@counselling.example.org", "temporarily closed")
    resident = app.test_client()
    service_page = resident.get(f"/find/services/{counselling}").get_data(as_text=True)
    assert "Temporarily closed" in service_page and "Closed until 5 January." in service_page
    results = resident.get("/find?q=counselling").get_data(as_text=True)
    assert "Temporarily closed" in results  # still listed, and marked
    assert {"url", "email", "status", "alert"} <= set(outbox(app)[-1][2]["data"]["changed"])


def test_the_area_mistakes_are_listed_in_the_order_the_page_asks(app, directory):
    """The error summary lists mistakes in page order: the area's name comes before its districts (it listed the
    districts first), and two wrong districts "are not" ones."""
    client = signed_in(app, "org_admin", ORG_A)
    path = f"/partner/services/{directory.ids['counselling']}"
    response = client.post(path, data=listing_form(csrf_token=csrf(client, path), area_name="",
                                                   postcode_districts="TA1 XX YY"))
    assert response.status_code == 400
    summary = response.get_data(as_text=True).split('nhsuk-error-summary__list">')[1].split("</ul>")[0]
    assert [link.split('">')[0] for link in summary.split('<a href="#')[1:]] == ["area_name", "postcode_districts"]
    assert "Enter postcode districts like TA1 or BS16 (XX, YY are not)." in summary
