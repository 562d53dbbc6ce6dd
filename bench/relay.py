"""Outbox relay throughput vs. the raw kafka-python producer, on one real Kafka broker.

Measures, side by side in one run:

  raw     kafka-python producer, `worklink.messaging.kafka.producer(...)` settings
          (acks=all, idempotent, linger 5 ms, 256 KiB batches): N pre-built structured
          CloudEvents (the relay's exact payload, key and headers), `send` all, `flush`.
  sqlite  `OutboxRelay.publish_pending()` in a loop until `pending() == 0`, from a
          SQLite outbox pre-filled (untimed) with N events via `Outbox.publish`.
  pg      the same from PostgreSQL.

Each measurement is repeated R times (order rotated each round) and the median is
reported. Target: relay >= 50% of raw producer events/s, per backend.

    .venv/bin/python bench/relay.py --events 20000 --repeat 3
    .venv/bin/python bench/relay.py --bootstrap 127.0.0.1:9092 --postgres-url postgresql+psycopg://u:p@h:5432/
    .venv/bin/python bench/relay.py --events 5000 --repeat 1 --profile   # + cProfile of one drain per backend
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make `bench` and `worklink` importable
    sys.path.insert(0, str(ROOT))
if str(ROOT / "shared") not in sys.path:
    sys.path.insert(1, str(ROOT / "shared"))
os.environ.setdefault("WORKLINK_DEPLOY_DIR", str(ROOT / "deploy"))

import sqlalchemy as sa  # noqa: E402
from kafka import KafkaConsumer, TopicPartition  # noqa: E402

from bench import support  # noqa: E402
from worklink.config import KafkaSettings  # noqa: E402
from worklink.context import TraceParent  # noqa: E402
from worklink.events.envelope import kafka_headers  # noqa: E402
from worklink.messaging import kafka  # noqa: E402
from worklink.messaging.outbox import Outbox, OutboxRelay  # noqa: E402
from worklink.messaging.topics import TopicSpec, ensure_topics  # noqa: E402

TARGET = 0.50  # relay events/s must be at least this fraction of the raw producer's
KINDS = ("raw", "sqlite", "postgresql")
RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass
class Run:
    kind: str
    repeat: int
    events: int
    seconds: float
    batches: int = 0  # publish_pending() calls (relay only)
    extra: dict = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.events / self.seconds


class Bench:
    def __init__(self, args: argparse.Namespace, bootstrap: str, pg_base: str, workdir: Path):
        self.args = args
        self.settings = KafkaSettings(bootstrap_servers=bootstrap)
        self.pg_base = pg_base
        self.workdir = workdir
        self.topic = f"bench.relay.{uuid.uuid4().hex[:10]}"
        ensure_topics(self.settings, [TopicSpec(self.topic, partitions=3, replication_factor=1,
                                                retention_ms=3_600_000)])
        self.catalogue = support.catalogue(self.topic)
        self.outbox = Outbox(support.SERVICE, support.TABLES, self.catalogue)
        self.keys = support.keys(args.keys)
        self.org_id = uuid.uuid4()
        self.published = 0  # records expected on the topic

    # -- event generation (shared by all three, so the payloads are the same) ----------
    def _data(self, i: int) -> dict:
        return support.event_data(self.keys[i % len(self.keys)], self.org_id, i // len(self.keys))

    def raw_records(self) -> list[tuple[bytes, bytes, list]]:
        """What the relay would send for N outbox rows: key, structured CloudEvent, headers."""
        records = []
        for i in range(self.args.events):
            event, entry = self.catalogue.build(support.EVENT_TYPE, self._data(i), source=self.outbox.source)
            key = str(event.data[entry.key]).encode()
            headers = kafka_headers(str(TraceParent.new()), event.id)  # as Outbox.publish + relay do
            records.append((key, event.to_json().encode(), headers))
        return records

    def prefill(self, database, per_tx: int = 100) -> None:
        for start in range(0, self.args.events, per_tx):
            with database.transaction() as session:
                for i in range(start, min(start + per_tx, self.args.events)):
                    self.outbox.publish(session, support.EVENT_TYPE, self._data(i))

    # -- (a) raw producer ---------------------------------------------------------------
    def run_raw(self, repeat: int) -> Run:
        records = self.raw_records()  # untimed
        producer = kafka.producer(self.settings, "bench-raw")
        try:
            producer.partitions_for(self.topic)  # metadata + connection, untimed (relay: same)
            t0 = time.perf_counter()
            futures = [producer.send(self.topic, key=key, value=value, headers=headers)
                       for key, value, headers in records]
            producer.flush(timeout=120)
            failed = sum(1 for f in futures if not (f.is_done and f.succeeded()))
            seconds = time.perf_counter() - t0
        finally:
            producer.close(timeout=10)
        if failed:
            raise RuntimeError(f"raw producer: {failed} of {len(futures)} sends failed")
        self.published += len(records)
        return Run("raw", repeat, len(records), seconds,
                   extra={"payload_bytes_avg": round(sum(len(v) for _, v, _ in records) / len(records), 1)})

    # -- (b), (c) outbox relay ----------------------------------------------------------
    def _database_url(self, kind: str, repeat: int) -> tuple[str, str | None]:
        if kind == "sqlite":
            return f"sqlite:///{self.workdir / f'relay-{repeat}-{uuid.uuid4().hex[:6]}.db'}", None
        from worklink.devstack.postgres import create_database

        name = f"wl_bench_{uuid.uuid4().hex[:12]}"
        return create_database(self.pg_base, name, exist_ok=False), name

    def run_relay(self, kind: str, repeat: int, profile: cProfile.Profile | None = None) -> Run:
        url, pg_name = self._database_url(kind, repeat)
        database = support.make_database(url)
        relay = OutboxRelay(support.SERVICE, database, support.TABLES,
                            lambda: kafka.producer(self.settings, "bench-relay"),
                            batch_size=self.args.batch_size)
        try:
            self.prefill(database)  # untimed
            if kind == "postgresql":
                with database.engine.begin() as conn:  # as autovacuum would after a bulk insert
                    conn.exec_driver_sql("ANALYZE outbox")
            assert relay.pending() == self.args.events
            relay.producer.partitions_for(self.topic)  # producer + metadata, untimed (raw: same)
            batches = published = failed = 0
            if profile:
                profile.enable()
            t0 = time.perf_counter()
            while relay.pending():
                stats = relay.publish_pending()
                batches += 1
                published += stats.published
                failed += stats.failed
            seconds = time.perf_counter() - t0
            if profile:
                profile.disable()
            if failed or published != self.args.events:
                raise RuntimeError(f"relay ({kind}): published {published}, failed {failed}, "
                                   f"expected {self.args.events}")
            self.published += published
            return Run(kind, repeat, published, seconds, batches)
        finally:
            relay.close()
            database.dispose()
            if pg_name:
                from worklink.devstack.postgres import drop_database

                drop_database(self.pg_base, pg_name)

    def run(self, kind: str, repeat: int) -> Run:
        return self.run_raw(repeat) if kind == "raw" else self.run_relay(kind, repeat)

    def topic_records(self) -> int:
        consumer = KafkaConsumer(bootstrap_servers=self.settings.servers, group_id=None,
                                 enable_auto_commit=False)
        try:
            partitions = [TopicPartition(self.topic, p) for p in consumer.partitions_for_topic(self.topic) or []]
            return sum(consumer.end_offsets(partitions).values())
        finally:
            consumer.close()


# -- infrastructure ---------------------------------------------------------------------
def start_broker(workdir: Path):
    from worklink.devstack.apache_kafka import LocalKafka

    print("starting a local Apache Kafka broker (deploy/kafka/kafka.sh) ...", flush=True)
    return LocalKafka(workdir / "kafka").start()


def postgres_base(url: str | None) -> str:
    if url:
        return url.rstrip("/") + "/"
    from worklink.devstack.postgres import ensure_local_postgres

    return ensure_local_postgres()


def postgres_version(base: str) -> str:
    import psycopg

    from worklink.devstack.postgres import libpq_url

    with psycopg.connect(libpq_url(base, "postgres")) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def git_revision() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip() or None
    except OSError:
        return None


# -- reporting --------------------------------------------------------------------------
def summarise(runs: list[Run]) -> dict:
    summary = {}
    for kind in KINDS:
        rates = [r.rate for r in runs if r.kind == kind]
        summary[kind] = {"median_events_per_s": statistics.median(rates), "runs_events_per_s": rates,
                         "min": min(rates), "max": max(rates)}
    raw = summary["raw"]["median_events_per_s"]
    for kind in KINDS[1:]:
        ratio = summary[kind]["median_events_per_s"] / raw
        summary[kind].update(ratio_to_raw=ratio, target=TARGET, passed=ratio >= TARGET)
    return summary


def print_table(args, runs: list[Run], summary: dict) -> None:
    label = {"raw": "raw producer", "sqlite": "relay SQLite", "postgresql": "relay PostgreSQL"}
    print()
    print(f"events={args.events}  repeat={args.repeat}  keys={args.keys}  relay batch_size={args.batch_size}")
    header = f"{'measurement':<18}" + "".join(f"{f'run {i + 1}':>11}" for i in range(args.repeat))
    header += f"{'median ev/s':>13}{'vs raw':>9}  target >= {TARGET:.0%}"
    print(header)
    print("-" * len(header))
    for kind in KINDS:
        rates = [r.rate for r in sorted(runs, key=lambda r: r.repeat) if r.kind == kind]
        line = f"{label[kind]:<18}" + "".join(f"{rate:>11,.0f}" for rate in rates)
        line += f"{summary[kind]['median_events_per_s']:>13,.0f}"
        if kind == "raw":
            line += f"{'100.0%':>9}"
        else:
            verdict = "PASS" if summary[kind]["passed"] else "FAIL"
            line += f"{summary[kind]['ratio_to_raw']:>9.1%}  {verdict}"
        print(line)
    print()
    batches = {r.kind: r.batches for r in runs if r.kind != "raw"}
    if batches:
        print("relay publish_pending() calls per drain: "
              + ", ".join(f"{k}={v}" for k, v in batches.items()))


def profile_relay(bench: Bench, kinds: list[str], out_dir: Path, stamp: str) -> dict:
    """One extra (unreported) drain per backend under cProfile; prints where the time goes."""
    phases = {
        "SELECT batch (publish_pending: connect+execute+fetch)": ("outbox.py", "publish_pending"),
        "_send (whole)": ("outbox.py", "_send"),
        "  KafkaProducer.send": ("kafka/producer/kafka.py", "send"),
        "  KafkaProducer.flush": ("kafka/producer/kafka.py", "flush"),
        "  kafka_headers": ("envelope.py", "kafka_headers"),
        "_record (UPDATE ... sent_at, commit)": ("outbox.py", "_record"),
        "pending() (COUNT per loop)": ("outbox.py", "pending"),
    }
    report = {}
    for kind in kinds:
        prof = cProfile.Profile()
        run = bench.run_relay(kind, -1, profile=prof)
        path = out_dir / f"relay-{stamp}-{kind}.pstats"
        prof.dump_stats(path)
        stats = pstats.Stats(prof)
        cumulative = {}
        for (filename, _line, func), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():
            for name, (fname, fn) in phases.items():
                if filename.endswith(fname) and func == fn:
                    cumulative[name] = cumulative.get(name, 0.0) + ct
        print(f"\n== cProfile: relay {kind}, {run.events} events, {run.batches} batches, "
              f"{run.seconds:.2f}s wall ({run.rate:,.0f} ev/s under the profiler) -> {path.name}")
        select_only = cumulative.get("SELECT batch (publish_pending: connect+execute+fetch)", 0.0) \
            - cumulative.get("_send (whole)", 0.0) - cumulative.get("_record (UPDATE ... sent_at, commit)", 0.0)
        rows = dict(cumulative)
        rows["SELECT batch (publish_pending: connect+execute+fetch)"] = select_only
        for name in phases:
            if name in rows:
                print(f"  {name:<55}{rows[name]:>8.2f}s")
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(15)
        print("\n".join(buf.getvalue().splitlines()[:40]))
        report[kind] = {"seconds": run.seconds, "events": run.events, "batches": run.batches,
                        "phases_s": rows, "pstats": str(path)}
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000, help="events per measurement (default 20000)")
    parser.add_argument("--repeat", type=int, default=3, help="repeats of each measurement; median reported")
    parser.add_argument("--bootstrap", help="use this existing Kafka broker (otherwise start a local one)")
    parser.add_argument("--postgres-url", help="base URL of a PostgreSQL server to create throwaway "
                        "databases on (default: the local one from ensure_local_postgres())")
    parser.add_argument("--batch-size", type=int, default=1000, help="OutboxRelay batch_size (default 1000)")
    parser.add_argument("--keys", type=int, default=100, help="distinct aggregate ids / Kafka keys (default 100)")
    parser.add_argument("--profile", action="store_true",
                        help="after the measurements, cProfile one extra relay drain per backend")
    args = parser.parse_args(argv)

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    broker = None
    with tempfile.TemporaryDirectory(prefix="worklink-bench-") as tmp:
        workdir = Path(tmp)
        try:
            if args.bootstrap:
                bootstrap, broker_kind = args.bootstrap, "external"
            else:
                broker = start_broker(workdir)
                bootstrap, broker_kind = broker.bootstrap_servers, "local (deploy/kafka/kafka.sh)"
            pg_base = postgres_base(args.postgres_url)
            bench = Bench(args, bootstrap, pg_base, workdir)
            print(f"broker {bootstrap} ({broker_kind}); topic {bench.topic} (3 partitions); "
                  f"PostgreSQL {postgres_version(pg_base)}")
            runs: list[Run] = []
            for repeat in range(args.repeat):
                order = KINDS[repeat % 3:] + KINDS[:repeat % 3]  # rotate: fair on a noisy machine
                for kind in order:
                    run = bench.run(kind, repeat)
                    runs.append(run)
                    print(f"  run {repeat + 1}/{args.repeat} {kind:<10} {run.events} events in "
                          f"{run.seconds:6.2f}s = {run.rate:>9,.0f} ev/s"
                          + (f"  ({run.batches} batches)" if run.batches else ""), flush=True)
            on_topic = bench.topic_records()
            if on_topic != bench.published:
                raise RuntimeError(f"topic holds {on_topic} records, expected {bench.published}")
            summary = summarise(runs)
            print_table(args, runs, summary)
            print(f"topic check: {on_topic} records on {bench.topic} = all events sent, none lost or duplicated")
            profile = None
            if args.profile:
                profile = profile_relay(bench, ["sqlite", "postgresql"], RESULTS_DIR, stamp)
        finally:
            if broker is not None:
                broker.stop()

    result = {
        "benchmark": "bench/relay.py",
        "timestamp": stamp,
        "config": {"events": args.events, "repeat": args.repeat, "keys": args.keys,
                   "batch_size": args.batch_size, "partitions": 3, "target_ratio": TARGET},
        "environment": {"python": platform.python_version(), "machine": platform.machine(),
                        "cpus": os.cpu_count(), "git": git_revision(), "broker": broker_kind,
                        "kafka_python": __import__("kafka").__version__, "sqlalchemy": sa.__version__,
                        "postgresql": postgres_version(pg_base)},
        "runs": [{"kind": r.kind, "repeat": r.repeat, "events": r.events, "seconds": r.seconds,
                  "events_per_s": r.rate, "batches": r.batches, **r.extra} for r in runs],
        "summary": summary,
        "profile": profile,
    }
    path = RESULTS_DIR / f"relay-{stamp}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"results: {path.relative_to(ROOT)}")
    return 0 if all(summary[k]["passed"] for k in KINDS[1:]) else 1


if __name__ == "__main__":
    sys.exit(main())
