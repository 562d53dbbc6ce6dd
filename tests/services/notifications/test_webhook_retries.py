"""A webhook receiver that answers 5xx, 408, 425 or 429 for a while (a partner redeploying, its gateway's
502/503 during its own outage, a rate limit) delays its webhooks, it never loses them: they are retried on
the Standard Webhooks schedule, no sooner than its Retry-After, until give_up_after. Against a real HTTP
receiver that verifies signatures, with the worker's clock moved by hand."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from worklink_notifications.delivery import (DeliverySettings, durations, in_words, retry_after_seconds,
                                            webhook_retry)
from worklink_notifications.models import Delivery
from tests.services.notifications.support import make_worker
from tests.services.notifications.test_delivery import REFERRER, all_deliveries, event, route, subscriber_for

pytestmark = pytest.mark.timeout(120)

SCHEDULE = DeliverySettings().webhook_retry_schedule  # 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h


def _one_webhook(database, receiver, clock) -> None:
    subscriber_for(database, receiver)
    route(database, event("referrals.referral.completed"))
    clock.now = _the_webhook(database).created_at.replace(tzinfo=timezone.utc)  # as it was just queued
    receiver.clock = clock  # the receiver checks each signature's timestamp against the same clock


def _the_webhook(database) -> Delivery:
    [webhook] = all_deliveries(database, Delivery.channel == "webhook")
    return webhook


def _wait(webhook: Delivery, clock) -> timedelta:
    return webhook.next_attempt_at.replace(tzinfo=timezone.utc) - clock.now


def _retried_on_schedule(database, worker, clock, tries: int) -> list[timedelta]:
    """Run `tries` failing tries, each when it is due; returns each wait, checked to be still retrying."""
    waits = []
    for _ in range(tries):
        assert worker.run_once() == 1
        webhook = _the_webhook(database)
        assert webhook.status == "retrying", webhook.last_error
        waits.append(_wait(webhook, clock))
        assert worker.run_once() == 0  # not due before its time
        clock.now = webhook.next_attempt_at.replace(tzinfo=timezone.utc)
    return waits


def _on_schedule(wait: timedelta, step: float) -> bool:
    return timedelta(seconds=step * 0.8) <= wait <= timedelta(seconds=step * 1.2)  # +-20% jitter


def test_a_receiver_answering_503_then_200_gets_the_webhook_5_seconds_later(notifications_db, webhook_receiver,
                                                                            clock):
    _one_webhook(notifications_db, webhook_receiver, clock)
    webhook_receiver.fail_next = 1
    worker = make_worker(notifications_db, None, clock)

    [wait] = _retried_on_schedule(notifications_db, worker, clock, 1)
    assert _on_schedule(wait, 5)
    assert worker.run_once() == 1
    webhook = _the_webhook(notifications_db)
    assert (webhook.status, webhook.attempts, webhook.last_error) == ("sent", 2, None)
    assert [r["id"] for r in webhook_receiver.accepted] == [str(webhook.id)]


def test_a_partner_down_for_hours_gets_its_webhook_when_it_is_back_never_dead_meanwhile(notifications_db,
                                                                                       webhook_receiver, clock):
    _one_webhook(notifications_db, webhook_receiver, clock)
    webhook_receiver.fail_next, webhook_receiver.status_when_failing = 6, 502  # over 7 hours of 502s
    worker = make_worker(notifications_db, None, clock)  # max_attempts=3 is e-mail's; webhooks go on

    waits = _retried_on_schedule(notifications_db, worker, clock, 6)
    assert all(_on_schedule(wait, step) for wait, step in zip(waits, SCHEDULE)), waits
    assert sum(waits, timedelta()) > timedelta(hours=5)  # far past the old 15 minutes
    answered_at = webhook_receiver.failed  # when each failed try reached the receiver, by its signature
    assert len(answered_at) == 6
    assert all(abs((b - a) - wait.total_seconds()) <= 1 for a, b, wait in zip(answered_at, answered_at[1:], waits))
    assert worker.run_once() == 1
    webhook = _the_webhook(notifications_db)
    assert (webhook.status, webhook.attempts) == ("sent", 7)
    assert len(webhook_receiver.accepted) == 1 and webhook_receiver.rejected == []


def test_a_receiver_still_failing_after_give_up_after_is_dead_with_a_clear_last_error(notifications_db,
                                                                                     webhook_receiver, clock):
    _one_webhook(notifications_db, webhook_receiver, clock)
    queued = clock.now
    webhook_receiver.fail_next, webhook_receiver.status_when_failing = 99, 504
    worker = make_worker(notifications_db, None, clock)  # give_up_after: 72 h

    waits = []
    while _the_webhook(notifications_db).status != "dead":
        assert clock.now - queued <= timedelta(hours=72) and len(waits) < 20
        assert worker.run_once() == 1
        webhook = _the_webhook(notifications_db)
        if webhook.status == "retrying":
            waits.append(_wait(webhook, clock))
            clock.now = webhook.next_attempt_at.replace(tzinfo=timezone.utc)
    assert clock.now == queued + timedelta(hours=72)  # the last try at the limit itself, then given up
    steps = SCHEDULE + (SCHEDULE[-1],) * 20  # 8 tries over about 27 hours, then every 10 hours
    assert all(_on_schedule(wait, step) for wait, step in zip(waits[:-1], steps)), waits
    tries = len(waits) + 1
    assert tries == len(webhook_receiver.failed) and 12 <= tries <= 14
    webhook = _the_webhook(notifications_db)
    assert webhook.last_error == f"not sent within 72 hours, retried {tries} times: ReceiverAnswered: HTTP 504 " \
                                 "from the receiver"
    assert webhook.next_attempt_at is None and webhook_receiver.accepted == []


def test_retry_after_is_waited_for_in_seconds_or_as_a_date_and_capped(notifications_db, webhook_receiver, clock):
    _one_webhook(notifications_db, webhook_receiver, clock)
    worker = make_worker(notifications_db, None, clock)
    webhook_receiver.fail_next, webhook_receiver.status_when_failing = 3, 429

    webhook_receiver.retry_after = "120"  # the schedule would say 5 s
    [wait] = _retried_on_schedule(notifications_db, worker, clock, 1)
    assert timedelta(seconds=120) <= wait <= timedelta(seconds=120 * 1.2)
    assert "HTTP 429 from the receiver (Retry-After: 120 s)" in _the_webhook(notifications_db).last_error

    webhook_receiver.status_when_failing = 503
    webhook_receiver.retry_after = format_datetime(clock.now + timedelta(hours=1), usegmt=True)
    [wait] = _retried_on_schedule(notifications_db, worker, clock, 1)
    assert abs(wait - timedelta(hours=1)) < timedelta(seconds=1)  # not the schedule's 5 minutes (a date: whole seconds)

    webhook_receiver.retry_after = "31536000"  # a year: capped at the schedule's longest step
    [wait] = _retried_on_schedule(notifications_db, worker, clock, 1)
    assert wait == timedelta(hours=10)
    assert worker.run_once() == 1
    assert _the_webhook(notifications_db).status == "sent" and len(webhook_receiver.failed) == 3


def test_a_receivers_retry_after_holds_all_its_webhooks_not_just_the_one_it_answered(notifications_db,
                                                                                    webhook_receiver, clock):
    _one_webhook(notifications_db, webhook_receiver, clock)
    route(notifications_db, event("referrals.referral.accepted"), event("referrals.referral.rejected"))
    worker = make_worker(notifications_db, None, clock)
    webhook_receiver.fail_next, webhook_receiver.status_when_failing, webhook_receiver.retry_after = 1, 429, "600"

    assert worker.run_once() == 1  # the first is answered 429; the others are not sent to it this round
    assert worker.run_once() == 0  # nor in the next: the receiver asked for 10 minutes' peace
    webhooks = all_deliveries(notifications_db, Delivery.channel == "webhook")
    assert [(w.status, w.attempts) for w in webhooks] == [("retrying", 1), ("pending", 0), ("pending", 0)]
    assert all(_wait(w, clock) == timedelta(seconds=600) for w in webhooks)
    assert len(webhook_receiver.failed) == 1 and webhook_receiver.accepted == []

    clock.advance(seconds=600)
    assert worker.run_once() == 3
    assert len(webhook_receiver.accepted) == 3


def test_retry_after_is_read_as_rfc_9110_says():
    now = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)
    assert retry_after_seconds("120", now) == 120
    assert retry_after_seconds(" 0 ", now) == 0
    assert retry_after_seconds("Thu, 26 Nov 2026 10:30:00 GMT", now) == 1800
    assert retry_after_seconds("Thu, 26 Nov 2026 09:00:00 GMT", now) == 0  # already past: no extra wait
    for unreadable in (None, "", "-5", "1.5", "soon", "Thu, 26 Nov 99999 10:30:00 GMT", "١٢٠"):
        assert retry_after_seconds(unreadable, now) is None, unreadable


def test_the_schedule_repeats_its_last_step_and_a_retry_after_never_shortens_it():
    settings = DeliverySettings(webhook_retry_schedule=(5, 300))
    assert webhook_retry(1, settings, rng=lambda: 0.5) == timedelta(seconds=5)
    assert webhook_retry(2, settings, rng=lambda: 0.0) == timedelta(seconds=240)
    assert webhook_retry(9, settings, rng=lambda: 1.0) == timedelta(seconds=360)
    assert webhook_retry(1, settings, retry_after=1, rng=lambda: 0.5) == timedelta(seconds=5)
    assert webhook_retry(1, settings, retry_after=10**9, rng=lambda: 0.5) == timedelta(seconds=300)


def test_the_schedule_setting_reads_durations_and_refuses_nonsense():
    assert DeliverySettings.from_env({}).webhook_retry_schedule == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert durations("5s, 5m,2h,1d,90", (), "X") == (5, 300, 7200, 86400, 90)
    env = {"NOTIFICATIONS_WEBHOOK_RETRY_SCHEDULE": "10s,1h"}
    assert DeliverySettings.from_env(env).webhook_retry_schedule == (10, 3600)
    for nonsense in ("5s,,1h", "0s", "-5s", "5 minutes", "1w"):
        with pytest.raises(ValueError, match="NOTIFICATIONS_WEBHOOK_RETRY_SCHEDULE"):
            DeliverySettings.from_env({"NOTIFICATIONS_WEBHOOK_RETRY_SCHEDULE": nonsense})


# --- a receiver that keeps failing: its health, and its organisation told once ------------------------

def _failing_notices(client, token) -> list[dict]:
    inbox = client.get("/inbox?scope=organisation", headers=token("adviser", org=REFERRER)).get_json()
    return [item for item in inbox["items"] if item["message_code"] == "webhook_failing"]


def test_a_receiver_failing_for_an_hour_shows_as_failing_and_its_organisation_is_told_once(
        notifications_db, webhook_receiver, clock, app, token):
    _one_webhook(notifications_db, webhook_receiver, clock)
    started = clock.now
    webhook_receiver.fail_next, webhook_receiver.status_when_failing = 99, 503
    worker = make_worker(notifications_db, None, clock)  # told after 1 hour of failures
    client, owner = app.test_client(), token("org_admin", org=REFERRER)
    [subscriber] = client.get("/webhook-subscribers", headers=owner).get_json()
    assert (subscriber["consecutive_failures"], subscriber["failing_since"]) == (0, None)

    _retried_on_schedule(notifications_db, worker, clock, 4)  # 0, 5 s, 5 min, 35 min: a redeploy, not yet a worry
    health = client.get(f"/webhook-subscribers/{subscriber['id']}", headers=owner).get_json()
    assert health["consecutive_failures"] == 4
    assert health["last_error"] == "ReceiverAnswered: HTTP 503 from the receiver"
    assert datetime.fromisoformat(health["failing_since"]) == started
    assert _failing_notices(client, token) == []

    _retried_on_schedule(notifications_db, worker, clock, 2)  # at 2 h 35 min, and again at 7 h 35 min
    [notice] = _failing_notices(client, token)
    assert notice["title"] == "Your webhooks are failing"
    assert notice["facts"]["subscriber_id"] == subscriber["id"]
    assert client.get("/inbox?scope=organisation", headers=token("adviser", org=str(uuid.uuid4()))) \
        .get_json()["items"] == []  # no other organisation hears of it
    listed = client.get("/webhook-subscribers", headers=token("alliance_admin", org="alliance")).get_json()
    assert [s["consecutive_failures"] for s in listed] == [6]  # the alliance sees it too
    assert listed[0]["active"] is True  # never switched off behind anyone's back

    webhook_receiver.fail_next = 0  # back: the streak ends
    assert worker.run_once() == 1
    health = client.get(f"/webhook-subscribers/{subscriber['id']}", headers=owner).get_json()
    assert (health["consecutive_failures"], health["failing_since"], health["last_error"]) == (0, None, None)

    webhook_receiver.fail_next = 99  # a new outage is a new streak, told once again
    route(notifications_db, event("referrals.referral.accepted"))
    fresh = [d for d in all_deliveries(notifications_db, Delivery.channel == "webhook") if d.status == "pending"]
    for _ in range(5):
        assert worker.run_once() == 1
        [retrying] = all_deliveries(notifications_db, Delivery.id == fresh[0].id)
        clock.now = retrying.next_attempt_at.replace(tzinfo=timezone.utc)
    assert len(_failing_notices(client, token)) == 2


def test_a_give_up_reason_names_its_limit_in_words():
    assert [in_words(timedelta(**span)) for span in ({"hours": 72}, {"hours": 1}, {"minutes": 30}, {"minutes": 1})] \
        == ["72 hours", "1 hour", "30 minutes", "1 minute"]
