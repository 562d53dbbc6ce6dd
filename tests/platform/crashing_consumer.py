"""Run as a subprocess by test_consumer: handle one event, then die like a killed process
after the handler's transaction committed but before the offset commit."""

import os
import sys
import threading

from worklink.config import KafkaSettings
from worklink.messaging import kafka
from worklink.messaging.consumer import EventConsumer
from tests.platform import support
from tests.platform.test_consumer import record_effect


def crash(_event) -> None:
    os._exit(17)  # no cleanup, no offset commit: as abrupt as SIGKILL


def main(database_url: str, bootstrap: str, topic: str, group: str) -> None:
    settings = KafkaSettings(bootstrap)
    consumer = EventConsumer(
        group_id=group, database=support.make_database(database_url), tables=support.TABLES,
        catalogue=support.catalogue(topic), handlers={"test.thing.happened": record_effect},
        consumer_factory=lambda: kafka.consumer(settings, group, "crashing", session_timeout_ms=6000,
                                                heartbeat_interval_ms=1000),
        producer_factory=lambda: kafka.producer(settings, "crashing-dlt"),
        on_handled=crash)
    consumer.run(threading.Event())


if __name__ == "__main__":
    main(*sys.argv[1:])
