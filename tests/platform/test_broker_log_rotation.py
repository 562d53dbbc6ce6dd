"""`worklink up --broker kafka`: the real broker's own log is kept in var/logs beside the processes' logs and
rotated as they are (devstack.housekeeping), while the broker runs and writes to it."""

from __future__ import annotations

import functools
import os

import pytest

from worklink.config import KafkaSettings
from worklink.devstack import free_port, housekeeping
from worklink.messaging.topics import TopicSpec, ensure_topics
from worklink.supervisor import Supervisor

pytestmark = pytest.mark.timeout(300)


def test_the_kafka_brokers_log_is_rotated_in_place_and_the_running_broker_writes_on_into_the_emptied_file(
        tmp_path, monkeypatch):
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        pytest.skip("`up` uses an external cluster when KAFKA_BOOTSTRAP_SERVERS is set")
    monkeypatch.setenv("WORKLINK_VAR", str(tmp_path / "var"))
    monkeypatch.setenv("KAFKA_PORT", str(free_port()))
    supervisor = Supervisor(broker="kafka")
    (supervisor.var / "logs").mkdir(parents=True)
    log = supervisor.var / "logs" / "broker.log"
    # Any size is over the limit here, so the sweep `up` runs every 30 s rotates the broker's log now.
    monkeypatch.setattr(housekeeping, "rotate_log", functools.partial(housekeeping.rotate_log, max_bytes=1))
    try:
        bootstrap = supervisor._start_broker()
        assert supervisor.broker.log_file == log
        assert b"Kafka Server started" in log.read_bytes()
        assert not (supervisor.var / "kafka" / "kafka.log").exists()

        supervisor._keep_var_bounded()
        copy = log.with_name("broker.log.1")
        assert b"Kafka Server started" in copy.read_bytes()
        assert len(log.read_bytes()) < 1000  # emptied (the running broker may have written a line since)

        # The running broker writes on, to the start of the emptied file: a topic's creation is logged.
        ensure_topics(KafkaSettings(bootstrap), [TopicSpec("test.rotated-log", 1, 1, 3_600_000)])
        supervisor.broker.stop()
    finally:
        if supervisor.broker is not None:
            supervisor.broker.stop()
    written = log.read_bytes()
    assert not written.startswith(b"\0")  # no hole of NUL bytes up to where the broker had written before
    assert b"test.rotated-log" in written
    assert b"Kafka Server started" not in written  # that went to the copy
