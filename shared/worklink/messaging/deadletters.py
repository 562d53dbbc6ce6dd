"""Dead-letter topics for operators: what a `<topic>.dlt` holds, and re-driving its records.

A re-driven record is the dead letter as it was - same key, value and headers, less the `dlt-*`
ones - published again to its original topic with two headers of its own:
  redriven-from  `<dlt topic>:<partition>:<offset>`, the dead letter it came from;
  redrive-count  how often this event has been re-driven (kept if it is dead-lettered again).
A dead letter counts as re-driven once its original topic holds a copy of its record (one whose
`redrive-run` names a receipt listing it: a topic's writer can put any headers on a record): `redrive`
leaves those out, so a second run publishes nothing, and publishes a record several consumer
groups dead-lettered (a malformed one, say) once. Consumers do the rest. A consumer never
records a dead-lettered event as processed (the insert shares the handler's rolled-back
transaction), so the group that dead-lettered it handles the copy and then records it as
usual; a group that handled the event the first time finds it in processed_events and skips
it. That holds while the group still remembers the id: its dedup window (the longest retention
of its topics and their DLTs, plus a day) runs from when it handled the event, after the event's
`time`. An event can come back more than once (re-driven, failed again, re-driven again), so an
event older than its topic's window, less a day for the copy to reach the consumers, is not
re-driven: a group could have forgotten it and handle it twice. A copy that fails again is
dead-lettered again with its reason, as a new dead letter: nothing here re-drives by itself.

Every re-drive is recorded before anything is sent (`record_redrive`): who ran it (the
operator's name and Kafka principal, the host), when, from which dead-letter topic to which topic,
and each record's position, event id, type and reason - never its data. The CLI has no database of
its own (each service's database answers its own role alone), so the record goes on the
dead-letter topic itself as a receipt (header `worklink-audit: dlt-redrive`), where the operators who
read dead letters find it and `list` shows it, and out as a structured log line. Each copy carries
the run's id (`redrive-run`) to its receipt. Receipts are no dead letters: `list` and `redrive`
leave them out.

Only ids, types, sources, reasons, errors and timestamps leave this module: a record's data
(a person's details, on a restricted topic) is never printed.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any, Iterable, Iterator

from kafka import KafkaConsumer, TopicPartition

from worklink.config import KafkaSettings
from worklink.events.envelope import CloudEvent, header_value
from worklink.messaging import kafka
from worklink.messaging.consumer import DEFAULT_DEDUP_WINDOW, DLT_SUFFIX, HEADER_AUDIT
from worklink.messaging.topics import dedup_window

REASONS = ("malformed", "unsupported-version", "schema-invalid", "rejected", "handler-failed")
HEADER_REDRIVEN_FROM = "redriven-from"
HEADER_REDRIVE_COUNT = "redrive-count"
HEADER_REDRIVE_RUN = "redrive-run"
# HEADER_AUDIT (worklink-audit) marks a receipt of a re-drive on a dead-letter topic, not a dead letter.
AUDIT_REDRIVE = b"dlt-redrive"
# Clocks differ between the host that dead-lettered a record and the one re-driving it.
CLOCK_MARGIN = timedelta(hours=1)
# A re-driven copy must reach every consumer while they still remember the event's id.
DELIVERY_MARGIN = timedelta(days=1)


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None = field(repr=False)
    value: bytes | None = field(repr=False)
    headers: tuple[tuple[str, bytes], ...] = field(repr=False)

    @property
    def position(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def reference(self) -> str:
        """What a re-driven copy's `redriven-from` header says."""
        return f"{self.topic}:{self.position}"

    @property
    def original_topic(self) -> str:
        return self.topic.removesuffix(DLT_SUFFIX)

    @property
    def original(self) -> str:
        """The record this is a dead letter of. Every group reading a topic dead-letters a
        malformed record, so one record can have several dead letters."""
        headers = list(self.headers)
        where = [header_value(headers, f"dlt-original-{part}") for part in ("topic", "partition", "offset")]
        return ":".join(where) if all(where) else self.reference

    @property
    def reason(self) -> str | None:
        return header_value(list(self.headers), "dlt-reason")

    @property
    def redrive_count(self) -> int:
        count = header_value(list(self.headers), HEADER_REDRIVE_COUNT) or "0"
        return int(count) if count.isdigit() else 0

    @cached_property
    def envelope(self) -> CloudEvent | None:
        try:
            return CloudEvent.from_kafka(self.value, list(self.headers))  # either content mode
        except Exception:  # noqa: BLE001 - a malformed record has no envelope to show
            return None

    @property
    def event_time(self) -> datetime | None:
        if self.envelope is None:
            return None
        time = self.envelope.time
        return time if time.tzinfo else time.replace(tzinfo=timezone.utc)

    @property
    def event_id(self) -> str | None:
        return _printable(self.envelope.id, 100) if self.envelope else None

    def summary(self, redriven: bool, redrive_by: datetime | None) -> dict[str, Any]:
        """What an operator may see: never the event's data."""
        envelope, headers = self.envelope, list(self.headers)
        return {
            "position": self.position,
            "dead_lettered_at": header_value(headers, "dlt-failed-at") or _iso(self.timestamp_ms),
            "reason": self.reason,
            "type": _printable(envelope.type, 100) if envelope else None,
            "event_id": self.event_id,
            "source": _printable(envelope.source, 200) if envelope else None,
            "consumer_group": header_value(headers, "dlt-consumer-group"),
            "error": _printable(header_value(headers, "dlt-error") or "", 2000),
            "redrive_count": self.redrive_count,
            "redriven": redriven,
            "redrive_by": redrive_by.isoformat() if redrive_by else None,
        }

    def redrive_headers(self, run: str | None = None) -> list[tuple[str, bytes]]:
        ours = (HEADER_REDRIVEN_FROM, HEADER_REDRIVE_COUNT, HEADER_REDRIVE_RUN)
        kept = [(k, v) for k, v in self.headers if not k.startswith("dlt-") and k not in ours]
        return kept + [(HEADER_REDRIVEN_FROM, self.reference.encode()),
                       (HEADER_REDRIVE_COUNT, str(self.redrive_count + 1).encode())] + (
                           [(HEADER_REDRIVE_RUN, run.encode())] if run else [])

    def audit_entry(self) -> dict[str, Any]:
        """What a re-drive's receipt says of this record: where it was, and ids - never data."""
        envelope = self.envelope
        return {"position": self.position, "event_id": self.event_id, "reason": self.reason,
                "type": _printable(envelope.type, 100) if envelope else None}


