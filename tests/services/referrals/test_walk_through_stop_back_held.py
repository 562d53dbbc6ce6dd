"""Found on a walk through this morning (2026-11-29):
- "Stop my referral" on the person's status page stopped it in one click, and it cannot be undone: it now asks
  first, on a page of its own (no JavaScript), saying what stopping means, with a way back;
- Back after sending a self-referral reopened the used code page: "Page not found ... start again", and a
  resident who did made a second referral; it now says the referral was sent, and nothing about it; Back once
  more reopens the form, filled in again by the browser: it says a referral was sent from this browser;
- the alliance_admin's queue offered the adviser's filters ("Mine") and no "Held referrals", the list it works.
Test client first, then real Chromium with axe-core."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser import assert_accessible, live_server, sign_in, submit
from tests.people_rights import post_form, text
from tests.services.referrals.conftest import ADVISERS, SERVICE, fill_the_self_referral_form, with_updates
from worklink.auth import mint_token

pytestmark = pytest.mark.timeout(180)

HTML = {"Accept": "text/html"}
SELF_REFERRAL = {"person": {"given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02",
                            "postcode": "GL1 1AA", "email": "sam@example.org"},
                 "consent": {"explicit": True, "updates_by_email": True}, "employment_situation": "unemployed"}


def status(h, rid) -> str:
    return h.client.get(f"/referrals/{rid}", headers=h.admin()).get_json()["status"]


def filters(html: str) -> list[str]:
    nav = re.search(r'<nav aria-label="Filter the queue".*?</nav>', html, re.S).group(0)
    return re.findall(r">([^<>]+)</a>", nav)


# --- 1. stopping asks first ------------------------------------------------------------------------------


def test_stop_my_referral_asks_first_and_says_what_stopping_means(harness):
    h = harness
    rid = h.client.post("/referrals", json=with_updates(), headers=h.gp()).get_json()["id"]
    link = h.person_link(rid)
    token = link.rsplit("/", 1)[1]
    status_page = h.client.get(link, headers=HTML).get_data(as_text=True)
    assert f'href="/my-referral/{token}/stop"' in status_page  # a step first, not a form that stops it
    assert f'action="/my-referral/{token}/cancel"' not in status_page

    asked = h.client.get(f"{link}/stop", headers=HTML)
    words = text(asked)
    assert asked.status_code == 200 and "Are you sure you want to stop your referral?" in words
    assert "We will tell the employment support service that you stopped it" in words
    assert "one last email to say your referral has ended, and no more emails about it" in words
    assert "You cannot undo this" in words
    html = asked.get_data(as_text=True)
    assert f'action="/my-referral/{token}/cancel"' in html and 'name="csrf_token"' in html
    assert f'href="{link}"' in html and "No, go back to my referral" in words
    assert status(h, rid) == "submitted"  # asking stops nothing

    assert post_form(h.client, f"{link}/cancel", {}, {}, csrf=False).status_code == 400  # still CSRF-protected
    assert status(h, rid) == "submitted"
    stopped = post_form(h.client, f"{link}/cancel", {}, {})
    assert stopped.status_code == 303 and stopped.headers["Location"] == f"{link}?done=stopped"
    assert status(h, rid) == "cancelled"
    again = post_form(h.client, f"{link}/cancel", {}, {})  # sent twice: the same page, nothing more done
    assert again.status_code == 303 and again.headers["Location"] == link
    # Back to the question after stopping: nothing left to stop, so the status page says what happened
    back = h.client.get(f"{link}/stop", headers=HTML)
    assert back.status_code == 303 and back.headers["Location"] == link


def test_a_held_referral_is_not_said_to_be_with_a_service(harness):
    h = harness
    paused = h.client.put(f"/adviser-services/{SERVICE}/intake", json={"accepting_referrals": False},
                          headers=h.token("org_admin", ADVISERS, "boss-1"))  # no service can take it: held
    assert paused.status_code == 200
    rid = h.client.post("/referrals", json=with_updates(), headers=h.gp()).get_json()["id"]
    words = text(h.client.get(h.person_link(rid) + "/stop", headers=HTML))
    assert "We will stop looking for an employment support service to take it" in words
    assert "We will tell the employment support service" not in words


# --- 2. Back after sending a self-referral ------------------------------------------------------------


def test_the_used_code_page_says_the_referral_was_sent_not_start_again(harness):
    h = harness
    pending = h.client.post("/self-referrals", json=SELF_REFERRAL).get_json()
    code_page = f"/refer-yourself/{pending['id']}/code"
    sent = post_form(h.client, code_page, {"code": pending["code"]}, {})
    assert sent.status_code == 303 and "/my-referral/" in sent.headers["Location"]

    back = h.client.get(code_page, headers=HTML)  # what Back shows after sending
    words = text(back)
    assert back.status_code == 200 and "Your referral has already been sent" in words
    assert "start again" not in words.lower().replace("do not start again", "")
    assert 'href="/new-link"' in back.get_data(as_text=True)
    assert not any(detail in words for detail in ("Sam", "Jones", "GL1", "sam@example.org", "R-"))  # nothing of it
    resent = post_form(h.client, code_page, {"code": pending["code"]}, {})  # the code sent again from a copy
    assert resent.status_code == 200 and "Your referral has already been sent" in text(resent)
    assert len(h.client.get("/referrals?view=all", headers=h.admin()).get_json()["items"]) == 1


def test_the_form_reopened_after_sending_says_a_referral_was_sent_from_this_browser(harness):
    h = harness
    fresh = h.client.get("/refer-yourself", headers=HTML)
    assert fresh.headers["Cache-Control"] == "no-store"  # Back asks again, so the page can say it was sent
    assert 'id="sent-before"' not in fresh.get_data(as_text=True)
    pending = h.client.post("/self-referrals", json=SELF_REFERRAL).get_json()
    post_form(h.client, f"/refer-yourself/{pending['id']}/code", {"code": pending["code"]}, {})
    again = h.client.get("/refer-yourself", headers=HTML).get_data(as_text=True)
    assert 'id="sent-before"' in again and "you do not need to send it again" in again
    assert 'href="/new-link"' in again
    # someone else at the same computer, deciding to go on: the form stops saying it
    post_form(h.client, "/refer-yourself", {"given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02",
                                            "postcode": "GL1 1AA", "email": "sam.j@example.org",
                                            "employment_situation": "unemployed", "updates_by_email": "no",
                                            "consent": "yes"}, {})
    assert 'id="sent-before"' not in h.client.get("/refer-yourself", headers=HTML).get_data(as_text=True)


def test_a_code_page_nobody_used_is_still_not_found(harness):
    assert harness.client.get(f"/refer-yourself/{uuid.uuid4()}/code", headers=HTML).status_code == 404


# --- 3. the alliance's queue ---------------------------------------------------------------------------


def test_the_alliance_filters_its_queue_by_held_referrals_and_not_by_mine(harness):
    h = harness
    alliance = h.client.get("/queue", headers={**h.admin(), **HTML}).get_data(as_text=True)
    assert filters(alliance) == ["Held referrals", "New", "Breaching targets", "Waitlist", "On hold", "All"]
    assert '<a href="/queue?view=held" aria-current="page">Held referrals</a>' in alliance
    assert h.client.get("/queue?view=mine", headers={**h.admin(), **HTML}).status_code == 404
    adviser = h.client.get("/queue", headers={**h.adviser(), **HTML}).get_data(as_text=True)
    assert filters(adviser) == ["New", "Breaching targets", "Mine", "Not assigned", "Waitlist", "On hold",
                                "Holds to review", "Sustainment checks due", "All"]  # as it was


# --- in Chromium, with axe-core --------------------------------------------------------------------------


def test_in_chromium_back_after_sending_then_stopping_with_a_way_back(harness, page):
    with live_server(harness.app) as base:
        page.goto(f"{base}/refer-yourself")
        fill_the_self_referral_form(page, email="tom@example.org")
        submit(page, page.get_by_role("button", name="Continue"))
        code_page = page.url
        page.get_by_label("Code").fill(page.locator("#dev-code").inner_text())
        submit(page, page.get_by_role("button", name="Send my referral"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Referral sent")
        status_page = page.url.split("?")[0]

        page.go_back()  # the code page's address, once used
        expect(page.get_by_role("heading", level=1)).to_have_text("Your referral has already been sent")
        assert page.url == code_page
        assert_accessible(page)
        page.go_back()  # the form, perhaps filled in again by the browser
        expect(page.locator("#sent-before")).to_contain_text("A referral was sent from this browser")
        assert_accessible(page)

        page.goto(status_page)
        submit(page, page.get_by_role("button", name="Stop my referral"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Are you sure you want to stop your referral?")
        assert_accessible(page)
        submit(page, page.get_by_role("link", name="No, go back to my referral"))
        expect(page.locator(".nhsuk-card__heading")).not_to_have_text("Cancelled")

        submit(page, page.get_by_role("button", name="Stop my referral"))
        submit(page, page.get_by_role("button", name="Yes, stop my referral"))
        expect(page.locator(".nhsuk-notification-banner__heading")).to_have_text("Your referral is stopped")
        expect(page.locator(".nhsuk-card__heading")).to_have_text("Cancelled")
        page.go_back()  # the question again: nothing left to stop
        expect(page.locator(".nhsuk-card__heading")).to_have_text("Cancelled")
        expect(page.get_by_role("button", name="Stop my referral")).to_have_count(0)


def test_in_chromium_the_alliance_opens_its_queue_on_held_referrals(harness, page):
    admin = mint_token(harness.settings.jwt, role="alliance_admin", subject="admin-1")
    with live_server(harness.app) as base:
        sign_in(page, base, admin, "/queue")
        current = page.locator('.referrals-filters a[aria-current="page"]')
        expect(current).to_have_text("Held referrals")
        expect(page.locator(".referrals-filters").get_by_role("link", name="Mine")).to_have_count(0)
        assert_accessible(page)
        submit(page, page.locator(".referrals-filters").get_by_role("link", name="All"))
        expect(page.get_by_role("heading", level=2, name="All referrals")).to_be_visible()
