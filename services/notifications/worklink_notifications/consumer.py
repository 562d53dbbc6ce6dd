"""The notifications consumer: the shared idempotent EventConsumer, one transaction per poll.

A notification is cheap to make and events arrive in bursts (a backlog after a
deploy, a nightly SLA sweep), so paying one database commit per event would make
draining a backlog commit-bound. This subclass handles a whole poll's batch of
well-formed events in one transaction: one query finds which events (by source and id) were
already processed, the rest are inserted into `processed_events` and routed together, and
offsets are committed after that transaction - so redelivery still has no second
effect. Anything unusual takes the shared per-record path unchanged: unparseable,
unknown-version or schema-invalid records are dead-lettered by it, unknown types
skipped and counted, and if the batch transaction fails for any reason other than
an outage the whole batch is re-run record by record (retries, then the DLT).
"""

from __future__ import annotations

import logging
import time
from typing import Callable

import sqlalchemy as sa

from worklink import context
from worklink.db import Database, is_database_outage, utcnow
from worklink.events.catalogue import Catalogue, EventSchemaError, UnknownEventType
from worklink.events.contracts import CATALOGUE
from worklink.events.envelope import CloudEvent, EnvelopeError
from worklink.messaging.consumer import OUTCOMES, EventConsumer, Outage, Outcome, ReceivedEvent
from worklink_notifications import routing

log = logging.getLogger(__name__)


class BatchingConsumer(EventConsumer):
    # Routing rules and addresses are re-read at most this often (a change made through
    # the API reaches the consumer within this many seconds) instead of once per batch.
    SNAPSHOT_SECONDS = 5.0
    MAX_BATCH = 500  # records per transaction (a poll returns at most this many)

    _snapshot = None
    _snapshot_at = float("-inf")

    def routing_snapshot(self):
        if time.monotonic() - self._snapshot_at > self.SNAPSHOT_SECONDS:
            with self.database.sessions() as session:
                self._snapshot = routing.load_snapshot(session)
            self._snapshot_at = time.monotonic()
        return self._snapshot

    def poll_once(self, timeout_ms: int = 500) -> list[Outcome]:
        batch = self.consumer.poll(timeout_ms=timeout_ms, max_records=self.MAX_BATCH)
        if not batch:
            self._update_lag()
            return []
        records = [record for partition in batch.values() for record in partition]
        try:
            outcomes = self._process(records)
        except Outage as exc:
            # Rewind the whole batch: what was handled comes back as a duplicate.
            self._wait_out({tp: partition[0].offset for tp, partition in batch.items()}, exc)
            return []
        self._outage_backoff = self.backoff_base  # the outage is over: the next one starts from the shortest wait
        self._commit({tp: partition[-1].offset + 1 for tp, partition in batch.items()})
        self._update_lag()
        return outcomes

    def _process(self, records) -> list[Outcome]:
        """Outcomes in record order: valid events handled together, the rest by the shared path."""
        prepared = [self._prepare(record) for record in records]
        ready = [item for item in prepared if isinstance(item, ReceivedEvent)]
        try:
            together = iter(self._handle_together(ready) if ready else [])
            outcomes = [next(together) if isinstance(item, ReceivedEvent) else item for item in prepared]
        except Outage:
            raise
        except Exception:  # noqa: BLE001 - the per-record path retries, then dead-letters
            log.exception("batch failed; handling its events one by one")
            outcomes = [None if isinstance(item, ReceivedEvent) else item for item in prepared]
        # The shared path only once the batch is past any outage: a batch rewound for one is read again, and a
        # record dead-lettered before the rewind was dead-lettered again at every retry (one per ~5 s).
        return [self.process(record) if outcome is None else outcome for record, outcome in zip(records, outcomes)]

    def _prepare(self, record) -> ReceivedEvent | Outcome | None:
        """A validated event ready for the batch, the outcome of a record to skip, or None for a record the
        shared per-record path takes once the batch is done (it dead-letters it with the shared reasons and
        headers, or reads it as the shared consumer does: a binary-mode event)."""
        try:
            envelope = CloudEvent.from_json(record.value)
            handler_known = envelope.type in self.handlers
            if handler_known:
                entry, data = self.catalogue.load(envelope)
        except (EnvelopeError, UnknownEventType, EventSchemaError):
            return None
        if not handler_known:
            OUTCOMES.labels(self.group_id, envelope.type, Outcome.SKIPPED.value).inc()
            return Outcome.SKIPPED
        return ReceivedEvent(envelope, entry, data, record.topic, record.partition, record.offset)

    def _handle_together(self, events: list[ReceivedEvent]) -> list[Outcome]:
        processed = self.processed
        outcomes: list[Outcome] = []
        handled: list[ReceivedEvent] = []
        try:
            snapshot = self.routing_snapshot()
            # A write transaction from its first read: on SQLite it takes its turn and the write lock up front,
            # so a writer committing between the batch's read and its first write cannot make it fail at once
            # with "database is locked" (a deferred read snapshot cannot become a write) and rewind the batch.
            with self.database.transaction() as session:
                routing.use_snapshot(session, snapshot)
                # By source and id (dedup_key), or a row from before the key named the source
                # (bare id and type): see worklink.messaging.consumer.is_processed.
                rows = {(key, kind) for key, kind in session.execute(
                    sa.select(processed.c.event_id, processed.c.event_type).where(
                        processed.c.consumer == self.group_id,
                        processed.c.event_id.in_([key for e in events for key in (e.dedup_key, e.id)])))}
                seen = {key for key, _ in rows}
                now = utcnow()
                for event in events:
                    if event.dedup_key in seen or (event.id, event.type) in rows:
                        outcomes.append(Outcome.DUPLICATE)
                        continue
                    seen.add(event.dedup_key)  # the same event twice in one batch
                    with context.bound(correlation_id=event.id):
                        self.handlers[event.type](session, event)
                    handled.append(event)
                    outcomes.append(Outcome.HANDLED)
                if handled:
                    session.execute(processed.insert(), [
                        {"consumer": self.group_id, "event_id": e.dedup_key, "event_type": e.type, "processed_at": now}
                        for e in handled])
        except Exception as exc:
            if is_database_outage(exc):  # by what the error means, not only its class (worklink.db)
                raise Outage(exc) from exc
            raise
        for event, outcome in zip(events, outcomes):
            OUTCOMES.labels(self.group_id, event.type, outcome.value).inc()
        if self.on_handled:
            for event in handled:
                self.on_handled(event)
        return outcomes


def build(*, database: Database, group_id: str, consumer_factory: Callable, producer_factory: Callable,
          catalogue: Catalogue = CATALOGUE, handlers=None, on_handled=None) -> BatchingConsumer:
    from worklink.service import get_service
    from worklink_notifications.events import HANDLERS

    return BatchingConsumer(group_id=group_id, database=database, tables=get_service("notifications").tables,
                            catalogue=catalogue, handlers=HANDLERS if handlers is None else handlers,
                            consumer_factory=consumer_factory, producer_factory=producer_factory,
                            on_handled=on_handled)

