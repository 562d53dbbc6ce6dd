"""Working-day clocks know England and Wales bank holidays out of the box (the shipped calendar),
REFERRALS_HOLIDAYS adds dates, and a calendar that runs out within 12 months is reported at start."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import date, datetime, timezone

import pytest

from worklink_referrals import jobs
from worklink_referrals.config import BANK_HOLIDAYS, ReferralSettings, calendar_gap

# Published on gov.uk/bank-holidays for England and Wales.
GOV_UK = {
    "2025-01-01", "2025-04-18", "2025-04-21", "2025-05-05", "2025-05-26", "2025-08-25", "2025-12-25", "2025-12-26",
    "2026-01-01", "2026-04-03", "2026-04-06", "2026-05-04", "2026-05-25", "2026-08-31", "2026-12-25", "2026-12-28",
    "2027-01-01", "2027-03-26", "2027-03-29", "2027-05-03", "2027-05-31", "2027-08-30", "2027-12-27", "2027-12-28",
}


def deployed(**env) -> ReferralSettings:
    """The settings a deployment gets from its environment."""
    return ReferralSettings.from_env({"WORKLINK_ENV": "test", **env}, today=date(2026, 11, 26))


def test_the_shipped_calendar_has_the_eight_england_and_wales_holidays_of_2024_to_2030():
    assert {d.isoformat() for d in BANK_HOLIDAYS if d.year in (2025, 2026, 2027)} == GOV_UK
    assert Counter(d.year for d in BANK_HOLIDAYS) == {year: 8 for year in range(2024, 2031)}
    assert all(d.weekday() < 5 for d in BANK_HOLIDAYS)  # weekend holidays are shipped as their substitute days
    assert date(2030, 4, 19) in BANK_HOLIDAYS and date(2030, 4, 22) in BANK_HOLIDAYS  # Easter 2030


def test_settings_use_the_shipped_calendar_and_the_environment_adds_dates():
    assert ReferralSettings().clocks.holidays == BANK_HOLIDAYS == deployed().clocks.holidays
    added = deployed(REFERRALS_HOLIDAYS="2026-06-01, 2026-06-02").clocks.holidays
    assert added == BANK_HOLIDAYS | {date(2026, 6, 1), date(2026, 6, 2)}


def test_a_calendar_that_does_not_cover_the_next_12_months_is_reported(caplog):
    assert calendar_gap(BANK_HOLIDAYS, date(2026, 11, 26)) is None
    assert calendar_gap(BANK_HOLIDAYS, date(2029, 12, 31)) is None  # 2030 is the last year it needs
    assert "2031" in calendar_gap(BANK_HOLIDAYS, date(2030, 1, 1))
    with caplog.at_level(logging.WARNING, logger="worklink_referrals.config"):
        ReferralSettings.from_env({}, today=date(2026, 11, 26))
        assert not caplog.records
        ReferralSettings.from_env({}, today=date(2030, 3, 1))
    assert "no dates for 2031" in caplog.records[0].getMessage()
    with caplog.at_level(logging.WARNING, logger="worklink_referrals.config"):
        caplog.clear()  # the operator adds next year's dates: no warning
        ReferralSettings.from_env({"REFERRALS_HOLIDAYS": "2031-01-01"}, today=date(2030, 3, 1))
    assert not caplog.records


@pytest.mark.parametrize("submitted, due", [
    # Thu 24 Dec 2026: Fri 25 Christmas, Mon 28 Boxing Day substitute -> Tue 29 (1), Wed 30 (2)
    (datetime(2026, 12, 24, 9, 0, tzinfo=timezone.utc), "2026-12-30T09:00:00+00:00"),
    # Thu 25 Mar 2027: Fri 26 Good Friday, Mon 29 Easter Monday -> Tue 30 (1), Wed 31 (2); the clocks
    # went forward on Sun 28, so 09:00 UK time (GMT) is due at 09:00 BST, 08:00 UTC
    (datetime(2027, 3, 25, 9, 0, tzinfo=timezone.utc), "2027-03-31T08:00:00+00:00"),
])
def test_the_acknowledge_clock_skips_bank_holidays(make_harness, submitted, due):
    h = make_harness(referral_settings=deployed())
    h.add_service()
    h.clock.now = submitted
    created = h.refer()
    assert created.status_code == 201, created.get_json()
    clocks = {c["clock"]: c for c in created.get_json()["clocks"]}
    assert clocks["acknowledge"]["due_at"] == due


def test_no_breach_is_flagged_on_a_bank_holiday(make_harness):
    settings = deployed()
    h = make_harness(referral_settings=settings)
    h.add_service()
    h.clock.now = datetime(2026, 12, 24, 9, 0, tzinfo=timezone.utc)
    referral = h.refer().get_json()
    assert jobs.run_once(h.ctx.database, settings, now=datetime(2026, 12, 28, 9, 1, tzinfo=timezone.utc)) == 0
    h.clock.now = datetime(2026, 12, 30, 9, 1, tzinfo=timezone.utc)  # the real deadline has passed
    assert jobs.run_once(h.ctx.database, settings, now=h.clock.now) == 1
    shown = h.client.get(f"/referrals/{referral['id']}", headers=h.adviser()).get_json()
    assert [c["breached"] for c in shown["clocks"] if c["clock"] == "acknowledge"] == [True]
