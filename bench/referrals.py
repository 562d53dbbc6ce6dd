"""POST /referrals on PostgreSQL vs. a hello-world Flask app, same gunicorn settings, same run.

1. Throughput: closed loop, C concurrent clients (in P load processes) for D seconds, against
   hello world (GET /) and against the referrals service (POST /referrals, a new person each
   time, so every request is a real intake: routing, duplicate check, insert, history, two
   outbox events, audit). Target: referrals >= 25% of hello world's requests/s.
2. Latency: open loop at half the measured referrals rate for D seconds; latency is taken from
   each request's *scheduled* start (no coordinated omission). Target: p99 <= 100 ms.

    .venv/bin/python bench/referrals.py                       # local PostgreSQL, 15 s phases
    .venv/bin/python bench/referrals.py --seconds 20 --clients 16 --postgres-url postgresql+psycopg://u:p@h:5432/
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (str(ROOT / "shared"), str(ROOT)):
    if path not in sys.path:
        sys.path.insert(0, path)
os.environ.setdefault("WORKLINK_DEPLOY_DIR", str(ROOT / "deploy"))

from bench.harness import run_processes, start_gunicorn, stop  # noqa: E402

THROUGHPUT_TARGET, P99_TARGET_MS = 0.25, 100.0
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def referral_body(n: int) -> bytes:
    return json.dumps({
        "person": {"given_name": f"Bench{n}", "family_name": uuid.uuid4().hex[:12], "birth_date": "1980-01-01",
                   "postcode": "GL1 2AB", "phone": "01632 960000"},
        "consent": {"explicit": True, "captured_at": "2026-11-25T09:00:00Z", "method": "verbal",
                    "outcomes_to_referrer": True},
        "employment_situation": "unemployed",
    }).encode()


def _request(conn, kind: str, token: str, n: int) -> int:
    if kind == "hello":
        conn.request("GET", "/")
    else:
        conn.request("POST", "/referrals", body=referral_body(n),
                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    response.read()
    return response.status


def _closed_loop(port: int, kind: str, token: str, threads: int, seconds: float, queue) -> None:
    deadline = time.monotonic() + seconds
    counts, errors = [0] * threads, [0] * threads

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        n = 0
        while time.monotonic() < deadline:
            n += 1
            try:
                ok = _request(conn, kind, token, i * 10_000_000 + n + os.getpid() * 100_000_000) in (200, 201)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                ok = False
            counts[i] += ok
            errors[i] += not ok
        conn.close()

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    queue.put((sum(counts), sum(errors)))


def _open_loop(port: int, token: str, threads: int, rate: float, seconds: float, queue) -> None:
    """Send at `rate`/s (this process's share); latency from the scheduled start time."""
    start = time.monotonic() + 0.2
    total = int(rate * seconds)
    lock, latencies, errors = threading.Lock(), [], [0]
    next_index = [0]

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= total:
                break
            scheduled = start + i / rate
            delay = scheduled - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                ok = _request(conn, "referrals", token, os.getpid() * 100_000_000 + i) == 201
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                ok = False
            with lock:
                latencies.append((time.monotonic() - scheduled) * 1000)
                errors[0] += not ok
        conn.close()

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    queue.put((latencies, errors[0]))


def main() -> int:
    parser = argparse.ArgumentParser(description="POST /referrals vs hello world under gunicorn")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--processes", type=int, default=2, help="load-generator processes")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients in total")
    parser.add_argument("--postgres-url", help="base URL of a PostgreSQL server (default: a local one)")
    args = parser.parse_args()

    from worklink.auth import mint_token
    from worklink.config import Settings
    from worklink.devstack import free_port
    from worklink.devstack.postgres import create_database, drop_database, ensure_local_postgres
    from worklink.migrations import upgrade
    from worklink.service import get_service

    base = (args.postgres_url.rstrip("/") + "/") if args.postgres_url else ensure_local_postgres()
    name = f"wl_bench_referrals_{uuid.uuid4().hex[:8]}"
    url = create_database(base, name)
    var = tempfile.mkdtemp(prefix="wl-bench-")
    env = {**os.environ, "REFERRALS_DATABASE_URL": url, "WORKLINK_VAR": var, "WORKLINK_ENV": "test",
           "WORKLINK_LOG_LEVEL": os.environ.get("WORKLINK_LOG_LEVEL", "INFO"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "shared"), os.environ.get("PYTHONPATH", "")])}
    settings = Settings.from_env("referrals", env)
    upgrade(get_service("referrals").migrations_dir, url)
    _add_routing_service(url)
    token = mint_token(settings.jwt, role="gp", org="00000000-0000-4000-8000-00000000a001", subject="bench-gp",
                       ttl_seconds=3600)
    per_process = max(1, args.clients // args.processes)
    results: dict = {"when": datetime.now(timezone.utc).isoformat(), "seconds": args.seconds,
                     "clients": per_process * args.processes, "processes": args.processes,
                     "gunicorn": {"workers": os.environ.get("WEB_CONCURRENCY", "2"),
                                  "threads": os.environ.get("WORKLINK_THREADS", "4")}}
    hello_port, referrals_port = free_port(), free_port()
    hello = start_gunicorn("bench.hello:app", hello_port, env)
    try:
        counts = run_processes(_closed_loop, lambda p: (hello_port, "hello", token, per_process, args.seconds),
                               args.processes)
        results["hello_rps"] = sum(c for c, _ in counts) / args.seconds
        results["hello_errors"] = sum(e for _, e in counts)
    finally:
        stop(hello)
    service = start_gunicorn("worklink_referrals.wsgi:app", referrals_port, env)
    try:
        counts = run_processes(_closed_loop, lambda p: (referrals_port, "referrals", token, per_process,
                                                        args.seconds), args.processes)
        results["referrals_rps"] = sum(c for c, _ in counts) / args.seconds
        results["referrals_errors"] = sum(e for _, e in counts)
        rate = results["referrals_rps"] / 2
        results["latency_rate_rps"] = rate
        runs = run_processes(_open_loop, lambda p: (referrals_port, token, per_process, rate / args.processes,
                                                    args.seconds), args.processes)
        latencies = sorted(x for lat, _ in runs for x in lat)
        results["latency_errors"] = sum(e for _, e in runs)
        results["latency_ms"] = {"p50": _pct(latencies, 0.50), "p90": _pct(latencies, 0.90),
                                 "p99": _pct(latencies, 0.99), "max": round(latencies[-1], 1),
                                 "requests": len(latencies)}
    finally:
        stop(service)
        drop_database(base, name)

    ratio = results["referrals_rps"] / results["hello_rps"]
    p99 = results["latency_ms"]["p99"]
    results["ratio"] = ratio
    results["pass"] = {"throughput": ratio >= THROUGHPUT_TARGET, "p99": p99 <= P99_TARGET_MS}
    print(f"hello world        {results['hello_rps']:8.0f} req/s  (errors {results['hello_errors']})")
    print(f"POST /referrals    {results['referrals_rps']:8.0f} req/s  (errors {results['referrals_errors']})  "
          f"= {ratio:.1%} of hello world, target >= {THROUGHPUT_TARGET:.0%}: "
          f"{'PASS' if results['pass']['throughput'] else 'FAIL'}")
    print(f"at {rate:.0f} req/s    p50 {results['latency_ms']['p50']} ms  p90 {results['latency_ms']['p90']} ms  "
          f"p99 {p99} ms (target <= {P99_TARGET_MS:.0f}): {'PASS' if results['pass']['p99'] else 'FAIL'}  "
          f"(errors {results['latency_errors']})")
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"referrals-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"results: {out}")
    return 0 if all(results["pass"].values()) else 1


def _pct(values: list[float], fraction: float) -> float:
    return round(values[min(len(values) - 1, int(fraction * len(values)))], 1) if values else float("nan")


def _add_routing_service(url: str) -> None:
    from worklink.db import Database
    from worklink_referrals.services import add_routing_service

    with Database(url).transaction() as session:
        add_routing_service(session, uuid.uuid4(), uuid.uuid4(), datetime.now(timezone.utc))


if __name__ == "__main__":
    sys.exit(main())