@dataclass(frozen=True)
class DeadLetterTopic:
    name: str
    letters: list[DeadLetter]
    redriven: set[str]  # the original records put back on their topic
    dedup_window: timedelta  # the shortest its topic's consumers remember an event id
    receipts: list[dict[str, Any]] = field(default_factory=list)  # the re-drives recorded on it

    def is_redriven(self, letter: DeadLetter) -> bool:
        return letter.original in self.redriven

    def redrive_by(self, letter: DeadLetter) -> datetime | None:
        """Until when its event may be re-driven (None: no event, so no id to remember)."""
        time = letter.event_time
        return time + self.dedup_window - DELIVERY_MARGIN if time else None

    def too_old(self, letter: DeadLetter, now: datetime | None = None) -> bool:
        deadline = self.redrive_by(letter)
        return deadline is not None and deadline < (now or datetime.now(timezone.utc))

    def summary(self, letter: DeadLetter) -> dict[str, Any]:
        return {**letter.summary(self.is_redriven(letter), self.redrive_by(letter)),
                "redrives": self.redrives_of(letter)}

    def redrives_of(self, letter: DeadLetter) -> list[dict[str, Any]]:
        """Who re-drove this dead letter, and when (from the receipts)."""
        return [{key: _printable(receipt[key], 200) if receipt.get(key) is not None else None
                 for key in ("run", "at", "operator", "kafka_principal")}
                for receipt in self.receipts
                if letter.position in {entry.get("position") for entry in receipt.get("records") or []
                                       if isinstance(entry, dict)}]


def inspect(settings: KafkaSettings, name: str) -> DeadLetterTopic:
    """What the dead-letter topic `name` holds now, and which of it was re-driven."""
    letters, receipts = [], []
    for record in _read(settings, name):
        if header_value(list(record.headers or ()), HEADER_AUDIT) is not None:
            receipts.append(_receipt(record.value))
        else:
            letters.append(_dead_letter(record))
    # Every consumer of the topic remembers an id at least this long (the workers pass the
    # window of all the topics they read; the default when a topic is not declared).
    window = dedup_window([name.removesuffix(DLT_SUFFIX)]) or DEFAULT_DEDUP_WINDOW
    return DeadLetterTopic(name, letters, redriven_originals(settings, letters, receipts), window, receipts)


