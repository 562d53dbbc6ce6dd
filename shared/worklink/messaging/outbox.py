"""Transactional outbox: write the event with the change, relay it to Kafka later.

`Outbox.publish(session, ...)` inserts the event into the service's `outbox` table
inside the caller's transaction, so the event exists if and only if the change
committed. `OutboxRelay` polls unsent rows in insertion order, publishes them
(acks=all, idempotent producer, key = aggregate id) and marks them sent only once
Kafka has acknowledged them. While the broker is down nothing is marked, so
nothing is lost; rows go out in order when it returns.

A producer can stop delivering for good while the broker is fine: one that outlived the broker's state (a
restarted in-memory broker, a wiped one) has a producer id and sequence numbers the broker does not know, and
kafka-python 3.0's idempotent producer wedges after expiring a batch it had sent (it drops its producer id and
never asks for another; its records then neither go nor expire). The relay then closes it, dropping what it
holds, and makes a fresh one: at once after a failure only such a producer meets, else after
RENEW_AFTER_FAILED_PASSES failed passes in a row, with a growing pause between renewals. The dropped rows are
still unsent, so they go again through the fresh producer: at least once, in order, never lost.

One relay per service publishes at a time (PostgreSQL advisory lock, or a file
lock beside a SQLite database) so two relays cannot interleave one key's events.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import threading
import time
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

import sqlalchemy as sa
from kafka import KafkaProducer
from kafka.errors import KafkaError
from prometheus_client import Counter, Gauge
from sqlalchemy.orm import Session

from worklink.context import TraceParent, correlation_id_var, current_trace, request_id_var
from worklink.db import Database, PlatformTables, is_database_outage, utcnow
from worklink.events.catalogue import Catalogue
from worklink.events.envelope import kafka_headers
from worklink.heartbeat import HEARTBEAT
from worklink.messaging.kafka import assert_same_process, discard_producer

log = logging.getLogger(__name__)

RELAYED = Counter("worklink_outbox_relayed_total", "Outbox events published to Kafka", ["service"])
RELAY_FAILURES = Counter("worklink_outbox_publish_failures_total", "Outbox publish attempts that failed", ["service"])
PRODUCER_RENEWALS = Counter("worklink_outbox_producer_renewals_total",
                            "Relay producers closed and made afresh because they stopped delivering", ["service"])
PENDING = Gauge("worklink_outbox_pending", "Outbox events waiting to be published", ["service"])


RENEW_AFTER_FAILED_PASSES = 5  # whatever the error: a long outage renews the producer now and then


class Outbox:
    """Writes integration events into a service's outbox, in the caller's transaction."""

    def __init__(self, service: str, tables: PlatformTables, catalogue: Catalogue):
        self.service = service
        self.source = f"urn:worklink:{service}"
        self.table = tables.outbox
        self.catalogue = catalogue
        # Built once: `insert().values(...)` per event builds and coerces a new statement,
        # which costs several times the execution of a cached one with parameters.
        self._insert = self.table.insert()

    def publish(self, session: Session, event_type: str, data: dict[str, Any], *,
                subject: str | None = None, version: int | None = None) -> uuid.UUID:
        """Validate and stage an event; raises EventSchemaError if `data` is wrong."""
        row = self.row(event_type, data, subject=subject, version=version)
        session.execute(self._insert, row)
        return row["id"]

    def row(self, event_type: str, data: dict[str, Any], *, subject: str | None = None,
            version: int | None = None) -> dict[str, Any]:
        """The validated outbox row for an event, not yet written: for a caller that writes it
        together with its own rows in one statement (it must still commit with the change)."""
        event, entry = self.catalogue.build(event_type, data, source=self.source,
                                            subject=subject, version=version)
        trace = current_trace()
        return {
            "id": uuid.UUID(event.id),
            "aggregatetype": entry.aggregate_type,
            "aggregateid": event.partitionkey,
            "type": event.type,
            "payload": event.to_json(),
            "traceparent": str(trace.child() if trace else TraceParent.new()),
            "correlationid": correlation_id_var.get() or request_id_var.get() or event.id,
            "created_at": event.time,
            "attempts": 0,
        }


@dataclass
class RelayStats:
    published: int = 0
    failed: int = 0


class RelayLock:
    """Only one relay per service database publishes at a time."""

    def __init__(self, database: Database, name: str):
        self.database = database
        self.name = name
        self._conn = None
        self._file = None
        self._key = zlib.crc32(f"worklink-relay:{name}".encode())

    def acquire(self) -> bool:
        """True while this relay holds the lock; cheap to call on every poll."""
        if self.database.dialect == "postgresql":
            return self._acquire_advisory_lock()
        if self.database.dialect == "sqlite" and self.database.engine.url.database:
            if self._file is not None:
                return True
            handle = Path(self.database.engine.url.database + ".relay.lock").open("a")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                return False
            self._file = handle
            return True
        return True

    def _acquire_advisory_lock(self) -> bool:
        conn = None
        try:
            if self._conn is not None:
                self._conn.execute(sa.text("SELECT 1"))  # still our session, so still our lock
                # ...and no transaction left open between polls: an idle one pins the vacuum horizon, and a
                # server's idle_in_transaction_session_timeout would end the session and the lock with it.
                self._conn.commit()
                return True
            conn = self.database.engine.connect()
            got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar()
            conn.commit()
        except sa.exc.DBAPIError:
            # The session may have gone, and the lock with it; or it lives on (an error that did not end it), still
            # holding the lock: dropped unclosed, the pool kept that session, and no relay - this one either - could
            # take the lock again until the process ended. Invalidated, the session ends and the lock is free.
            for broken in (self._conn, conn):
                if broken is not None:
                    with contextlib.suppress(Exception):
                        broken.invalidate()
            self._conn = None
            return False
        if got:
            self._conn = conn
        else:
            conn.close()
        return bool(got)

    def release(self) -> None:
        if self._conn is not None:
            # The pool keeps the session (and its lock) alive after close(): unlock first.
            try:
                self._conn.execute(sa.text("SELECT pg_advisory_unlock_all()"))
                self._conn.commit()
            finally:
                self._conn.close()
                self._conn = None
        if self._file is not None:
            self._file.close()
            self._file = None


SENT_RETENTION = timedelta(days=7)
RESTRICTED_SENT_RETENTION = timedelta(days=1)


def restricted_event_types(catalogue: Catalogue | None = None) -> frozenset[str]:
    from worklink.events.contracts import CATALOGUE

    return frozenset(e.type for e in (catalogue or CATALOGUE) if e.restricted)


class OutboxRelay:
    """Polls a service's outbox and publishes unsent rows to Kafka, in order.

    It also prunes rows Kafka already has: a restricted event (a person's details handed to
    one consumer) after RESTRICTED_SENT_RETENTION, any other after SENT_RETENTION, so the
    outbox is not a second, unbounded store of what was sent.
    """

    def __init__(self, service: str, database: Database, tables: PlatformTables,
                 producer_factory: Callable[[], KafkaProducer], *, batch_size: int = 1000,
                 poll_interval: float = 0.1, max_backoff: float = 5.0, flush_timeout: float = 60.0,
                 retention: timedelta = SENT_RETENTION, restricted_retention: timedelta = RESTRICTED_SENT_RETENTION,
                 restricted_types: frozenset[str] | None = None, prune_interval: float = 300.0,
                 renew_after_failed_passes: int = RENEW_AFTER_FAILED_PASSES, renew_backoff: float = 5.0,
                 max_renew_backoff: float = 300.0):
        self.retention, self.restricted_retention = retention, restricted_retention
        self.restricted_types = restricted_event_types() if restricted_types is None else restricted_types
        self.prune_interval = prune_interval
        self.service = service
        self.database = database
        self.table = tables.outbox
        self.producer_factory = producer_factory
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.flush_timeout = flush_timeout
        self._producer: KafkaProducer | None = None
        self.renew_after_failed_passes = renew_after_failed_passes
        self.renew_backoff, self.max_renew_backoff = renew_backoff, max_renew_backoff
        self._producer_stale = False  # set by a failure only a stale producer meets
        self._failed_passes = 0  # in a row
        self._renewals = 0  # in this episode (since the relay last delivered)
        self._next_renewal = 0.0  # monotonic time
        self._select = (
            sa.select(self.table.c.position, self.table.c.id, self.table.c.aggregatetype, self.table.c.aggregateid,
                      self.table.c.payload, self.table.c.traceparent, self.table.c.correlationid)
            .where(self.table.c.sent_at.is_(None))
            .order_by(self.table.c.position)
            .limit(batch_size)
        )

    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = self.producer_factory()
        assert_same_process(self._producer)
        return self._producer

    def publish_pending(self) -> RelayStats:
        """Publish one batch of unsent rows; returns what happened."""
        with self.database.engine.connect() as conn:
            rows = conn.execute(self._select).all()
        if not rows:
            return RelayStats()
        sent, failed, error = self._send(rows)
        self._record(sent, failed, error)
        RELAYED.labels(self.service).inc(len(sent))
        if failed:
            RELAY_FAILURES.labels(self.service).inc(len(failed))
        return RelayStats(len(sent), len(failed))

    @staticmethod
    def _is_stale_producer_error(exc: BaseException | None) -> bool:
        """kafka-python marks what retrying gets past as retriable (a broker down, a topic or leader not there
        yet), and a fresh producer would meet that too. Anything else is this producer's own state: a producer
        id, epoch or sequence number the broker does not know (it lost its state), fenced, or stopped in a
        fatal error (the in-memory broker answered its InitProducerId with an unknown error)."""
        return isinstance(exc, KafkaError) and not exc.retriable

    def _send(self, rows) -> tuple[list[uuid.UUID], list[uuid.UUID], Exception | None]:
        """Publish `rows`; returns the event ids sent and failed. Rows are then marked by their
        unique id, not their position: SQLite reuses the position of a deleted last row, so a row
        dropped while its batch was in flight (a withdrawn person's message) must not make the
        relay mark a newer event in its place as sent."""
        producer = self.producer
        futures, error = [], None
        for row in rows:
            headers = kafka_headers(row.traceparent, row.correlationid)
            try:
                future = producer.send(row.aggregatetype, key=row.aggregateid.encode(),
                                       value=row.payload.encode(), headers=headers)
            except KafkaError as exc:  # e.g. no metadata within max_block_ms: broker down
                error = exc
                self._producer_stale |= self._is_stale_producer_error(exc)
                break
            futures.append((row, future))
        try:
            # flush_timeout exceeds delivery_timeout_ms, so every queued record is
            # settled (acknowledged or expired) when this returns.
            producer.flush(timeout=self.flush_timeout)
        except KafkaError as exc:
            # Records neither acknowledged nor expired within a timeout longer than their delivery timeout:
            # the producer's IO thread has stopped delivering.
            error = error or exc
            self._producer_stale = True
        sent, failed = [], []
        failed_keys: set[str] = set()
        for row, future in futures:
            # Never mark a row sent after an earlier row of the same key failed:
            # it is re-sent behind that one, keeping per-key order.
            if future.is_done and future.succeeded() and row.aggregateid not in failed_keys:
                sent.append(row.id)
            else:
                failed.append(row.id)
                failed_keys.add(row.aggregateid)
                error = error or future.exception
                self._producer_stale |= self._is_stale_producer_error(future.exception)
        failed.extend(row.id for row in rows[len(futures):])
        return sent, failed, error

    def _record(self, sent: list[uuid.UUID], failed: list[uuid.UUID], error: Exception | None) -> None:
        table = self.table
        with self.database.engine.begin() as conn:
            now = utcnow()
            for chunk in _chunks(sent, 900):
                conn.execute(table.update().where(table.c.id.in_(chunk))
                             .values(sent_at=now, attempts=table.c.attempts + 1))
            for chunk in _chunks(failed, 900):
                conn.execute(table.update().where(table.c.id.in_(chunk))
                             .values(attempts=table.c.attempts + 1, last_error=repr(error)[:2000]))

    def prune(self, now: datetime | None = None) -> int:
        """Delete sent rows past their retention; returns how many."""
        now = now or utcnow()
        table, sent = self.table, self.table.c.sent_at
        with self.database.engine.begin() as conn:
            pruned = conn.execute(table.delete().where(sent.is_not(None), sent < now - self.retention)).rowcount
            if self.restricted_types:
                pruned += conn.execute(table.delete().where(
                    sent.is_not(None), sent < now - self.restricted_retention,
                    table.c.type.in_(sorted(self.restricted_types)))).rowcount
        return pruned or 0

    def pending(self) -> int:
        with self.database.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(self.table)
                                .where(self.table.c.sent_at.is_(None))).scalar_one()

    def run(self, stop: threading.Event) -> None:
        """Publish until `stop` is set, backing off while the broker is unreachable."""
        lock = RelayLock(self.database, self.service)
        backoff = self.poll_interval
        next_prune = time.monotonic()
        log.info("outbox relay starting", extra={"relay": self.service})
        # A healthy pass takes up to its flush (delivery time-out included) and then waits; a pass stuck longer
        # than its allowance (worklink.heartbeat) makes the worker's /healthz a 503.
        HEARTBEAT.expect(self.flush_timeout + self.max_backoff)
        try:
            while not stop.is_set():
                if not lock.acquire():
                    HEARTBEAT.beat(waiting=1.0)
                    stop.wait(1.0)  # another relay is publishing; stand by
                    continue
                if time.monotonic() >= next_prune:
                    self._prune_safely()
                    next_prune = time.monotonic() + self.prune_interval
                stats = self._publish_safely()
                if stats.failed:
                    backoff = min(max(backoff * 2, 0.5), self.max_backoff)
                    log.warning("outbox publish failed; will retry", extra={"relay": self.service,
                                "failed": stats.failed, "retry_in_s": backoff})
                    HEARTBEAT.beat(waiting=backoff)
                    stop.wait(backoff)
                elif stats.published < self.batch_size:
                    backoff = self.poll_interval
                    HEARTBEAT.beat(waiting=self.poll_interval)
                    stop.wait(self.poll_interval)
                else:
                    HEARTBEAT.beat()
        finally:
            lock.release()
            self.close()

    def _publish_safely(self) -> RelayStats:
        try:
            stats = self.publish_pending()
            if stats.published or stats.failed:
                PENDING.labels(self.service).set(self.pending())
        except sa.exc.SQLAlchemyError as exc:
            if not is_database_outage(exc):  # a bug: the relay stops, its rows stay unsent
                raise
            # The database is down, or refuses the work just now (a standby after a failover): wait, never drop.
            log.warning("outbox relay cannot reach its database", extra={"error": str(exc)[:300]})
            return RelayStats(failed=1)
        except KafkaError as exc:  # e.g. the producer cannot bootstrap: the broker is down or not up yet
            log.warning("outbox relay cannot reach the broker", extra={"error": repr(exc)[:300]})
            self._publish_failed()
            return RelayStats(failed=1)
        if stats.failed:
            self._publish_failed()
        elif stats.published:
            self._delivered()
        return stats

    def _publish_failed(self) -> None:
        """Renew the producer after a failure only a stale one meets, or after too many failed passes in a
        row; never sooner than the renewal backoff after the last renewal of this episode."""
        self._failed_passes += 1
        due = self._producer_stale or self._failed_passes >= self.renew_after_failed_passes
        if self._producer is not None and due and time.monotonic() >= self._next_renewal:
            self._renew_producer()

    def _renew_producer(self) -> None:
        if not self._renewals:  # once per episode; the metric counts every renewal
            log.warning("outbox relay is replacing its Kafka producer; its unsent events go again through the new one",
                        extra={"relay": self.service, "failed_passes": self._failed_passes,
                               "reason": "stale producer" if self._producer_stale else "failed passes in a row"})
        producer, self._producer = self._producer, None  # the next pass makes a fresh one
        discard_producer(producer)
        PRODUCER_RENEWALS.labels(self.service).inc()
        self._renewals += 1
        self._producer_stale, self._failed_passes = False, 0
        # The power capped too: past 2 ** 1023 it no longer fits a float (OverflowError), some days into an outage.
        pause = min(self.renew_backoff * 2 ** min(self._renewals - 1, 30), self.max_renew_backoff)
        self._next_renewal = time.monotonic() + pause

    def _delivered(self) -> None:
        if self._renewals:
            log.info("outbox relay is publishing again",
                     extra={"relay": self.service, "producers_replaced": self._renewals})
        self._producer_stale, self._failed_passes, self._renewals, self._next_renewal = False, 0, 0, 0.0

    def _prune_safely(self) -> None:
        try:
            if pruned := self.prune():
                log.info("outbox pruned", extra={"relay": self.service, "rows": pruned})
        except sa.exc.SQLAlchemyError as exc:
            if not is_database_outage(exc):
                raise
            # Pruning can wait for the database (a pool timeout or a standby after a failover, too).
            log.warning("outbox relay cannot prune", extra={"error": str(exc)[:300]})

    def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            producer.close(timeout=10)
        except KafkaError:  # its records never settled (a stale producer): they are still unsent rows
            discard_producer(producer)


def _chunks(items: list[int], size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def wait_until_drained(relay: OutboxRelay, timeout: float = 60.0) -> None:
    """Publish until the outbox is empty (used by tests and `worklink` tooling)."""
    deadline = time.monotonic() + timeout
    while relay.pending():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{relay.pending()} outbox events still unsent after {timeout}s")
        relay.publish_pending()
