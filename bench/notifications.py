"""Notifications: draining an event backlog into inbox deliveries, and end-to-end latency.

Measures, in one run on one real Kafka broker:

  raw      kafka-python consumer (the project's consumer settings, a fresh group): read
           the N-event backlog from the beginning, nothing else.
  drain    the notifications consumer (`worklink_notifications.consumer.build`, the one
           `worklink consume -s notifications` runs) draining the same N events into
           deliveries on a migrated SQLite or PostgreSQL database: parse, validate,
           routing rules, processed-events, one inbox row (plus email/webhook rows
           where contacts exist) per event.
  latency  the consumer running; events published at a steady rate (200/s); for each
           event, the time from just before `send` to just after the transaction
           holding its inbox row committed. p50/p95/p99 reported.

The backlog is real catalogue events (`referrals.referral.submitted` / `.accepted` /
`.allocated`, ids and codes, ~560 bytes) over 200 organisations, on a 3-partition topic.

Targets: drain >= 30% of raw consume events/s (median of --repeat runs, order rotated);
latency p99 <= 250 ms at 200 events/s.

    .venv/bin/python bench/notifications.py                       # starts a broker; SQLite
    .venv/bin/python bench/notifications.py --backends sqlite,postgresql --events 50000 --repeat 3
    .venv/bin/python bench/notifications.py --bootstrap 127.0.0.1:9092 --rate 200 --seconds 30
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("WORKLINK_DEPLOY_DIR", str(ROOT / "deploy"))

import sqlalchemy as sa  # noqa: E402
from kafka import KafkaProducer  # noqa: E402

from worklink.config import KafkaSettings  # noqa: E402
from worklink.db import Database  # noqa: E402
from worklink.events.catalogue import Catalogue  # noqa: E402
from worklink.events.contracts import CATALOGUE  # noqa: E402
from worklink.messaging import kafka  # noqa: E402
from worklink.messaging.topics import TopicSpec, ensure_topics  # noqa: E402
from worklink.migrations import upgrade  # noqa: E402
from worklink.service import get_service  # noqa: E402
from worklink_notifications import consumer as notifications_consumer  # noqa: E402
from worklink_notifications.models import Delivery  # noqa: E402

DRAIN_TARGET = 0.30
P99_TARGET_MS = 250.0
TYPES = ("referrals.referral.submitted", "referrals.referral.accepted", "referrals.referral.allocated")
RESULTS_DIR = Path(__file__).resolve().parent / "results"
SPEC = get_service("notifications")


def catalogue_on(topic: str) -> Catalogue:
    return Catalogue([dataclasses.replace(entry, topic=topic) for entry in CATALOGUE])


def event_bytes(catalogue: Catalogue, i: int, orgs: list[uuid.UUID]) -> tuple[bytes, bytes]:
    referral = uuid.uuid4()
    data = {"referral_id": referral, "status": "requested", "business_status": None, "reason": None,
            "referrer_org_id": orgs[i % len(orgs)], "assigned_org_id": orgs[(i * 7 + 3) % len(orgs)],
            "service_id": uuid.uuid4(), "request_id": None, "suggestion_id": None, "version": 1,
            "occurred_at": datetime.now(timezone.utc)}
    event, _ = catalogue.build(TYPES[i % len(TYPES)], data, source="urn:worklink:bench")
    return str(referral).encode(), event.to_json().encode()


def new_topic(settings: KafkaSettings) -> str:
    name = f"bench.notifications.{uuid.uuid4().hex[:8]}"
    ensure_topics(settings, [TopicSpec(name, 3, 1, 3_600_000), TopicSpec(name + ".dlt", 3, 1, 3_600_000)])
    return name


def produce(settings: KafkaSettings, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = kafka.producer(settings, "bench-notifications")
    for key, value in records:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()


def run_raw(settings: KafkaSettings, topic: str, n: int) -> float:
    consumer = kafka.consumer(settings, f"bench-raw-{uuid.uuid4().hex[:8]}", "bench-raw")
    consumer.subscribe([topic])
    joined = time.monotonic()
    while not consumer.assignment():
        assert time.monotonic() - joined < 120, "raw consumer never joined its group"
        consumer.poll(timeout_ms=100)  # join the group before the clock starts
    got, started = 0, None
    consumer.seek_to_beginning()
    deadline = time.monotonic() + 600
    while got < n:
        assert time.monotonic() < deadline, f"raw consumer stuck at {got}/{n}"
        batch = consumer.poll(timeout_ms=500)
        if started is None and batch:
            started = time.perf_counter()
        got += sum(len(records) for records in batch.values())
    elapsed = time.perf_counter() - started
    consumer.close(autocommit=False)
    return n / elapsed


def database_for(kind: str, workdir: Path, pg_base: str | None) -> tuple[str, callable]:
    if kind == "sqlite":
        path = workdir / f"n-{uuid.uuid4().hex[:8]}.db"
        return f"sqlite:///{path}", lambda: None
    from worklink.devstack.postgres import create_database, drop_database
    name = f"bench_notif_{uuid.uuid4().hex[:8]}"
    return create_database(pg_base, name), lambda: drop_database(pg_base, name)


def build_consumer(database: Database, settings: KafkaSettings, catalogue: Catalogue, on_handled=None):
    group = f"bench-drain-{uuid.uuid4().hex[:8]}"
    return notifications_consumer.build(
        database=database, catalogue=catalogue, group_id=group,
        consumer_factory=lambda: kafka.consumer(settings, group, "bench-drain"),
        producer_factory=lambda: kafka.producer(settings, "bench-dlt"), on_handled=on_handled)


def run_drain(kind: str, settings: KafkaSettings, topic: str, n: int, workdir: Path, pg_base: str | None) -> dict:
    url, drop = database_for(kind, workdir, pg_base)
    upgrade(SPEC.migrations_dir, url)
    database = Database(url)
    consumer = build_consumer(database, settings, catalogue_on(topic))
    try:
        joined = time.monotonic()
        while not consumer.consumer.assignment():
            assert time.monotonic() - joined < 120, "drain consumer never joined its group"
            consumer.consumer.poll(timeout_ms=100)  # join the group, untimed
        consumer.consumer.seek_to_beginning()
        done, started = 0, time.perf_counter()
        while done < n:
            assert time.perf_counter() - started < 900, f"drain stuck at {done}/{n}"
            done += len(consumer.poll_once(timeout_ms=500))
        elapsed = time.perf_counter() - started
        with database.sessions() as session:
            inbox = session.scalar(sa.select(sa.func.count()).select_from(Delivery).where(Delivery.channel == "inbox"))
    finally:
        consumer.close()
        database.dispose()
        drop()
    assert inbox == n, f"{inbox} inbox rows for {n} events"
    return {"rate": n / elapsed, "seconds": elapsed, "inbox_rows": inbox}


def _latency_consumer(url: str, bootstrap: str, topic: str, ready, stop, results) -> None:
    """The consumer as its own process (as in production): records when each event's row committed."""
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    database = Database(url)
    committed: dict[str, float] = {}
    consumer = build_consumer(database, settings, catalogue_on(topic),
                              on_handled=lambda event: committed.__setitem__(event.id, time.time()))
    while not consumer.consumer.assignment():
        consumer.consumer.poll(timeout_ms=100)
    consumer.poll_once(timeout_ms=200)
    ready.set()
    while not stop.is_set():
        consumer.poll_once(timeout_ms=100)
    consumer.close()
    results.put(committed)


