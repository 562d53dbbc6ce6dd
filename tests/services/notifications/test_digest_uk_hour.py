"""NOTIFICATIONS_DIGEST_HOUR is an hour of the UK clock (Europe/London), in summer and winter alike: 17 is 17:00 BST
(16:00 UTC) before the clocks go back on 25 October 2026 and 17:00 GMT (17:00 UTC) after; a digest's day is the
UK's. Fixed clocks either side of the change and of the spring one; SQLite and PostgreSQL, a real SMTP server."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.services.notifications.support import Clock, make_worker
from tests.services.notifications.test_delivery import REFERRER, add, event, route
from worklink_notifications.channels import digest_time
from worklink_notifications.models import OrganisationContact

DAILY = "daily@practice.example"


def digests_at(database, smtp, moment: datetime, hour: int = 17) -> list[str]:
    """The digest subjects a worker sends at `moment` (UTC) for an item that waits."""
    route(database, event("referrals.referral.accepted"))
    make_worker(database, smtp, Clock(moment), digest_hour=hour).run_digests()
    return [mail["Subject"] for mail in smtp.to(DAILY)]


@pytest.fixture()
def daily(notifications_db):
    add(notifications_db, OrganisationContact(organisation_id=REFERRER, purpose="team", email=DAILY,
                                              frequency="daily"))
    return notifications_db


@pytest.mark.parametrize(("moment", "sent"), [
    (datetime(2026, 10, 24, 15, 55, tzinfo=timezone.utc), False),  # 16:55 BST: not yet
    (datetime(2026, 10, 24, 16, 5, tzinfo=timezone.utc), True),    # 17:05 BST (was sent only from 18:00 BST)
    (datetime(2026, 10, 26, 16, 5, tzinfo=timezone.utc), False),   # 16:05 GMT, the clocks gone back: not yet
    (datetime(2026, 10, 26, 17, 5, tzinfo=timezone.utc), True),    # 17:05 GMT
    (datetime(2026, 3, 28, 17, 5, tzinfo=timezone.utc), True),     # 17:05 GMT, the day before the clocks go forward
    (datetime(2026, 3, 30, 15, 55, tzinfo=timezone.utc), False),   # 16:55 BST
    (datetime(2026, 3, 30, 16, 5, tzinfo=timezone.utc), True),     # 17:05 BST
])
def test_the_digest_goes_after_the_hour_on_a_uk_clock_either_side_of_a_clock_change(daily, smtp_server, moment, sent):
    subjects = digests_at(daily, smtp_server, moment)
    assert len(subjects) == (1 if sent else 0), subjects


def test_a_digest_is_named_by_its_uk_day(daily, smtp_server):
    # 23:30 UTC on 23 October is 00:30 BST on the 24th: with the hour 0 that day's digest goes, named the 24th.
    assert digests_at(daily, smtp_server, datetime(2026, 10, 23, 23, 30, tzinfo=timezone.utc), hour=0) == [
        "Your WorkLink updates for 24 October 2026 (1)"]


def test_the_settings_page_names_the_hour_as_the_uk_clock_shows_it_that_day():
    assert digest_time(17, datetime(2026, 10, 24, 9, tzinfo=timezone.utc)) == "17:00 BST"
    assert digest_time(17, datetime(2026, 10, 26, 9, tzinfo=timezone.utc)) == "17:00 GMT"
    assert digest_time(0, datetime(2026, 10, 23, 23, 30, tzinfo=timezone.utc)) == "00:00 BST"  # the UK's 24th
