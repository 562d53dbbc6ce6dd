"""'Today' for clinical dates is the UK civil date (Europe/London), not the UTC date: at 00:30 during
British Summer Time a same-day assessment is today in the surgery, while UTC still says yesterday."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from tests.services.adjustments.conftest import suggestion_body
from worklink.events.contracts import CATALOGUE
from worklink.messaging.outbox import Outbox
from worklink_adjustments import sweep
from worklink_adjustments.api import common
from worklink_adjustments.domain import uk_today
from worklink_adjustments.models import PLATFORM


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.mark.parametrize("now, today", [
    (utc(2026, 6, 30, 22, 59), date(2026, 6, 30)),   # 23:59 BST
    (utc(2026, 6, 30, 23, 0), date(2026, 7, 1)),     # midnight BST
    (utc(2026, 6, 30, 23, 30), date(2026, 7, 1)),
    (utc(2026, 12, 31, 23, 59), date(2026, 12, 31)),  # GMT: the UK date is the UTC date
    (utc(2026, 3, 29, 0, 30), date(2026, 3, 29)),     # 00:30 GMT, half an hour before the clocks go forward
    (utc(2026, 10, 24, 23, 30), date(2026, 10, 25)),  # 00:30 BST, the night the clocks go back
    (utc(2026, 10, 25, 23, 30), date(2026, 10, 25)),  # 23:30 GMT after they went back
    (datetime(2026, 6, 30, 23, 30), date(2026, 7, 1)),  # a naive stored time (SQLite) is UTC
])
def test_uk_today_is_the_date_in_the_uk(now, today):
    assert uk_today(now) == today


def body_assessed_on(day: date, **overrides) -> dict:
    return suggestion_body(**{"assessment.date": day.isoformat(), "assessment.condition_started_on": "2026-06-01",
                              "period": {"start": day.isoformat(), "end": "2026-07-31"}, **overrides})


def test_a_same_day_assessment_just_after_midnight_in_summer_is_not_in_the_future(monkeypatch, app, client, tokens):
    monkeypatch.setattr(common, "utcnow", lambda: utc(2026, 6, 30, 23, 30))  # 00:30 on 1 July in the UK
    created = client.post("/suggestions", json=body_assessed_on(date(2026, 7, 1)), headers=tokens.header())
    assert created.status_code == 201, created.get_json()
    issued = client.post(f"/suggestions/{created.get_json()['id']}/issue", json={"version": 1}, headers=tokens.header())
    assert issued.status_code == 200, issued.get_json()  # issuing checks the rules against today again
    tomorrow = client.post("/suggestions", json=body_assessed_on(date(2026, 7, 2)), headers=tokens.header())
    assert tomorrow.status_code == 422
    assert [e["pointer"] for e in tomorrow.get_json()["errors"]] == ["/assessment/date"]

    # The hourly sweep's 'today' is the UK date too: at 00:30 BST on 1 August a period that ended
    # on 31 July has ended (by UTC it would still be 31 July, and it would stay live an hour longer).
    database, outbox = app.extensions["worklink"].database, Outbox("adjustments", PLATFORM, CATALOGUE)
    monkeypatch.setattr(sweep, "utcnow", lambda: utc(2026, 7, 31, 22, 30))  # 23:30 on 31 July in the UK
    assert sweep.run_once(database, outbox)["expired"] == 0
    monkeypatch.setattr(sweep, "utcnow", lambda: utc(2026, 7, 31, 23, 30))
    assert sweep.run_once(database, outbox)["expired"] == 1
    got = client.get(f"/suggestions/{created.get_json()['id']}", headers=tokens.header()).get_json()
    assert got["status"] == "expired"