def run_latency(kind: str, settings: KafkaSettings, rate: int, seconds: int, workdir: Path,
                pg_base: str | None) -> dict:
    import multiprocessing

    topic = new_topic(settings)
    catalogue = catalogue_on(topic)
    url, drop = database_for(kind, workdir, pg_base)
    upgrade(SPEC.migrations_dir, url)
    orgs = [uuid.uuid4() for _ in range(200)]
    total = rate * seconds
    events = [event_bytes(catalogue, i, orgs) for i in range(total)]
    ids = [json.loads(value)["id"] for _, value in events]

    mp = multiprocessing.get_context("spawn")
    ready, stop, results = mp.Event(), mp.Event(), mp.Queue()
    child = mp.Process(target=_latency_consumer, args=(url, settings.bootstrap_servers, topic, ready, stop, results))
    child.start()
    assert ready.wait(120), "consumer did not start"
    producer = kafka.producer(settings, "bench-latency", linger_ms=0)
    sent_at: dict[str, float] = {}
    start = time.perf_counter()
    for i, (key, value) in enumerate(events):
        due = start + i / rate
        while (pause := due - time.perf_counter()) > 0:
            time.sleep(pause)
        sent_at[ids[i]] = time.time()
        producer.send(topic, key=key, value=value)
    producer.flush()
    achieved = total / (time.perf_counter() - start)
    time.sleep(2)  # let the last events land
    stop.set()
    committed = results.get(timeout=60)
    child.join(30)
    producer.close()
    drop()
    ms = sorted((committed[i] - sent_at[i]) * 1000 for i in ids if i in committed)
    pick = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]  # noqa: E731
    return {"events": total, "handled": len(ms), "p50_ms": pick(0.50), "p95_ms": pick(0.95), "p99_ms": pick(0.99),
            "max_ms": ms[-1], "achieved_rate": achieved}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default="sqlite", help="comma-separated: sqlite,postgresql")
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--bootstrap")
    parser.add_argument("--postgres-url")
    args = parser.parse_args()
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop our broker on the way out
    backends = args.backends.split(",")

    workdir = Path(tempfile.mkdtemp(prefix="bench-notifications-"))
    broker = None
    if args.bootstrap:
        bootstrap = args.bootstrap
    else:
        from worklink.devstack.apache_kafka import LocalKafka
        broker = LocalKafka(workdir / "kafka").start()
        bootstrap = broker.bootstrap_servers
    pg_base = None
    if "postgresql" in backends:
        from worklink.devstack.postgres import ensure_local_postgres
        pg_base = (args.postgres_url.rstrip("/") + "/") if args.postgres_url else ensure_local_postgres()
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    try:
        topic = new_topic(settings)
        catalogue = catalogue_on(topic)
        orgs = [uuid.uuid4() for _ in range(200)]
        records = [event_bytes(catalogue, i, orgs) for i in range(args.events)]
        produce(settings, topic, records)
        size = statistics.mean(len(v) for _, v in records)
        print(f"backlog: {args.events} events, {size:.0f} bytes each, topic {topic} (3 partitions)")

        kinds = ["raw", *backends]
        rates: dict[str, list[float]] = {k: [] for k in kinds}
        for r in range(args.repeat):
            order = kinds[r % len(kinds):] + kinds[:r % len(kinds)]
            for kind in order:
                rate = run_raw(settings, topic, args.events) if kind == "raw" else \
                    run_drain(kind, settings, topic, args.events, workdir, pg_base)["rate"]
                rates[kind].append(rate)
                print(f"  round {r + 1} {kind:10s} {rate:10,.0f} events/s", flush=True)
        raw = statistics.median(rates["raw"])
        print(f"\n{'measurement':28s} {'events/s (median)':>18s} {'vs raw':>8s}  target >= {DRAIN_TARGET:.0%}")
        print(f"{'raw kafka-python consume':28s} {raw:18,.0f} {'100%':>8s}")
        ok = True
        summary = {"raw": raw}
        for kind in backends:
            median = statistics.median(rates[kind])
            share = median / raw
            ok &= share >= DRAIN_TARGET
            summary[kind] = median
            print(f"{'drain to inbox, ' + kind:28s} {median:18,.0f} {share:8.1%}  "
                  f"{'PASS' if share >= DRAIN_TARGET else 'FAIL'}")

        print(f"\nlatency at {args.rate} events/s for {args.seconds} s (published -> inbox row committed)")
        latency = {}
        for kind in backends:
            result = run_latency(kind, settings, args.rate, args.seconds, workdir, pg_base)
            latency[kind] = result
            passed = result["p99_ms"] <= P99_TARGET_MS and result["handled"] == result["events"]
            ok &= passed
            print(f"  {kind:10s} p50 {result['p50_ms']:6.1f} ms  p95 {result['p95_ms']:6.1f} ms  "
                  f"p99 {result['p99_ms']:6.1f} ms  max {result['max_ms']:6.1f} ms  "
                  f"({result['handled']}/{result['events']} events, {result['achieved_rate']:.0f}/s)  "
                  f"{'PASS' if passed else 'FAIL'}")
        RESULTS_DIR.mkdir(exist_ok=True)
        out = RESULTS_DIR / f"notifications-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}.json"
        out.write_text(json.dumps({"events": args.events, "repeat": args.repeat, "rates": rates,
                                   "medians": summary, "latency": latency, "machine": platform.platform(),
                                   "cpus": os.cpu_count()}, indent=2))
        print(f"\nresults: {out}")
        return 0 if ok else 1
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    sys.exit(main())
