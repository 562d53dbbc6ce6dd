"""A broker outage delays work and never stops a relay or a consumer.

On a real broker that the test stops and starts: a relay and a consumer started while the
broker is down wait for it instead of exiting; an offset commit that fails because the broker
went away after the handler's transaction is logged, not fatal, and the redelivery it causes
has no second effect. And `worklink up` counts a child's exits afresh after a healthy run.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest

from worklink.config import KafkaSettings
from worklink.messaging import kafka
from worklink.messaging.consumer import EventConsumer
from worklink.messaging.outbox import Outbox, OutboxRelay
from worklink.messaging.topics import TopicSpec, ensure_topics
from worklink.supervisor import HEALTHY_SECONDS, RESTART_LIMIT, Child
from tests.platform import support

pytestmark = pytest.mark.timeout(400)
QUICK = dict(reconnect_backoff_max_ms=1000, request_timeout_ms=5000)


def test_relay_and_consumer_started_during_an_outage_wait_and_a_lost_commit_is_harmless(
        tmp_path, restartable_kafka, caplog):
    bootstrap = restartable_kafka.bootstrap_servers
    settings = KafkaSettings(bootstrap)
    topic = "test.outage-consumer"
    ensure_topics(settings, [TopicSpec(topic, 1, 1, 3_600_000), TopicSpec(topic + ".dlt", 1, 1, 3_600_000)])
    database = support.make_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    outbox = Outbox("test", support.TABLES, support.catalogue(topic))
    entered, release = threading.Event(), threading.Event()

    def handler(session, event):
        if event.data["seq"] == 2:  # hold the second event's transaction open while the broker goes
            entered.set()
            release.wait(120)
        session.execute(support.effects.insert().values(
            event_id=event.id, thing_id=str(event.data["thing_id"]), seq=event.data["seq"]))

    relay = OutboxRelay("test", database, support.TABLES,
                        lambda: kafka.producer(settings, "test-relay", max_block_ms=2000, bootstrap_timeout_ms=2000,
                                               delivery_timeout_ms=6000, **QUICK))
    relay.max_backoff = 1.0
    consumer = EventConsumer(
        group_id="g-outage", database=database, tables=support.TABLES, catalogue=support.catalogue(topic),
        handlers={"test.thing.happened": handler}, backoff_base=0.2, backoff_max=1.0,
        consumer_factory=lambda: kafka.consumer(settings, "g-outage", "test", session_timeout_ms=6000,
                                                heartbeat_interval_ms=1000, bootstrap_timeout_ms=2000, **QUICK),
        producer_factory=lambda: kafka.producer(settings, "test-dlt", max_block_ms=2000, **QUICK))

    def publish(seq: int) -> None:
        with database.transaction() as session:
            outbox.publish(session, "test.thing.happened", {"thing_id": support.new_id(), "seq": seq})

    def effects() -> list[int]:
        with database.engine.connect() as conn:
            return sorted(r.seq for r in conn.execute(support.effects.select()))

    restartable_kafka.stop()
    stop = threading.Event()
    workers = [threading.Thread(target=relay.run, args=(stop,), daemon=True),
               threading.Thread(target=consumer.run, args=(stop,), daemon=True)]
    caplog.set_level(logging.INFO)
    for worker in workers:
        worker.start()
    try:
        publish(1)
        support.wait_for(lambda: _logged(caplog, "outbox relay cannot reach the broker")
                  and _logged(caplog, "broker unavailable; consumer waiting"), 60, "both to find the broker down")
        assert all(worker.is_alive() for worker in workers)

        restartable_kafka.start()
        support.wait_for(lambda: effects() == [1], 120, "the event written during the outage to be handled")

        publish(2)
        assert entered.wait(60), "the second event never reached its handler"
        restartable_kafka.stop()  # the handler commits, then the offset commit finds no broker
        release.set()
        support.wait_for(lambda: _logged(caplog, "offset commit failed"), 120, "the offset commit to fail")
        assert all(worker.is_alive() for worker in workers)

        restartable_kafka.start()
        publish(3)
        support.wait_for(lambda: effects() == [1, 2, 3], 120, "the event after the outage to be handled")
        time.sleep(3)  # a redelivery of the second event, if any, has had its chance
    finally:
        stop.set()
        for worker in workers:
            worker.join(60)
    assert effects() == [1, 2, 3]  # each once: a redelivery after the lost commit changed nothing
    assert relay.pending() == 0


def test_a_childs_exits_count_afresh_after_a_healthy_run():
    child = Child("referrals-consumer", ["true"], log_path=None)
    child.started_at = 1000.0
    for _ in range(RESTART_LIMIT):  # exits soon after each start: a crash loop
        assert not child.exited_in_a_crash_loop(now=child.started_at + 5)
        child.restarts += 1
    assert child.exited_in_a_crash_loop(now=child.started_at + 5)
    # The same count, but the last run was healthy (an outage later in the day): start again.
    assert not child.exited_in_a_crash_loop(now=child.started_at + HEALTHY_SECONDS + 1)
    assert child.restarts == 0


def _logged(caplog, text: str) -> bool:
    return any(text in record.getMessage() for record in caplog.records)