def dead_letter_topic(name: str) -> str:
    """`referrals.referral` and `referrals.referral.dlt` both name the dead-letter topic."""
    return name if name.endswith(DLT_SUFFIX) else name + DLT_SUFFIX


def read_dead_letters(settings: KafkaSettings, dlt: str) -> list[DeadLetter]:
    """Every dead letter the dead-letter topic holds now (not the receipts), oldest first per partition."""
    return [_dead_letter(r) for r in _read(settings, dlt)
            if header_value(list(r.headers or ()), HEADER_AUDIT) is None]


def _dead_letter(r: Any) -> DeadLetter:
    return DeadLetter(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value, tuple(r.headers or ()))


def _receipt(value: bytes | None) -> dict[str, Any]:
    try:
        receipt = json.loads(value or b"")
    except ValueError:
        return {}
    return receipt if isinstance(receipt, dict) else {}


def redriven_originals(settings: KafkaSettings, letters: list[DeadLetter],
                       receipts: list[dict[str, Any]]) -> set[str]:
    """The original records of `letters` that their topic already holds a re-driven copy of: a record naming
    the dead letter (`redriven-from`) and a re-drive whose receipt lists it (`redrive-run`). Any writer of the
    topic can put `redriven-from` on a record; the receipts are on the dead-letter topic, which it cannot read.
    A copy is published after its dead letter, so the scan starts there (less a clock margin)."""
    if not letters:
        return set()
    recorded = {(f"{receipt.get('dead_letter_topic')}:{entry.get('position')}", receipt.get("run"))
                for receipt in receipts for entry in receipt.get("records") or [] if isinstance(entry, dict)}
    since = min(letter.timestamp_ms for letter in letters) - CLOCK_MARGIN / timedelta(milliseconds=1)
    found = {(header_value(r.headers, HEADER_REDRIVEN_FROM), header_value(r.headers, HEADER_REDRIVE_RUN))
             for r in _read(settings, letters[0].original_topic, since_ms=max(int(since), 0))} & recorded
    return {letter.original for letter in letters if letter.reference in {reference for reference, _ in found}}


def select(letters: Iterable[DeadLetter], *, reasons: Iterable[str] = (), event_ids: Iterable[str] = (),
           positions: Iterable[str] = ()) -> list[DeadLetter]:
    """The dead letters matching every kind of selector given (any value within a kind)."""
    reasons, event_ids, positions = set(reasons), set(event_ids), set(positions)
    return [letter for letter in letters
            if (not reasons or letter.reason in reasons)
            and (not event_ids or letter.event_id in event_ids)
            and (not positions or letter.position in positions)]


def one_per_record(letters: Iterable[DeadLetter]) -> list[DeadLetter]:
    """The first dead letter of each original record: one copy on the topic reaches every
    group again, so a record several groups dead-lettered goes back once, not once per group."""
    first: dict[str, DeadLetter] = {}
    for letter in letters:
        first.setdefault(letter.original, letter)
    return list(first.values())


@dataclass(frozen=True)
class RedrivePlan:
    send: list[DeadLetter]  # one dead letter per original record
    already: list[DeadLetter]  # their record is back on the topic
    too_old: list[DeadLetter]  # consumers may have forgotten handling their event
    merged: int  # dead letters whose record goes back with another of `send` (several groups)


def plan_redrive(found: DeadLetterTopic, chosen: list[DeadLetter], now: datetime | None = None) -> RedrivePlan:
    waiting = [letter for letter in chosen if not found.is_redriven(letter)]
    fresh = [letter for letter in waiting if not found.too_old(letter, now)]
    send = one_per_record(fresh)
    return RedrivePlan(send=send, already=[letter for letter in chosen if found.is_redriven(letter)],
                       too_old=[letter for letter in waiting if found.too_old(letter, now)],
                       merged=len(fresh) - len(send))


