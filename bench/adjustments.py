"""Adjustments service: guidance-search latency and suggestion-issuing throughput over HTTP.

Both apps run under gunicorn with the project's shared settings (`worklink.gunicorn_conf`:
gthread, WEB_CONCURRENCY workers x WORKLINK_THREADS threads), one after the other, in the
same run, loaded by the same client (P processes x T threads, keep-alive connections).

  search    GET /guidance/search, one client, requests cycling through condition, limitation,
            job-task and free-text queries; p50/p95/p99 latency. Target: p99 <= 30 ms.
  issue     POST /suggestions/<id>/issue on drafts created beforehand (untimed), so the figure is
            issuing alone, as the issue names it: validate the suggestion again, write it, its
            employer link, its audit record and its outbox event. The drafts are a mix: 1 to 5
            recommendations (library and free text), and one in four with the patient's consent
            to an employment-adviser referral (a second, restricted event and a referral row).
  hello     GET / on a hello-world Flask app (bench/hello.py).
  healthz   GET /healthz on the service (context: the shared request machinery with no work).
            Target: issue/s >= 25% of hello/s. Rounds alternate hello and issue; medians reported.

    .venv/bin/python bench/adjustments.py                    # SQLite, 3 rounds of 8 s
    .venv/bin/python bench/adjustments.py --database postgresql --rounds 3 --seconds 8
    .venv/bin/python bench/adjustments.py --database postgresql --postgres-url postgresql+psycopg://u:p@host:5432/

bench/adjustments_profile.py measures the same issue in-process (ms and SQL statements per issue).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "shared"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
os.environ.setdefault("WORKLINK_DEPLOY_DIR", str(ROOT / "deploy"))

from bench.harness import start_gunicorn, stop  # noqa: E402

SEARCHES = ["/guidance/search?condition=back_pain", "/guidance/search?condition=depression&task=public_contact",
            "/guidance/search?limitation=fatigue&limitation=concentration", "/guidance/search?task=driving_vehicles",
            "/guidance/search?q=night+shifts", "/guidance/search?q=dyslexia+reading",
            "/guidance/search?q=sciatica+lifting+boxes", "/guidance/search?condition=long_covid&q=stairs",
            "/guidance/search?limitation=hand_use&task=computer_work", "/guidance/search?q=noise+open+plan+office"]


def free_port() -> int:
    from worklink.devstack import free_port as pick
    return pick()


# --- the load client (runs in worker processes) -------------------------------------------


def _client(args) -> tuple[int, int, list[float]]:
    """One process: `threads` keep-alive connections; returns (ok, failed, latencies, seconds)."""
    import threading

    port, method, paths, body, headers, seconds, threads = args
    ok = failed = 0
    latencies: list[float] = []
    began = time.perf_counter()
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    queue = list(paths)

    def run():
        nonlocal ok, failed
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < stop_at:
            with lock:
                if not queue:
                    return
                path = queue.pop() if method == "POST" else queue[(ok + failed) % len(queue)]
            started = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if response.status < 300:
                    ok += 1
                else:
                    failed += 1

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return ok, failed, latencies, time.perf_counter() - began


def load(port: int, method: str, paths: list[str], seconds: float, processes: int, threads: int,
         body: bytes | None = None, headers: dict | None = None) -> dict:
    shares = [paths[i::processes] for i in range(processes)] if method == "POST" else [paths] * processes
    with ProcessPoolExecutor(processes) as pool:
        results = list(pool.map(_client, [(port, method, share, body, headers or {}, seconds, threads)
                                          for share in shares]))
    elapsed = max(r[3] for r in results)  # from the clients' first request to their last answer
    ok = sum(r[0] for r in results)
    latencies = sorted(x for r in results for x in r[2])
    return {"ok": ok, "failed": sum(r[1] for r in results), "seconds": elapsed, "per_second": ok / elapsed,
            "latencies": latencies}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(int(round(q * (len(values) - 1))), len(values) - 1)]


# --- setup ---------------------------------------------------------------------------------


def prepare_database(kind: str, var_dir: Path, postgres_url: str | None = None) -> str:
    from worklink.migrations import upgrade
    from worklink.service import get_service

    if kind == "postgresql":
        from worklink.devstack.postgres import create_database, ensure_local_postgres
        url = create_database(postgres_url or ensure_local_postgres(), f"wl_bench_{uuid.uuid4().hex[:10]}")
    else:
        url = f"sqlite:///{var_dir / 'adjustments.db'}"
    upgrade(get_service("adjustments").migrations_dir, url)
    return url


def create_drafts(url: str, count: int, practice: uuid.UUID) -> list[str]:
    """Drafts to issue, written through the same use case as the API (untimed)."""
    sys.path.insert(0, str(ROOT))
    from tests.services.adjustments.conftest import suggestion_body
    from worklink.audit import AuditTrail
    from worklink.auth import Principal
    from worklink.db import Database
    from worklink.events.contracts import CATALOGUE
    from worklink.messaging.outbox import Outbox
    from worklink_adjustments import services
    from worklink_adjustments.models import PLATFORM
    from worklink_adjustments.schemas import SuggestionInSchema

    database = Database(url)
    deps = services.Deps(Outbox("adjustments", PLATFORM, CATALOGUE), AuditTrail(PLATFORM), "bench")
    clinician = services.Clinician("bench-gp", practice, Principal("bench-gp", "gp", str(practice)))
    schema = SuggestionInSchema()
    variants = [schema.load(body) for body in draft_mix(suggestion_body)]
    ids = []
    for start in range(0, count, 200):
        with database.transaction() as session:
            for n in range(start, min(start + 200, count)):
                data = variants[n % len(variants)]
                ids.append(str(services.create(session, deps, clinician, data, date.today())["id"]))
    database.dispose()
    return ids


def draft_mix(suggestion_body) -> list[dict]:
    """Eight suggestions as clinicians write them: 1-5 recommendations, library and free text;
    two of the eight (one in four) with consent to an employment-adviser referral."""
    library = [{"difficulty": "Tiredness by mid-afternoon", "adjustment_id": "phased_return_4wk",
                "schedule": [{"week": 1, "plan": "4 hours a day, 3 days"}, {"week": 2, "plan": "5 hours a day"}]},
               {"difficulty": "Noise makes concentrating hard", "adjustment_id": "quiet_workspace"},
               {"difficulty": "Early starts", "free_text": "Start at 10am for the first month."},
               {"difficulty": "Lifting", "adjustment_id": "no_heavy_lifting"},
               {"difficulty": "Long meetings", "free_text": "Short breaks every hour."}]
    bodies = []
    for n in range(8):
        rows = library[:1 + n % 5]
        bodies.append(suggestion_body(recommendations=rows,
                                      **{"consent.refer_to_employment_adviser": n % 4 == 3}))
    return bodies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--postgres-url", help="a PostgreSQL server's base URL (default: the local one, "
                                               "deploy/postgres/ensure-postgres.sh)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=4, help="connections per client process")
    parser.add_argument("--searches", type=int, default=1000)
    parser.add_argument("--drafts", type=int, default=15000)
    args = parser.parse_args()

    from worklink.auth import mint_token
    from worklink.config import JwtSettings

    var_dir = Path(tempfile.mkdtemp(prefix="wl-bench-adjustments-"))
    url = prepare_database(args.database, var_dir, args.postgres_url)
    practice = uuid.uuid4()
    print(f"creating {args.drafts} drafts to issue (untimed) ...", flush=True)
    drafts = create_drafts(url, args.drafts, practice)
    token = mint_token(JwtSettings(), role="gp", org=str(practice), subject="bench-gp", ttl_seconds=7200)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    env = {**os.environ, "WORKLINK_VAR": str(var_dir), "ADJUSTMENTS_DATABASE_URL": url, "WORKLINK_ENV": "development",
           "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "PYTHONPATH": f"{ROOT}:{ROOT / 'shared'}"}
    env.setdefault("WEB_CONCURRENCY", "2")
    env.setdefault("WORKLINK_THREADS", "4")

    service_port, hello_port = free_port(), free_port()
    service = start_gunicorn("worklink_adjustments.wsgi:app", service_port, env)
    hello = start_gunicorn("bench.hello:app", hello_port, env)
    try:
        # Search latency: one client, sequential, after a warm-up.
        load(service_port, "GET", SEARCHES, 2, 1, 1, headers=headers)
        conn = http.client.HTTPConnection("127.0.0.1", service_port, timeout=30)
        search_latencies = []
        for i in range(args.searches):
            started = time.perf_counter()
            conn.request("GET", SEARCHES[i % len(SEARCHES)], headers=headers)
            response = conn.getresponse()
            response.read()
            search_latencies.append(time.perf_counter() - started)
            assert response.status == 200, response.status
        search_latencies.sort()

        issue_rates, hello_rates, floor_rates, issue_p99s = [], [], [], []
        pool = [f"/suggestions/{d}/issue" for d in drafts]
        per_round = len(pool) // args.rounds
        for r in range(args.rounds):
            hello_run = load(hello_port, "GET", ["/"], args.seconds, args.processes, args.threads)
            floor_run = load(service_port, "GET", ["/healthz"], args.seconds / 2, args.processes, args.threads)
            issue_run = load(service_port, "POST", pool[r * per_round:(r + 1) * per_round], args.seconds,
                             args.processes, args.threads, body=json.dumps({"version": 1}).encode(), headers=headers)
            if issue_run["failed"]:
                raise SystemExit(f"{issue_run['failed']} issue requests failed")
            if issue_run["ok"] >= per_round:
                print("  warning: ran out of drafts before the time was up; raise --drafts", flush=True)
            hello_rates.append(hello_run["per_second"])
            floor_rates.append(floor_run["per_second"])
            issue_rates.append(issue_run["per_second"])
            issue_p99s.append(percentile(issue_run["latencies"], 0.99))
            print(f"  round {r + 1}: hello {hello_run['per_second']:,.0f}/s, service /healthz "
                  f"{floor_run['per_second']:,.0f}/s, issue {issue_run['per_second']:,.0f}/s", flush=True)
    finally:
        stop(service)
        stop(hello)
        if args.database == "postgresql":
            from worklink.devstack.postgres import drop_database, ensure_local_postgres
            drop_database(args.postgres_url or ensure_local_postgres(), url.rsplit("/", 1)[1])

    p50, p95, p99 = (percentile(search_latencies, q) * 1000 for q in (0.5, 0.95, 0.99))
    hello_median, issue_median = statistics.median(hello_rates), statistics.median(issue_rates)
    ratio = issue_median / hello_median
    search_ok, issue_ok = p99 <= 30, ratio >= 0.25
    print()
    print(f"adjustments bench ({args.database}; gunicorn {env['WEB_CONCURRENCY']} workers x {env['WORKLINK_THREADS']} "
          f"threads; client {args.processes} processes x {args.threads} connections; {platform.node()})")
    print(f"  guidance search   p50 {p50:.1f} ms  p95 {p95:.1f} ms  p99 {p99:.1f} ms   target p99 <= 30 ms: "
          f"{'PASS' if search_ok else 'FAIL'}")
    print(f"  hello world       {hello_median:,.0f} req/s (median of {args.rounds})")
    print(f"  service /healthz  {statistics.median(floor_rates):,.0f} req/s (the shared request machinery alone, "
          f"{statistics.median(floor_rates) / hello_median:.0%} of hello world; context only)")
    print(f"  issue suggestion  {issue_median:,.0f} req/s (median), p99 {statistics.median(issue_p99s) * 1000:.0f} ms; "
          f"{ratio:.1%} of hello world   target >= 25%: {'PASS' if issue_ok else 'FAIL'}")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / f"adjustments-{args.database}-{int(time.time())}.json").write_text(json.dumps({
        "database": args.database, "search_ms": {"p50": p50, "p95": p95, "p99": p99},
        "hello_per_second": hello_rates, "healthz_per_second": floor_rates, "issue_per_second": issue_rates, "ratio": ratio}, indent=2))
    return 0 if search_ok and issue_ok else 1


if __name__ == "__main__":
    sys.exit(main())
