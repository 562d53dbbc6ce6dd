"""An amended letter says the day the advice was amended, however often the suggestion changes after it.

Found on a GP's walk through the pages: the letter's "I amended my advice on <date>" read the suggestion's last change
(`updated_at`), which recording the patient's withdrawal of consent to the referral moves on: reprinted a week later,
the letter said the advice was amended on the day the consent was withdrawn."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa

from worklink.db import utcnow
from worklink_adjustments.domain import uk_today
from worklink_adjustments.letters import long_date
from worklink_adjustments.models import EmployerLink, Suggestion
from tests.services.adjustments.conftest import suggestion_body

BACK = timedelta(days=3)


def amended_three_days_ago(app, client, h) -> dict:
    body = suggestion_body(**{"consent.refer_to_employment_adviser": True, "period.end": (
        uk_today() + timedelta(days=20)).isoformat()})
    created = client.post("/suggestions", json=body, headers=h).get_json()
    assert client.post(f"/suggestions/{created['id']}/issue", json={"version": 1}, headers=h).status_code == 200
    amended = client.post(f"/suggestions/{created['id']}/amend", headers=h,
                          json={**body, "version": 2, "functional_effects": "Amended: mornings are fine now."})
    assert amended.status_code == 200, amended.get_json()
    when, suggestion_id = utcnow() - BACK, uuid.UUID(created["id"])
    with app.extensions["worklink"].database.transaction() as session:  # as if issued and amended three days ago
        session.execute(sa.update(EmployerLink).where(EmployerLink.suggestion_id == suggestion_id)
                        .values(created_at=when))
        session.execute(sa.update(Suggestion).where(Suggestion.id == suggestion_id).values(updated_at=when))
    return amended.get_json()


def amended_on(client, h, suggestion_id) -> str:
    letter = client.get(f"/suggestions/{suggestion_id}/letter", headers=h)
    assert letter.status_code == 200
    return letter.get_data(as_text=True).split("I amended my advice on ")[1].split(".")[0]


def test_a_consent_withdrawal_since_does_not_move_the_amended_date(app, client, tokens):
    h = tokens.header()
    suggestion = amended_three_days_ago(app, client, h)
    three_days_ago = long_date(uk_today(utcnow() - BACK))
    assert amended_on(client, h, suggestion["id"]) == three_days_ago
    withdrawn = client.post(f"/suggestions/{suggestion['id']}/referral-consent-withdrawal",
                            json={"version": suggestion["version"]}, headers=h)
    assert withdrawn.status_code == 200, withdrawn.get_json()
    assert amended_on(client, h, suggestion["id"]) == three_days_ago

