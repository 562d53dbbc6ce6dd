"""The employer's reply page (the letter's single-use link, no account) is post, redirect, get: the answer's page was
the POST's own response, so a refresh sent the answer again - refused, as the link is single-use, and the employer read
"already been recorded" where their confirmation had been. Now the POST redirects to /respond/<token>/sent, which says
the same on a refresh, Back and Forward; in real headless Chromium with axe-core."""

from __future__ import annotations

import re
import uuid

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.browser import assert_accessible, live_server
from tests.services.adjustments.test_employer_reply_dates import SEND, answer_every_change
from tests.services.adjustments.test_letters_and_employer import csrf, issued, response_link
from worklink_adjustments.models import PLATFORM, EmployerResponse

pytestmark = pytest.mark.timeout(180)


def recorded(app, suggestion_id: str) -> tuple[int, int]:
    """(answers stored, answer events staged) for the suggestion."""
    with app.extensions["worklink"].database.engine.connect() as conn:
        answers = conn.scalar(sa.select(sa.func.count()).select_from(EmployerResponse)
                              .where(EmployerResponse.suggestion_id == uuid.UUID(suggestion_id)))
        events = conn.scalar(sa.select(sa.func.count()).select_from(PLATFORM.outbox).where(
            PLATFORM.outbox.c.type == "adjustments.employer_response.recorded"))
    return answers, events


def test_a_sent_answer_s_page_stays_its_confirmation_on_refresh_back_and_forward(app, tokens, page):
    client = app.test_client()
    suggestion = issued(client, tokens)
    link = response_link(client, tokens, suggestion["id"])
    sent = re.compile(re.escape(f"{link}/sent") + "$")
    with live_server(app) as base:
        page.goto(base + link)
        answer_every_change(page)
        page.get_by_role("button", name=SEND).click()
        expect(page).to_have_url(sent)
        expect(page.get_by_role("heading", level=1)).to_have_text("Answer sent")
        expect(page.locator("main")).to_contain_text("Sam's clinician can now see which changes you agreed")
        assert_accessible(page)
        assert recorded(app, suggestion["id"]) == (1, 1)

        page.reload()  # the confirmation again: nothing is sent a second time
        expect(page).to_have_url(sent)
        expect(page.get_by_role("heading", level=1)).to_have_text("Answer sent")
        page.go_back()  # the form's address: it is not offered again
        expect(page.locator("main")).to_contain_text("already been recorded")
        page.go_forward()
        expect(page).to_have_url(sent)
        expect(page.get_by_role("heading", level=1)).to_have_text("Answer sent")
    assert recorded(app, suggestion["id"]) == (1, 1)


def test_the_confirmation_of_an_answer_not_yet_sent_is_the_form(app, tokens):
    client = app.test_client()
    link = response_link(client, tokens, issued(client, tokens)["id"])
    early = client.get(f"{link}/sent")
    assert early.status_code == 303 and early.headers["Location"].endswith(link)
    assert early.headers["Cache-Control"] == "no-store"  # a secret link's page is nobody else's
    assert client.get(f"/respond/{'0' * 32}.{'0' * 32}/sent").status_code == 404  # a token we never made
    token = csrf(client, link)
    answered = client.post(link, data={"csrf_token": token, "responder_name": "Jo Manager",
                                       **{f"items.{i}.outcome": "agreed" for i in range(3)}})
    assert answered.status_code == 303 and answered.headers["Location"].endswith(f"{link}/sent")
    confirmation = client.get(answered.headers["Location"])
    assert confirmation.status_code == 200 and "Answer sent" in confirmation.get_data(as_text=True)
    assert confirmation.headers["Cache-Control"] == "no-store"
