"""SIGTERM (what docker and kubernetes send) stops a consumer after the record in hand, on a real broker:
the handled records' offsets are committed, the rest of its batch is the next consumer's, nothing is
handled twice or lost."""

from __future__ import annotations

import threading
import uuid

import pytest

from tests.events import consume as consume_until
from tests.platform import support
from tests.platform.support import make_consumer
from tests.platform.test_consumer import record_effect, send, thing_event
from worklink.messaging.consumer import Outcome

pytestmark = pytest.mark.timeout(300)


def test_a_stopped_consumer_commits_what_it_handled_and_leaves_the_rest_of_its_batch(
        database_url, kafka_broker, new_topic):
    topic, group = new_topic(), f"g-{uuid.uuid4().hex}"
    database = support.make_database(database_url)
    events = [thing_event(topic, seq) for seq in range(1, 6)]
    send(kafka_broker.bootstrap_servers, topic, *(event.to_json().encode() for event in events))
    stop = threading.Event()

    def handle_then_get_sigterm(session, event):
        record_effect(session, event)
        stop.set()  # the signal arrives while this record is being handled

    first = make_consumer(database, kafka_broker.bootstrap_servers, topic, group, handle_then_get_sigterm)
    runner = threading.Thread(target=first.run, args=(stop,))
    runner.start()
    runner.join(90)
    assert not runner.is_alive(), "the consumer did not stop"
    assert support.count(database, support.effects) == 1, "it went on with its batch after SIGTERM"

    successor = make_consumer(database, kafka_broker.bootstrap_servers, topic, group, record_effect)
    try:
        assert consume_until(successor, 4) == [Outcome.HANDLED] * 4  # no duplicate of the first
    finally:
        successor.close()
    assert support.count(database, support.effects) == 5
    assert support.count(database, support.TABLES.processed_events) == 5
