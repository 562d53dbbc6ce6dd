"""A fit note covers time a condition kept the patient from work: its period cannot start before the
condition's onset (the suggestion's `assessment.condition_started_on`, when the clinician gives one).
Nothing stopped it: a note starting a week before the condition began was saved and issued."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import sqlalchemy as sa

from tests.services.adjustments.conftest import suggestion_body
from tests.services.adjustments.test_page_errors import csrf_for
from tests.services.adjustments.test_suggestion_rules import pointers, post
from worklink_adjustments.domain import long_date, uk_today
from worklink_adjustments.models import Suggestion

TODAY = uk_today()
ONSET = TODAY - timedelta(days=40)


def starting(start, *, onset=ONSET, **overrides):
    return suggestion_body(**{"assessment.condition_started_on": onset and onset.isoformat(),
                              "period.start": start.isoformat(),
                              "period.end": (start + timedelta(days=28)).isoformat(), **overrides})


def test_a_period_starting_before_the_onset_is_refused_on_its_start(client, tokens):
    errors = pointers(post(client, tokens, starting(ONSET - timedelta(days=1))))
    assert errors == {"/period/start": "The period must start on or after the day the condition started "
                                       f"({long_date(ONSET)})."}


def test_a_period_starting_on_the_onset_or_with_no_onset_given_is_taken(client, tokens):
    assert post(client, tokens, starting(ONSET)).status_code == 201
    assert post(client, tokens, starting(ONSET - timedelta(days=7), onset=None)).status_code == 201


def test_a_draft_saved_before_the_rule_is_refused_at_issue(app, client, tokens):
    draft = post(client, tokens, starting(ONSET)).get_json()
    with app.extensions["worklink"].database.transaction() as session:  # as a draft written before this rule
        session.execute(sa.update(Suggestion).where(Suggestion.id == uuid.UUID(draft["id"]))
                        .values(condition_started_on=ONSET + timedelta(days=1)))
    refused = client.post(f"/suggestions/{draft['id']}/issue", json={"version": 1}, headers=tokens.header())
    assert "/period/start" in pointers(refused)
    assert client.get(f"/suggestions/{draft['id']}", headers=tokens.header()).get_json()["status"] == "draft"


def test_an_onset_after_the_assessment_is_refused_once_on_the_onset(client, tokens):
    later = TODAY + timedelta(days=3)
    errors = pointers(post(client, tokens, starting(TODAY, onset=later)))
    assert "/assessment/condition_started_on" in errors and "/period/start" not in errors


def test_the_write_page_shows_it_on_the_start_date(client, tokens):
    h = {**tokens.header(), "Accept": "text/html"}
    form = {"csrf_token": csrf_for(client, "/write", headers=h), "assessment.date": TODAY.isoformat(),
            "assessment.condition_started_on": ONSET.isoformat(), "decision": "not_fit",
            "period.start": (ONSET - timedelta(days=1)).isoformat(), "period.end": TODAY.isoformat()}
    refused = client.post("/write", data=form, headers=h)
    assert refused.status_code == 422
    message = f"The period must start on or after the day the condition started ({long_date(ONSET)})."
    links = dict((text.strip(), href) for href, text in re.findall(
        r'<a href="([^"]*)"[^>]*>([^<]*)</a>', refused.get_data(as_text=True).split("nhsuk-error-summary__list")[1]
        .split("</ul>")[0]))
    assert links[message] == "#period-start-day"
    # and to a program asking the page for JSON, the same field (the page's form field ids as pointers)
    as_json = client.post("/write", data=form, headers={**h, "Accept": "application/json"})
    assert as_json.status_code == 422 and as_json.mimetype == "application/problem+json"
    assert {"location": "form", "pointer": "/period-start-day", "detail": message} in as_json.get_json()["errors"]