def redrive_receipt(dlt: str, letters: list[DeadLetter], *, operator: str, kafka_principal: str | None,
                    host: str, now: datetime | None = None) -> dict[str, Any]:
    """The audit record of re-driving `letters`: who, when, from where to where, which records."""
    return {"action": "dlt-redrive", "run": uuid.uuid4().hex,
            "at": (now or datetime.now(timezone.utc)).isoformat(), "operator": operator,
            "kafka_principal": kafka_principal, "host": host, "dead_letter_topic": dlt,
            "topic": dlt.removesuffix(DLT_SUFFIX),
            "records": [letter.audit_entry() for letter in sorted(letters, key=lambda x: (x.partition, x.offset))]}


def record_redrive(settings: KafkaSettings, receipt: dict[str, Any]) -> None:
    """Put the receipt on the dead-letter topic and wait for Kafka to acknowledge it (raises
    otherwise: then nothing may be re-driven, as nothing unrecorded may be)."""
    producer = kafka.producer(settings, "worklink-dlt-audit")
    try:
        producer.send(receipt["dead_letter_topic"], key=AUDIT_REDRIVE, value=json.dumps(receipt).encode(),
                      headers=[(HEADER_AUDIT, AUDIT_REDRIVE), ("content-type", b"application/json")]
                      ).get(timeout=30)
    finally:
        producer.close(timeout=10)


def redrive(settings: KafkaSettings, letters: list[DeadLetter], run: str | None = None) -> None:
    """Publish each dead letter to its original topic, in offset order, with acks=all and an
    idempotent producer; returns once Kafka has acknowledged every one (raises otherwise:
    the ones acknowledged are already marked re-driven by their copies). Each copy names the
    re-drive `run` its receipt records."""
    producer = kafka.producer(settings, "worklink-dlt-redrive")
    try:
        for letter in sorted(letters, key=lambda x: (x.partition, x.offset)):
            producer.send(letter.original_topic, key=letter.key, value=letter.value,
                          headers=letter.redrive_headers(run)).get(timeout=30)
    finally:
        producer.close(timeout=10)


def reason_counts(letters: Iterable[DeadLetter]) -> dict[str, int]:
    return dict(Counter(letter.reason or "unknown" for letter in letters))


def _read(settings: KafkaSettings, topic: str, since_ms: int | None = None) -> Iterator[Any]:
    """The records of `topic` up to the end it had when called (records arriving meanwhile -
    e.g. a copy dead-lettered again during a re-drive - wait for the next run)."""
    consumer = kafka.consumer(settings, None, "worklink-dlt", allow_auto_create_topics=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        if not partitions:
            raise LookupError(f"no topic {topic!r} on the broker")
        consumer.assign(partitions)
        ends = consumer.end_offsets(partitions)
        starts = _starts(consumer, partitions, since_ms)
        for tp in partitions:
            consumer.seek(tp, starts.get(tp, ends[tp]))
        yield from _records_until(consumer, ends)
    finally:
        consumer.close(autocommit=False)


def _starts(consumer: KafkaConsumer, partitions: list[TopicPartition], since_ms: int | None) -> dict:
    if since_ms is None:
        return consumer.beginning_offsets(partitions)
    found = consumer.offsets_for_times({tp: since_ms for tp in partitions})
    return {tp: hit.offset for tp, hit in found.items() if hit is not None}


def _records_until(consumer: KafkaConsumer, ends: dict[TopicPartition, int], idle_limit: int = 60) -> Iterator[Any]:
    idle = 0
    while any(consumer.position(tp) < end for tp, end in ends.items()):
        batch = consumer.poll(timeout_ms=500)
        idle = 0 if batch else idle + 1
        if idle > idle_limit:
            raise TimeoutError(f"no records from {sorted(tp.topic for tp in ends)[0]} for 30 s before its end")
        for tp, records in sorted(batch.items()):
            yield from (r for r in records if r.offset < ends[tp])


def _iso(timestamp_ms: int) -> str:
    return datetime.fromtimestamp(timestamp_ms / 1000, timezone.utc).isoformat()


def _printable(text: str, limit: int) -> str:
    """One line of at most `limit` characters, control characters escaped (a terminal is no
    place for a hostile record's escape sequences)."""
    text = str(text)[:limit]
    return "".join(c if c.isprintable() else json.dumps(c)[1:-1] for c in text)
