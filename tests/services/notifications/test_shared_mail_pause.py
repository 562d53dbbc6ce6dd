"""One mail pause for every delivery worker (pause.SharedPause): two workers, each with its own connection pool,
on the same database (SQLite and PostgreSQL) and a real SMTP server that is down and comes back. When one
finds the relay down, the other sends nothing - no e-mail, no digest - until the pause ends; then both send."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from worklink.db import Database
from worklink_notifications.models import ChannelPause, Delivery, DeliveryAttempt, OrganisationContact
from tests.services.notifications.support import make_worker
from tests.services.notifications.test_delivery import REFERRER, add, all_deliveries, event, route
from tests.services.notifications.test_outage import mail_port  # noqa: F401 - a fixture

pytestmark = pytest.mark.timeout(120)

TEAM = [f"member{n}@practice.example" for n in range(4)]
DAILY = "daily@practice.example"


@pytest.fixture()
def second_database(notifications_db):
    """The same database as another worker process sees it: its own engine and connections."""
    database = Database(notifications_db.url)
    yield database
    database.dispose()


def _queue(database) -> None:
    add(database, *[OrganisationContact(organisation_id=REFERRER, purpose="team", email=email) for email in TEAM],
        OrganisationContact(organisation_id=REFERRER, purpose="team", email=DAILY, frequency="daily"))
    route(database, event("referrals.referral.accepted"))


def _attempts(database) -> int:
    with database.sessions() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(DeliveryAttempt))


def _pause(database) -> ChannelPause | None:
    with database.sessions() as session:
        return session.get(ChannelPause, "mail")


def test_when_one_worker_finds_the_relay_down_the_other_sends_nothing_until_the_pause_ends(
        notifications_db, second_database, mail_port, clock):
    _queue(notifications_db)
    clock.now = clock.now.replace(hour=17, minute=5)  # the daily digest is due too
    first = make_worker(notifications_db, mail_port, clock, batch=3)  # backoff from 60 s
    second = make_worker(second_database, mail_port, clock, batch=3)

    assert first.run_once() == 1  # one e-mail finds the relay down: the first pause (30-60 s)
    pause = _pause(notifications_db)
    assert pause.failures == 1 and _attempts(notifications_db) == 1
    for seconds in (0, 29):
        clock.advance(seconds=seconds)
        assert second.run_once() == 0 and second.run_digests() == 0  # no probe of its own, no digest
        assert first.run_once() == 0 and first.run_digests() == 0
    assert _attempts(notifications_db) == 1  # one try at the dead relay between two workers, not one each

    mailbox = mail_port.start()  # the relay is back; nobody tries before the pause ends
    clock.now = pause.paused_until.replace(tzinfo=clock.now.tzinfo)
    sent_by_first = first.run_once()
    sent_by_second = second.run_once()
    assert (sent_by_first, sent_by_second) == (3, 1)  # both send again, the work shared between them
    assert sorted(m["To"] for m in mailbox.messages) == sorted(TEAM)
    assert second.run_digests() == 1 and [m["To"] for m in mailbox.messages[4:]] == [DAILY]
    assert {d.status for d in all_deliveries(notifications_db, Delivery.channel == "email")} == {"sent"}
    assert (_pause(notifications_db).failures, _pause(notifications_db).paused_until) == (0, None)


def test_the_pause_grows_with_the_failures_in_a_row_whichever_worker_saw_them(notifications_db, second_database,
                                                                             mail_port, clock):
    _queue(notifications_db)
    first = make_worker(notifications_db, mail_port, clock, pause_refresh=0)
    second = make_worker(second_database, mail_port, clock, pause_refresh=0)

    assert first.run_once() == 1
    clock.now = _pause(notifications_db).paused_until.replace(tzinfo=clock.now.tzinfo)
    assert second.run_once() == 1  # the pause is over: the second worker probes, and the relay is still down
    pause = _pause(notifications_db)
    assert pause.failures == 2  # its backoff is the second step (60-120 s), not a fresh first one
    assert first.run_once() == 0  # and the first worker keeps to it
    retrying = all_deliveries(notifications_db, Delivery.status == "retrying")
    assert retrying and all(d.attempts == 0 for d in retrying)  # an outage spends no attempt

    mailbox = mail_port.start()
    clock.now = pause.paused_until.replace(tzinfo=clock.now.tzinfo)
    assert first.run_once() == len(TEAM) and len(mailbox.messages) == len(TEAM)
    assert _pause(notifications_db).failures == 0


def test_a_worker_reads_the_shared_pause_at_most_once_a_second(notifications_db, mail_port, clock):
    worker = make_worker(notifications_db, mail_port, clock)
    seconds = [100.0]
    worker.mail_pause.monotonic = lambda: seconds[0]
    reads = []

    def count(conn, cursor, statement, *args):
        if "channel_pause" in statement:
            reads.append(statement)

    sa.event.listen(notifications_db.engine, "before_cursor_execute", count)
    try:
        for _ in range(50):
            assert not worker._mail_paused()
        seconds[0] += 0.99
        worker._mail_paused()
        assert len(reads) == 1
        seconds[0] += 0.01
        worker._mail_paused()
        assert len(reads) == 2
    finally:
        sa.event.remove(notifications_db.engine, "before_cursor_execute", count)
