"""A listing not offered for now (ORUK status `inactive`, from a feed, the write API or the details form) is shown as
such on the partner pages, and the details form offers it beside Open and Temporarily closed: before, such a listing
looked like any other on "Your listings", its form answered "Is the service open?" with nothing, and nothing told
the partner that residents could not find it."""

from __future__ import annotations

from html import unescape
import re

from playwright.sync_api import expect

from tests.browser import assert_accessible, live_server, sign_in, submit
from tests.services.directory.conftest import ORG_A, token_for
from tests.services.directory.test_partner_pages import csrf, outbox, signed_in
from worklink.auth import mint_token

NOT_OFFERED = "Residents cannot find this listing, and no referrals are sent to it."


def made_inactive(app, service_id: str) -> None:
    """As a partner's feed or system says it (the write API; an import does the same)."""
    response = app.test_client().patch(f"/manage/services/{service_id}", json={"status": "inactive"},
                                       headers=token_for(app, "org_admin", ORG_A))
    assert response.status_code == 200


def details_form(html: str) -> dict:
    """The details form as the page shows it (text, the checked radios and boxes), as a browser sends it back."""
    form = html.split('<form method="post" action="/partner/services/')[1].split("</form>")[0]
    data: dict = {}
    for tag in re.findall(r"<input[^>]*>", form):
        name, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
        if name and (not re.search(r'type="(radio|checkbox)"', tag) or " checked" in tag):
            data.setdefault(name.group(1), []).append(unescape(value.group(1)) if value else "")
    for name, text in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>([^<]*)</textarea>', form):
        data[name] = [unescape(text)]
    return data


def test_a_listing_not_offered_says_so_on_the_partner_pages(app, directory):
    cafe = directory.ids["cafe"]
    made_inactive(app, cafe)
    client = signed_in(app, "org_admin", ORG_A)
    listings = client.get("/partner").get_data(as_text=True)
    row = next(r for r in listings.split("<tr") if "Wellbeing cafe, Taunton" in r)
    assert "Not offered for now" in row
    assert all("Not offered for now" not in r for r in listings.split("<tr") if "Debt and money advice" in r)
    page = client.get(f"/partner/services/{cafe}").get_data(as_text=True)
    assert NOT_OFFERED in page
    assert details_form(page)["status"] == ["inactive"]  # the form answers "Is the service open?" as it is
    assert NOT_OFFERED not in client.get(f"/partner/services/{directory.ids['debt']}").get_data(as_text=True)


def test_saving_a_listing_not_offered_keeps_it_so_and_open_offers_it_again(app, directory):
    cafe = directory.ids["cafe"]
    made_inactive(app, cafe)
    client = signed_in(app, "org_admin", ORG_A)
    form = details_form(client.get(f"/partner/services/{cafe}").get_data(as_text=True))
    unchanged = client.post(f"/partner/services/{cafe}", data=form)
    assert unchanged.headers["Location"].endswith("?done=unchanged")
    assert app.test_client().get(f"/services/{cafe}").get_json()["status"] == "inactive"

    before = len(outbox(app))
    opened = client.post(f"/partner/services/{cafe}", data={**form, "status": "active"})
    assert opened.headers["Location"].endswith("?done=saved")
    assert app.test_client().get(f"/services/{cafe}").get_json()["status"] == "active"
    assert [(kind, aggregate) for kind, aggregate, _ in outbox(app)[before:]] == [
        ("directory.service.updated", cafe), ("directory.service.published", cafe)]  # referrals route to it again
    assert "Wellbeing cafe, Taunton" in app.test_client().get("/find?q=peer+support").get_data(as_text=True)


def test_a_partner_can_stop_offering_a_listing_for_now(app, directory):
    cafe = directory.ids["cafe"]
    client = signed_in(app, "org_admin", ORG_A)
    form = details_form(client.get(f"/partner/services/{cafe}").get_data(as_text=True))
    assert form["status"] == ["active"]
    before = len(outbox(app))
    assert client.post(f"/partner/services/{cafe}", data={**form, "status": "inactive"}).status_code == 303
    assert app.test_client().get(f"/services/{cafe}").get_json()["status"] == "inactive"
    assert [(kind, payload["data"].get("reason")) for kind, _, payload in outbox(app)[before:]] == [
        ("directory.service.updated", None), ("directory.service.withdrawn", "inactive")]
    assert "Wellbeing cafe, Taunton" not in app.test_client().get("/find?q=peer+support").get_data(as_text=True)
    assert client.post(f"/partner/services/{cafe}", data={**form, "status": "defunct",
                                                           "csrf_token": csrf(client)}).status_code == 400


def test_a_partner_offers_a_listing_again_in_the_browser(app, directory, page):
    cafe = directory.ids["cafe"]
    made_inactive(app, cafe)
    token = mint_token(app.extensions["worklink"].settings.jwt, role="org_admin", org=str(ORG_A), subject="lee")
    with live_server(app) as base:
        sign_in(page, base, token, "/partner")
        expect(page.get_by_role("row", name=re.compile("Wellbeing cafe, Taunton"))).to_contain_text(
            "Not offered for now")
        assert_accessible(page)
        submit(page, page.get_by_role("link", name="Wellbeing cafe, Taunton"))
        expect(page.get_by_text(NOT_OFFERED)).to_be_visible()
        expect(page.get_by_role("radio", name="Not offered for now")).to_be_checked()
        assert_accessible(page)
        page.get_by_role("radio", name="Open", exact=True).check()
        submit(page, page.get_by_role("button", name="Save changes"))
        expect(page.get_by_text("Your changes were saved.")).to_be_visible()
        expect(page.get_by_text(NOT_OFFERED)).to_have_count(0)
        expect(page.get_by_role("radio", name="Open", exact=True)).to_be_checked()
    assert app.test_client().get(f"/services/{cafe}").get_json()["status"] == "active"


def test_a_listing_not_offered_is_not_shown_as_due_for_review_as_the_job_does_not_flag_it(app, directory):
    """The review-due job flags listed listings only; the partner pages said "Review due" on one not offered too."""
    import uuid
    from datetime import timedelta

    from worklink.uktime import uk_today
    from worklink_directory import services
    from worklink_directory.models import Service

    cafe, debt = directory.ids["cafe"], directory.ids["debt"]
    made_inactive(app, cafe)
    ctx = app.extensions["worklink"]
    long_ago = uk_today() - services.DEFAULT_REVIEW_PERIOD - timedelta(days=30)
    with ctx.database.transaction() as session:
        for service_id in (cafe, debt):
            session.get(Service, uuid.UUID(service_id)).assured_date = long_ago
    with ctx.database.transaction() as session:
        services.flag_review_due(session, ctx.outbox)
    flagged = {aggregate for kind, aggregate, _ in outbox(app) if kind == "directory.service.review_due"}
    assert debt in flagged and cafe not in flagged

    client = signed_in(app, "org_admin", ORG_A)
    rows = client.get("/partner").get_data(as_text=True).split("<tr")
    assert "Review due" in next(r for r in rows if "Debt and money advice" in r)
    assert "Review due" not in next(r for r in rows if "Wellbeing cafe, Taunton" in r)
    page = client.get(f"/partner/services/{cafe}").get_data(as_text=True)
    assert NOT_OFFERED in page and "Review due" not in page and "To review it" not in page
