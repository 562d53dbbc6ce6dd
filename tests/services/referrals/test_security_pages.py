"""The referrals pages under the Content-Security-Policy in real Chromium: advisers, referrers, the
alliance's insights, the person's own link and self-referral."""

from __future__ import annotations

from tests.browser import live_server, sealed
from tests.platform.test_security_browser import frontend_started, header_menu_opens, refusals_watched
from tests.services.referrals.conftest import ADVISERS, GP_PRACTICE, nhs_number, with_updates
from worklink.auth import mint_token
from worklink.web.pages import SESSION_COOKIE


def test_every_kind_of_referrals_page_breaks_no_policy(harness, page):
    h = harness
    ids = [h.client.post("/referrals", json=with_updates({"nhs_number": nhs_number(i, 71), "given_name": f"P{i}"}),
                         headers=h.gp()).get_json()["id"] for i in range(6)]
    assert h.act(ids[0], "acknowledge").status_code == 200  # the first status email carries the link
    status_link = h.person_link(ids[0])
    jwt = h.settings.jwt
    who = {"adviser": mint_token(jwt, role="adviser", org=ADVISERS, subject="adviser-ada"),
           "gp": mint_token(jwt, role="gp", org=GP_PRACTICE, subject="gp-1"),
           "alliance_admin": mint_token(jwt, role="alliance_admin", subject="admin-1")}
    with live_server(h.app) as base, refusals_watched(page) as refused:
        for role, paths in (("adviser", ["/queue?view=new", f"/queue/{ids[0]}"]), ("gp", ["/sent"]),
                            ("alliance_admin", ["/alliance/insights"])):
            page.context.clear_cookies()
            page.context.add_cookies([{"name": SESSION_COOKIE, "value": sealed(h.app, who[role]), "url": base}])
            for path in paths:
                page.goto(base + path)
                assert frontend_started(page), path
        bar = page.locator("svg.wl-bar").first  # the insights chart, drawn without a style= attribute
        assert bar.evaluate("e => e.getBoundingClientRect().width") > 100
        page.context.add_cookies([{"name": SESSION_COOKIE, "value": sealed(h.app, who["adviser"]), "url": base}])
        page.goto(f"{base}/queue?view=new")
        current = page.locator('.referrals-filters a[aria-current="page"]')
        assert current.evaluate("e => getComputedStyle(e).fontWeight") == "600"  # the page's nonced style
        assert page.locator(".referrals-filters ul").evaluate("e => getComputedStyle(e).display") == "flex"
        assert header_menu_opens(page)
        page.context.clear_cookies()
        page.goto(base + status_link)
        page.get_by_role("button", name="Stop my referral").wait_for()
        page.goto(f"{base}/refer-yourself")
        page.locator("form button[type=submit]").last.click()
        page.get_by_role("alert").wait_for()
        assert frontend_started(page)
    assert refused == []
