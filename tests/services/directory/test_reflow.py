"""WCAG 2.2 1.4.10 Reflow: at 320 CSS px (400% zoom) the resident pages never scroll sideways, even
with the long email addresses, web addresses and words real listings have."""

from __future__ import annotations

from tests.browser import assert_accessible, live_server, sealed
from tests.services.directory.conftest import ORG_A, service_body, token_for
from worklink.auth import mint_token
from worklink.web.pages import SESSION_COOKIE

LONG_EMAIL = "somersettalkingtherapies.selfreferrals@somersetft.nhs.uk"
LONG_URL = "https://www.somersetft.nhs.uk/somerset-talking-therapies/self-referral-form/?source=worklink-directory"
LONG_WORD = "Selbsthilfegruppenunterstützungsangebotsverzeichniseintrag"


def test_the_service_page_and_results_reflow_at_320_px(app, directory, page):
    body = service_body(ORG_A, "Talking therapies self-referral", ["counselling"], lat=51.0146, lon=-3.1029,
                        description=f"Email {LONG_EMAIL} ({LONG_WORD}) or refer yourself at {LONG_URL}.")
    body["url"], body["email"] = LONG_URL, LONG_EMAIL
    body["contacts"][0]["email"] = LONG_EMAIL
    body["application_process"] = f"Email {LONG_EMAIL} or fill in the form at {LONG_URL}."
    created = app.test_client().post("/manage/services", json=body, headers=token_for(app, "alliance_admin"))
    assert created.status_code == 201, created.get_json()
    page.set_viewport_size({"width": 320, "height": 800})
    with live_server(app) as base:
        service_id = created.get_json()["id"]
        for path in (f"/find/services/{service_id}", "/find?q=talking+therapies",
                     "/find?q=counselling&postcode=TA1+1AA"):
            page.goto(base + path)
            assert "Talking therapies self-referral" in page.content() and LONG_EMAIL in page.content()
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 320, f"{path} is {width} px wide at a 320 px viewport"
            assert_accessible(page)
        # the owner's edit page lists the same contact details
        token = mint_token(app.extensions["worklink"].settings.jwt, role="org_admin", org=str(ORG_A), subject="ada")
        page.context.add_cookies([{"name": SESSION_COOKIE, "value": sealed(app, token), "url": base}])
        page.goto(f"{base}/partner/services/{service_id}")
        assert LONG_EMAIL in page.content()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 320, f"the edit page is {width} px wide at a 320 px viewport"
