"""kafka-python clients configured one way for every process.

Producers are only ever built inside a running relay or consumer process (after
any fork), never at import time: kafka-python's IO thread does not survive fork.
"""

from __future__ import annotations

import os
import socket

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from worklink.config import KafkaSettings


def producer(kafka: KafkaSettings, client_id: str, **overrides) -> KafkaProducer:
    options = dict(
        bootstrap_servers=kafka.servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,  # explicit: a conflicting setting then fails fast
        max_in_flight_requests_per_connection=5,
        linger_ms=5,
        batch_size=256 * 1024,
        compression_type=None,
        max_block_ms=10_000,
        request_timeout_ms=10_000,
        delivery_timeout_ms=30_000,
        retry_backoff_ms=200,
        **kafka.security,
    )
    options.update(overrides)
    created = KafkaProducer(**options)
    created._worklink_pid = os.getpid()
    return created


def discard_producer(kafka_producer: KafkaProducer, timeout: float = 10.0) -> None:
    """Close a producer that stopped delivering, dropping the records it still holds (their futures fail).

    Its caller sends them again through a fresh producer. kafka-python's own close() flushes first and, when
    the records never settle, raises KafkaTimeoutError before it stops the IO thread, leaving that thread and
    its sockets running (and the records able to go out later, behind newer ones): stop the thread ourselves.
    """
    try:
        kafka_producer.close(timeout=0)  # 0: no graceful wait; raises at once if records are unsettled
        return
    except KafkaError:
        pass
    if (sender := getattr(kafka_producer, "_sender", None)) is not None:
        sender.force_close()  # fails every record still queued or in flight
        sender.join(timeout)
    try:
        kafka_producer.close(timeout=0)  # its records settled (failed): releases metrics and marks it closed
    except KafkaError:
        pass


def assert_same_process(kafka_producer: KafkaProducer) -> None:
    """Refuse to use a producer inherited across fork: its IO thread is gone."""
    if getattr(kafka_producer, "_worklink_pid", os.getpid()) != os.getpid():
        raise RuntimeError("KafkaProducer was created in another process; create it after fork")


def consumer(kafka: KafkaSettings, group_id: str, client_id: str, **overrides) -> KafkaConsumer:
    options = dict(
        bootstrap_servers=kafka.servers,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,  # offsets are committed after the handler's transaction
        auto_offset_reset="earliest",  # a new group must not skip what was already published
        isolation_level="read_committed",
        max_poll_records=200,
        max_poll_interval_ms=300_000,
        # 10 s (Kafka's pre-3.0 default) notices a dead consumer quickly and keeps
        # group joins short on the embedded broker, which takes ~session/2 to assign.
        session_timeout_ms=10_000,
        heartbeat_interval_ms=2_000,
        bootstrap_timeout_ms=10_000,  # while the broker is down, the caller retries (and can stop) sooner
        # A group leader that joins before it has a topic's metadata assigns that topic's partitions
        # to no one, and kafka-python rejoins only when its next metadata refresh shows them: 30 s
        # (not the 5 min default) bounds how long a starting consumer can sit with nothing to read.
        metadata_max_age_ms=30_000,
        **kafka.security,
    )
    options.update(overrides)
    created = KafkaConsumer.__new__(KafkaConsumer)
    try:
        created.__init__(**options)
    except Exception:
        # A failed bootstrap (broker down) leaves the client's IO thread and sockets running,
        # and the caller retries until the broker answers: stop them, or each retry leaks.
        if (client := getattr(created, "_client", None)) is not None:
            client.close()
        raise
    return created


def admin(kafka: KafkaSettings, client_id: str = "worklink-admin", **overrides) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=kafka.servers, client_id=client_id,
                            request_timeout_ms=15_000, **kafka.security, **overrides)


def broker_reachable(kafka: KafkaSettings, timeout: float = 1.0) -> bool:
    """Cheap readiness probe: can we open a TCP connection to any bootstrap server?"""
    for server in kafka.servers:
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout):
                return True
        except (OSError, ValueError):
            continue
    return False
