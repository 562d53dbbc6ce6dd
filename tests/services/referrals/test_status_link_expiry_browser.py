"""A resident whose status link expired (91 days after their referral ended), on a small phone (320 CSS px, WCAG
1.4.10) in real headless Chromium: the page says the link does not work - nothing about the referral - and leads to
"Get a new link"; an empty address is pointed out, the right one is sent, and the new link emailed to them opens their
referral while the old one stays dead. Each page reflows and passes axe."""

from __future__ import annotations

import pytest

from tests.browser import assert_accessible, live_server, submit
from tests.services.referrals.conftest import with_updates
from tests.services.referrals.test_status_link_expiry import renewals

pytestmark = pytest.mark.timeout(180)


def reflows_and_passes_axe(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    assert_accessible(page)


def test_an_expired_link_leads_to_a_new_one_sent_to_the_persons_email(harness, page):
    h = harness
    rid = h.client.post("/referrals", json=with_updates(), headers=h.gp()).get_json()["id"]
    old = h.person_link(rid)
    reference = h.client.get("/status/" + old.rsplit("/", 1)[1]).get_json()["reference"]
    h.client.post("/status/" + old.rsplit("/", 1)[1] + "/cancel", json={})
    h.clock.advance(days=91)
    page.set_viewport_size({"width": 320, "height": 640})
    with live_server(h.app) as base:
        opened = page.goto(base + old)
        assert opened.status == 404
        assert page.get_by_role("heading", level=1).inner_text() == "This link does not work"
        assert reference not in page.content()
        reflows_and_passes_axe(page)

        submit(page, page.get_by_role("link", name="Get a new link"))
        assert page.get_by_role("heading", level=1).inner_text() == "Get a new link to your referral"
        submit(page, page.get_by_role("button", name="Send me a new link"))
        said = page.get_by_role("alert").get_by_role("link", name="Enter your email address")
        assert said.get_attribute("href") == "#email" and page.title().startswith("Error: ")
        reflows_and_passes_axe(page)
        said.click()
        assert page.evaluate("document.activeElement.id") == "email"

        page.get_by_label("Email address").fill("ada@example.org")
        submit(page, page.get_by_role("button", name="Send me a new link"))
        assert page.get_by_role("heading", level=1).inner_text() == "Check your email"
        reflows_and_passes_axe(page)

        [sent] = renewals(h)  # once the new-links job has handled the request
        assert sent["contact"]["address"] == "ada@example.org"
        page.goto(base + sent["status_link"])
        assert page.get_by_role("heading", level=1).inner_text() == f"Your referral {reference}"
        reflows_and_passes_axe(page)
        assert page.goto(base + old).status == 404
