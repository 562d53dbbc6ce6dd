"""The employer letter says by when its reply link takes an answer: the last day of the advice's period, or the day
before the link expires if that comes first; on the print view in real headless Chromium (axe-core) and in the PDF.

Found on a GP's walk through the pages: the letter said only "Use the link below, once": an employer reading the
paper copy after the period ended, or after the link's 60 days, was refused with no date to have known it by."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.browser import assert_accessible, live_server, sign_in
from tests.services.adjustments.conftest import suggestion_body
from tests.services.adjustments.test_letters_and_employer import pdf_text
from worklink_adjustments.domain import uk_today
from worklink_adjustments.letters import long_date

pytestmark = pytest.mark.timeout(180)


def issued(client, h, **overrides) -> dict:
    created = client.post("/suggestions", json=suggestion_body(**overrides), headers=h).get_json()
    assert client.post(f"/suggestions/{created['id']}/issue", json={"version": 1}, headers=h).status_code == 200
    return client.get(f"/suggestions/{created['id']}", headers=h).get_json()


def test_the_letter_says_the_last_day_of_the_period(app, tokens, page):
    client, h = app.test_client(), tokens.header()
    s = issued(client, h)  # a 28-day period: it ends before the link's 60 days
    by = f"Use the link below, once, by {long_date(uk_today() + timedelta(days=28))}, to record which changes"
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), f"/suggestions/{s['id']}/letter")
        assert by in page.locator("main").inner_text()
        assert_accessible(page)
    assert by in pdf_text(client.get(f"/suggestions/{s['id']}/letter.pdf", headers=h).data)


def test_an_open_ended_period_s_letter_says_the_day_before_the_link_expires(client, tokens):
    h = tokens.header()
    s = issued(client, h, **{"period.end": ..., "assessment.condition_started_on":
                             (uk_today() - timedelta(days=400)).isoformat()})
    expires = datetime.fromisoformat(s["employer_link_expires_at"])
    by = f"Use the link below, once, by {long_date(uk_today(expires) - timedelta(days=1))}, to record"
    assert by in client.get(f"/suggestions/{s['id']}/letter", headers=h).get_data(as_text=True)
