"""A miniature service used to exercise the shared machinery against real infrastructure."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from typing import Any, Iterator

import sqlalchemy as sa
from kafka import KafkaConsumer, TopicPartition
from marshmallow import Schema, fields, validate

from worklink.db import NAMING_CONVENTION, Database, platform_tables
from worklink.events.catalogue import Catalogue, EventType

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
TABLES = platform_tables(metadata)
things = sa.Table(
    "things", metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("label", sa.String(50), nullable=False),
)
effects = sa.Table(  # one row per handler effect, so tests can count them
    "effects", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("thing_id", sa.String(64), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
)


class ThingHappened(Schema):
    thing_id = fields.UUID(required=True)
    seq = fields.Integer(required=True)
    colour = fields.String(validate=validate.OneOf(["red", "green"]), load_default="red")


def pages_app(settings, blueprint, config: dict[str, Any] | None = None):
    """A service app ("WorkLink Demo") with the shared page machinery and `blueprint`'s pages, whose
    visitors can sign in (its web_sessions table made)."""
    from worklink.web import create_service_app

    tables = platform_tables(sa.MetaData(naming_convention=NAMING_CONVENTION))
    app, _ = create_service_app("demo", __name__, tables=tables, title="WorkLink Demo", description="Demo",
                                settings=settings, config=config)
    app.register_blueprint(blueprint)
    tables.web_sessions.create(app.extensions["worklink"].database.engine, checkfirst=True)  # signed-in sessions
    return app


def catalogue(topic: str) -> Catalogue:
    return Catalogue([EventType("test.thing.happened", 1, ThingHappened, topic, "thing_id",
                                "Something happened to a thing.")])


def make_database(url: str) -> Database:
    database = Database(url)
    metadata.create_all(database.engine)
    return database


def count(database: Database, table: sa.Table, *where) -> int:
    with database.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 60.0) -> list[Any]:
    """Every record on `topic` from the beginning, waiting until `expected` have arrived."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                             auto_offset_reset="earliest", consumer_timeout_ms=1000)
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    records: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(records) < expected and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    # Anything beyond `expected` (duplicates) must show up too: read a little longer.
    for batch in consumer.poll(timeout_ms=1500).values():
        records.extend(batch)
    consumer.close()
    return records


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def wait_for(condition, timeout: float, what: str) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


def stage(database: Database, outbox, seqs, things=()) -> list[str]:
    """One test.thing.happened per seq, staged in `outbox` in one transaction: about `things[seq % len(things)]` (a
    few keys, so the order per key can be checked), or a new thing each. Returns the event ids, in order."""
    with database.transaction() as session:
        return [str(outbox.publish(session, "test.thing.happened",
                                   {"thing_id": things[seq % len(things)] if things else new_id(), "seq": seq}))
                for seq in seqs]


def record_effect(session, event) -> None:
    """A handler that only records the event it handled, as a row of `effects`."""
    session.execute(effects.insert().values(event_id=event.id, thing_id=str(event.data["thing_id"]),
                                            seq=event.data["seq"]))


def handled_seqs(database: Database, *, in_order: bool = False) -> list[int]:
    """The seqs of the events a handler recorded (record_effect): sorted, or in the order they were handled."""
    query = effects.select().order_by(effects.c.id) if in_order else effects.select()
    with database.engine.connect() as conn:
        seqs = [row.seq for row in conn.execute(query)]
    return seqs if in_order else sorted(seqs)


@contextlib.contextmanager
def running(*runners) -> Iterator[list[threading.Thread]]:
    """Each runner's `run(stop)` (a relay, a consumer) in a thread of its own while the block runs; then stopped
    and joined, up to a minute each. Yields the threads, so a test can check they ended."""
    stop = threading.Event()
    workers = [threading.Thread(target=runner.run, args=(stop,), daemon=True) for runner in runners]
    for worker in workers:
        worker.start()
    try:
        yield workers
    finally:
        stop.set()
        for worker in workers:
            worker.join(60)


def make_consumer(database, bootstrap, topic, group, handler, *, backoff_base: float = 0.05, **kwargs):
    """An EventConsumer of the bench/test event on `topic`, in its own group, retrying quickly."""
    from worklink.config import KafkaSettings
    from worklink.messaging import kafka
    from worklink.messaging.consumer import EventConsumer

    settings = KafkaSettings(bootstrap)
    return EventConsumer(
        group_id=group, database=database, tables=TABLES, catalogue=catalogue(topic),
        handlers={"test.thing.happened": handler},
        consumer_factory=lambda: kafka.consumer(settings, group, "test", session_timeout_ms=6000,
                                                heartbeat_interval_ms=1000),
        producer_factory=lambda: kafka.producer(settings, "test-dlt"),
        backoff_base=backoff_base, **kwargs)
