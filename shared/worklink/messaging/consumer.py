"""Idempotent event consumer with bounded retries and a dead-letter topic.

For each record: parse the CloudEvent, find the handler for its type, validate its
data against the catalogue, then run the handler and record the event (by source and id)
in `processed_events` in one database transaction. Offsets are committed only after
that transaction, so a crash in between means redelivery, and redelivery finds the
event already recorded and has no second effect.

Failures:
- unparseable JSON, a broken envelope, an unknown schema version or invalid data
  go straight to `<topic>.dlt`; a handler's PermanentError too;
- any other handler error is retried with exponential backoff, then dead-lettered;
- an outage (database unreachable or refusing the work just now - a serialization failure, a deadlock,
  a standby after a failover: `worklink.db.is_database_outage`; dead-letter topic unwritable) is never
  dead-lettered: the partition is rewound to the record and retried until the
  outage ends, so work is delayed, never dropped.
Event types with no handler are skipped and counted.
`worklink dlt` lists dead letters and re-drives them (worklink.messaging.deadletters). It relies
on a dead-lettered event never being in processed_events (the insert rolls back with the failed
handler, or never happens), so the group that failed it handles the re-driven copy.

An event is one event by its CloudEvents `source` and `id` together (two producers may pick the
same id), so `processed_events.event_id` holds `dedup_key(source, id)`: the hex SHA-256 of both,
64 characters whatever their length. Rows written before that hold the bare id; an event whose
bare id and type such a row names is still a duplicate (`is_processed`), so an upgrade forgets
nothing, and those rows age out with the dedup window like any other.

`processed_events` is pruned as the consumer runs: an id is kept for the dedup window (by
default the longest retention of the topics it reads and their dead-letter topics, plus a day),
the longest a copy of the event can still arrive. Past that no topic holds the event any more,
so no replay or re-drive from a DLT can bring it back.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping

import sqlalchemy as sa
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata
from prometheus_client import Counter, Gauge
from sqlalchemy.orm import Session

from worklink import context
from worklink.db import Database, PlatformTables, is_database_outage, utcnow
from worklink.events.catalogue import Catalogue, EventSchemaError, EventType, UnknownEventType
from worklink.events.envelope import HEADER_CORRELATION_ID, HEADER_TRACEPARENT, CloudEvent, header_value
from worklink.heartbeat import HEARTBEAT
from worklink.logs import without_personal_details
from worklink.messaging.kafka import assert_same_process, discard_producer

log = logging.getLogger(__name__)

DLT_SUFFIX = ".dlt"
# Marks a re-drive's receipt on a dead-letter topic (worklink.messaging.deadletters): only the operator's CLI
# writes it. A record's own copy is dropped when it is dead-lettered, or the record would pass for a receipt.
HEADER_AUDIT = "worklink-audit"
# Used when the topics' retention is not known: longer than any topic in deploy/topics.toml keeps an event.
DEFAULT_DEDUP_WINDOW = timedelta(days=31)
OUTCOMES = Counter("worklink_consumer_events_total", "Events seen by a consumer, by outcome",
                   ["group", "type", "outcome"])
LAG = Gauge("worklink_consumer_lag", "Records between a consumer's position and the partition end",
            ["group", "topic", "partition"])


class PermanentError(Exception):
    """Raised by a handler when the event can never succeed: dead-letter it now."""


class Outage(Exception):
    """A dependency is down; the record must be retried later, never dead-lettered."""


class Outcome(enum.Enum):
    HANDLED = "handled"
    DUPLICATE = "duplicate"
    SKIPPED = "skipped"
    DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True)
class ReceivedEvent:
    envelope: CloudEvent
    entry: EventType
    data: dict[str, Any]  # validated and deserialised (UUIDs, datetimes)
    topic: str
    partition: int
    offset: int

    @property
    def id(self) -> str:
        return self.envelope.id

    @property
    def type(self) -> str:
        return self.envelope.type

    @property
    def source(self) -> str:
        return self.envelope.source

    @property
    def dedup_key(self) -> str:
        return dedup_key(self.envelope.source, self.envelope.id)


def dedup_key(source: str, event_id: str) -> str:
    """What `processed_events.event_id` holds for an event: unique by source and id together
    (CloudEvents), unambiguous (a JSON pair, hashed) and short enough for the column."""
    return hashlib.sha256(json.dumps([source, event_id]).encode()).hexdigest()


def is_processed(processed: sa.Table, group_id: str, event: ReceivedEvent) -> sa.ColumnElement[bool]:
    """This group's row for the event: by source and id, or a row from before the key named the
    source (the bare id, with the type: one publisher sends a type, so that is its source too)."""
    return sa.and_(processed.c.consumer == group_id,
                   sa.or_(processed.c.event_id == event.dedup_key,
                          sa.and_(processed.c.event_id == event.id, processed.c.event_type == event.type)))


Handler = Callable[[Session, ReceivedEvent], None]



def dlt_topic(topic: str) -> str:
    return topic + DLT_SUFFIX


class EventConsumer:
    def __init__(self, *, group_id: str, database: Database, tables: PlatformTables,
                 catalogue: Catalogue, handlers: Mapping[str, Handler],
                 consumer_factory: Callable[[], KafkaConsumer],
                 producer_factory: Callable[[], KafkaProducer],
                 max_attempts: int = 4, backoff_base: float = 0.2, backoff_max: float = 5.0,
                 on_handled: Callable[[ReceivedEvent], None] | None = None,
                 dedup_window: timedelta = DEFAULT_DEDUP_WINDOW, prune_interval: float = 3600.0):
        unknown = [t for t in handlers if t not in catalogue]
        if unknown:
            raise ValueError(f"handlers for event types not in the catalogue: {unknown}")
        self.group_id = group_id
        self.database = database
        self.processed = tables.processed_events
        self.catalogue = catalogue
        self.handlers = dict(handlers)
        self.topics = sorted({catalogue.latest(t).topic for t in handlers})
        self.consumer_factory = consumer_factory
        self.producer_factory = producer_factory
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.on_handled = on_handled
        self.dedup_window = dedup_window
        self.prune_interval = prune_interval
        self._consumer: KafkaConsumer | None = None
        self._producer: KafkaProducer | None = None
        self._outage_backoff = backoff_base
        self._lag_updated = 0.0
        # Set by run()'s caller on SIGTERM: the batch in hand stops after the record being handled.
        self._stopping = threading.Event()

    # --- lifecycle -----------------------------------------------------------

    @property
    def consumer(self) -> KafkaConsumer:
        if self._consumer is None:
            self._consumer = self.consumer_factory()
            self._consumer.subscribe(self.topics)
        return self._consumer

    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = self.producer_factory()
        assert_same_process(self._producer)
        return self._producer

    def run(self, stop: threading.Event) -> None:
        self._stopping = stop
        log.info("consumer starting", extra={"group": self.group_id, "topics": self.topics,
                                             "dedup_window_days": self.dedup_window / timedelta(days=1)})
        next_prune = time.monotonic()
        broker_backoff = self.backoff_base
        # The longest a healthy poll cycle goes without a beat: one record's retries (each record beats, as does
        # each poll, idle or not). A cycle stuck longer (worklink.heartbeat) makes the worker's /healthz a 503.
        HEARTBEAT.expect(self.max_attempts * self.backoff_max * 1.2)
        try:
            while not stop.is_set():
                HEARTBEAT.beat()
                try:
                    self.poll_once()
                except KafkaError as exc:  # e.g. cannot bootstrap: the broker is down or not up yet
                    log.warning("broker unavailable; consumer waiting", extra={
                        "group": self.group_id, "error": repr(exc)[:300], "retry_in_s": broker_backoff})
                    HEARTBEAT.beat(waiting=broker_backoff)
                    stop.wait(broker_backoff)
                    broker_backoff = min(broker_backoff * 2, max(self.backoff_max, 5.0))
                    continue
                broker_backoff = self.backoff_base
                if time.monotonic() >= next_prune:
                    self._prune_safely()
                    next_prune = time.monotonic() + self.prune_interval
        finally:
            self.close()

    def prune_processed(self, now: datetime | None = None) -> int:
        """Forget this group's processed ids older than the dedup window; returns how many."""
        processed = self.processed
        cutoff = (now or utcnow()) - self.dedup_window
        with self.database.transaction() as session:
            return session.execute(processed.delete().where(processed.c.consumer == self.group_id,
                                                            processed.c.processed_at < cutoff)).rowcount or 0

    def _prune_safely(self) -> None:
        try:
            if pruned := self.prune_processed():
                log.info("processed events pruned", extra={"group": self.group_id, "rows": pruned})
        except sa.exc.SQLAlchemyError as exc:  # the database is down: handling waits for it anyway
            log.warning("consumer cannot prune processed events", extra={"error": str(exc)[:300]})

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close(autocommit=False)  # offsets are only ever committed after handling
            self._consumer = None
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=10)
            except KafkaError:  # a stale producer's close() gives up before stopping its IO thread
                discard_producer(producer)

    # --- the loop --------------------------------------------------------------

    def poll_once(self, timeout_ms: int = 500) -> list[Outcome]:
        batch = self.consumer.poll(timeout_ms=timeout_ms)
        outcomes: list[Outcome] = []
        next_offsets: dict[TopicPartition, int] = {}
        for tp, records in batch.items():
            for record in records:
                # Stopping (SIGTERM): the handled records' offsets are committed below and the rest of the
                # batch is the next owner's, so a stop waits for one record, not a batch of up to 200.
                if self._stopping.is_set():
                    break
                try:
                    outcomes.append(self.process(record))
                except Outage as exc:
                    self._wait_out({tp: record.offset}, exc)
                    break  # the rest of this partition's batch comes again after the seek
                next_offsets[tp] = record.offset + 1
                self._outage_backoff = self.backoff_base
        self._commit(next_offsets)
        self._update_lag()
        return outcomes

    def _commit(self, next_offsets: dict[TopicPartition, int]) -> None:
        if not next_offsets:
            return
        try:
            self.consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in next_offsets.items()})
        except KafkaError as exc:
            # Not committed (the group rebalanced, or the broker went away after the handler's
            # transaction): whoever reads these records next gets them again, and the
            # processed-events table makes that harmless. The next commit covers them.
            log.warning("offset commit failed; the records will be redelivered as duplicates",
                        extra={"group": self.group_id, "error": repr(exc)[:300]})

    def _wait_out(self, positions: dict[TopicPartition, int], exc: Exception) -> None:
        """Rewind each partition to the record to retry, then wait once: one outage is one wait, however
        many partitions a batch spans (a wait per partition stalled a batching consumer for backoff x partitions)."""
        (tp, offset), *_ = positions.items()
        log.warning("outage while handling; will retry the record",
                    extra={"group": self.group_id, "topic": tp.topic, "partition": tp.partition, "offset": offset,
                           "partitions": len(positions), "error": str(exc)[:300], "retry_in_s": self._outage_backoff})
        for tp, offset in positions.items():
            self.consumer.seek(tp, offset)
        HEARTBEAT.beat(waiting=self._outage_backoff)
        self._stopping.wait(self._outage_backoff)
        self._outage_backoff = min(self._outage_backoff * 2, self.backoff_max)

    def _update_lag(self) -> None:
        if time.monotonic() - self._lag_updated < 5:
            return
        self._lag_updated = time.monotonic()
        for tp in self.consumer.assignment():
            highwater = self.consumer.highwater(tp)
            if highwater is None:
                continue
            try:
                LAG.labels(self.group_id, tp.topic, tp.partition).set(max(highwater - self.consumer.position(tp), 0))
            except KafkaError:
                pass

    # --- one record --------------------------------------------------------------

    def process(self, record) -> Outcome:
        HEARTBEAT.beat()  # a long batch, record by record, is progress
        # Reading a record is pure computation on its bytes, so whatever it raises (a tombstone,
        # absurd nesting, a number int() refuses) means this record is bad, never an outage:
        # it is dead-lettered and the partition moves on instead of the process dying on it.
        try:
            envelope = CloudEvent.from_kafka(record.value, record.headers)
        except Exception as exc:  # noqa: BLE001 - EnvelopeError, or anything a hostile record provokes
            return self._dead_letter(record, "malformed", exc, "unparseable")
        handler = self.handlers.get(envelope.type)
        if handler is None:
            OUTCOMES.labels(self.group_id, self._type_label(envelope.type), Outcome.SKIPPED.value).inc()
            return Outcome.SKIPPED
        try:
            entry, data = self.catalogue.load(envelope)
        except UnknownEventType as exc:
            return self._dead_letter(record, "unsupported-version", exc, envelope.type)
        except EventSchemaError as exc:
            return self._dead_letter(record, "schema-invalid", exc, envelope.type)
        except Exception as exc:  # noqa: BLE001 - as above
            return self._dead_letter(record, "malformed", exc, envelope.type)

        received = ReceivedEvent(envelope, entry, data, record.topic, record.partition, record.offset)
        # The record's writer chose its headers: a correlation id that is no id is replaced by the event's own.
        correlation = context.an_id(header_value(record.headers, HEADER_CORRELATION_ID)) or envelope.id
        with context.bound(correlation_id=correlation, traceparent=header_value(record.headers, HEADER_TRACEPARENT)):
            outcome = self._handle_with_retries(handler, received, record)
        if outcome is not Outcome.DEAD_LETTERED:  # counted where it is dead-lettered
            OUTCOMES.labels(self.group_id, envelope.type, outcome.value).inc()
        return outcome

    def _handle_with_retries(self, handler: Handler, received: ReceivedEvent, record) -> Outcome:
        for attempt in range(1, self.max_attempts + 1):
            try:
                outcome = self._handle_once(handler, received)
            except PermanentError as exc:
                return self._dead_letter(record, "rejected", exc, received.type)
            except Exception as exc:  # noqa: BLE001 - any handler bug is retried, then dead-lettered
                if is_database_outage(exc):  # by what the error means, not only its class (worklink.db)
                    raise Outage(exc) from exc
                if attempt == self.max_attempts:
                    log.exception("handler failed; dead-lettering", extra={"event_id": received.id})
                    return self._dead_letter(record, "handler-failed", exc, received.type)
                delay = min(self.backoff_base * 2 ** (attempt - 1), self.backoff_max)
                log.warning("handler failed; retrying", extra={"event_id": received.id,
                            "attempt": attempt, "retry_in_s": delay, "error": repr(exc)[:300]})
                if self._stopping.wait(delay * random.uniform(0.8, 1.2)):
                    raise Outage(exc)  # stopping: not dead-lettered; the record is the next owner's
                continue
            if outcome is Outcome.HANDLED and self.on_handled:
                self.on_handled(received)
            return outcome
        raise AssertionError("unreachable")

    def _handle_once(self, handler: Handler, received: ReceivedEvent) -> Outcome:
        processed = self.processed
        seen = sa.select(processed.c.event_id).where(is_processed(processed, self.group_id, received))
        try:
            with self.database.transaction() as session:
                if session.execute(seen).first():
                    return Outcome.DUPLICATE
                session.execute(processed.insert().values(consumer=self.group_id, event_id=received.dedup_key,
                                                          event_type=received.type, processed_at=utcnow()))
                handler(session, received)
        except sa.exc.IntegrityError:
            # A concurrent delivery of the same event committed first.
            with self.database.sessions() as session:
                if session.execute(seen).first():
                    return Outcome.DUPLICATE
            raise
        return Outcome.HANDLED

    def _dead_letter(self, record, reason: str, error: Exception, event_type: str) -> Outcome:
        # The record's headers are its writer's choice: none of them may pass for ours (dlt-*, a receipt's mark).
        headers = [(k, v) for k, v in (record.headers or []) if not k.startswith("dlt-") and k != HEADER_AUDIT]
        headers += [
            ("dlt-reason", reason.encode()),
            # As in a log line (worklink.logs): an error may quote what the handler read.
            ("dlt-error", without_personal_details(f"{type(error).__name__}: {error}")[:2000].encode()),
            ("dlt-original-topic", record.topic.encode()),
            ("dlt-original-partition", str(record.partition).encode()),
            ("dlt-original-offset", str(record.offset).encode()),
            ("dlt-consumer-group", self.group_id.encode()),
            ("dlt-failed-at", datetime.now(timezone.utc).isoformat().encode()),
        ]
        try:
            self.producer.send(dlt_topic(record.topic), key=record.key, value=record.value,
                               headers=headers).get(timeout=30)
        except KafkaError as exc:
            # The retry takes a fresh producer: this one may never deliver again (a broker that lost its state
            # no longer knows its producer id; see worklink.messaging.outbox), and dead letters are rare.
            producer, self._producer = self._producer, None
            if producer is not None:
                discard_producer(producer)
            raise Outage(f"cannot write to the dead-letter topic: {exc}") from exc
        log.error("event dead-lettered", extra={"group": self.group_id, "reason": reason,
                  "topic": record.topic, "partition": record.partition, "offset": record.offset,
                  "error": str(error)[:500]})
        OUTCOMES.labels(self.group_id, self._type_label(event_type), Outcome.DEAD_LETTERED.value).inc()
        return Outcome.DEAD_LETTERED

    def _type_label(self, event_type: str) -> str:
        """A metric label: a type the catalogue knows, else "unknown" - each label value is kept
        in memory for the process's life, and a record's type can be any string at all."""
        return event_type if event_type == "unparseable" or event_type in self.catalogue else "unknown"
