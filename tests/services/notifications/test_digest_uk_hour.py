"""NOTIFICATIONS_DIGEST_HOUR is an hour of the UK clock (Europe/London), in summer and winter alike: 17 is 17:00 BST
(16:00 UTC) before the clocks go back on 25 October 2026 and 17:00 GMT (17:00 UTC) after; a digest's day is the
UK's. Fixed clocks either side of the change and of the spring one; SQLite and PostgreSQL, a real SMTP server.
Exactly one digest per UK day, with a clock stepped through both clock-change days, and after digests that the
older code keyed by their UTC date."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from tests.services.notifications.support import Clock, make_worker
from tests.services.notifications.test_delivery import REFERRER, add, event, route
from worklink_notifications.channels import digest_time
from worklink.uktime import uk_day_bounds, uk_today
from worklink_notifications.models import Digest, OrganisationContact

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


# --- one digest per UK day ------------------------------------------------------------------------------------

SPRING = date(2026, 3, 29)   # the clocks go forward at 01:00 GMT: 23 hours
AUTUMN = date(2026, 10, 25)  # the clocks go back at 01:00 BST (00:00 UTC): 25 hours
STEP = timedelta(minutes=30)


def digests_per_uk_day(database, smtp, first: date, last: date, hour: int) -> Counter:
    """Step a clock every 30 minutes from the UK midnight starting `first` to the one ending `last`, an item
    arriving every hour, running the digests at each step: how many digests each UK day sent."""
    start, _ = uk_day_bounds(first)
    _, end = uk_day_bounds(last)
    clock = Clock(start)
    worker = make_worker(database, smtp, clock, digest_hour=hour)
    sent: Counter = Counter()
    while clock.now < end:
        if clock.now.minute == 0:
            route(database, event("referrals.referral.accepted"))
        before = len(smtp.to(DAILY))
        worker.run_digests()
        sent[uk_today(clock.now)] += len(smtp.to(DAILY)) - before
        clock.advance(minutes=30)
    return sent


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@pytest.mark.parametrize("change", [SPRING, AUTUMN], ids=["spring", "autumn"])
@pytest.mark.parametrize("hour", [0, 1, 2, 23])
def test_one_digest_each_uk_day_through_a_clock_change(daily, smtp_server, change, hour):
    # The day before, the 23- or 25-hour day and the day after; at 1 the autumn day has its hour 01 twice and the
    # spring day none (01:00 GMT is 02:00 BST).
    first, last = change - timedelta(days=1), change + timedelta(days=1)
    sent = digests_per_uk_day(daily, smtp_server, first, last, hour)
    assert [sent[day] for day in days(first, last)] == [1, 1, 1], sent


def legacy_digest(database, sent_at: datetime) -> None:
    """A digest row as the worker wrote it when its day was the UTC date of the moment it went."""
    add(database, Digest(recipient_kind="contact", recipient_id=contact_id(database), day=sent_at.date(),
                         address=DAILY, items=1, sent_at=sent_at))


def contact_id(database) -> str:
    with database.sessions() as session:
        return str(session.scalar(sa.select(OrganisationContact.id).where(OrganisationContact.email == DAILY)))


@pytest.mark.parametrize(("legacy_sent_at", "hour", "first"), [
    # Hour 23 by the old UTC clock: 23:05 UTC on 1 July was 00:05 BST on the 2nd (keyed 1 July), and by the UK
    # clock the 2nd's digest is due at 23:00 BST: a second digest that UK day, before.
    (datetime(2026, 7, 1, 23, 5, tzinfo=timezone.utc), 23, date(2026, 7, 2)),
    # The same on the autumn change day: 00:05 BST on Sunday 25 October, keyed the 24th.
    (datetime(2026, 10, 24, 23, 5, tzinfo=timezone.utc), 23, AUTUMN),
    # And on the Monday after the spring change: 23:05 UTC on Sunday 29 March was 00:05 BST on the 30th.
    (datetime(2026, 3, 29, 23, 5, tzinfo=timezone.utc), 23, date(2026, 3, 30)),
    # Hour 17 by the old UTC clock: 18:05 BST on 1 July; the 2nd's digest still goes (17:00 BST), nothing skipped.
    (datetime(2026, 7, 1, 17, 5, tzinfo=timezone.utc), 17, date(2026, 7, 2)),
    # Hour 0 by the old UTC clock: 01:05 BST on the autumn change day, keyed the 25th as the UK is.
    (datetime(2026, 10, 25, 0, 5, tzinfo=timezone.utc), 0, AUTUMN),
])
def test_the_first_days_after_utc_keyed_digests_neither_repeat_nor_skip(daily, smtp_server, legacy_sent_at,
                                                                         hour, first):
    legacy_digest(daily, legacy_sent_at)
    last = first + timedelta(days=1)
    sent = digests_per_uk_day(daily, smtp_server, first, last, hour)
    sent[uk_today(legacy_sent_at)] += 1
    assert [sent[day] for day in days(first, last)] == [1, 1], sent
