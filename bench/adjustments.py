"""Adjustments service: guidance-search latency and suggestion-issuing throughput over HTTP.

The service and a hello-world Flask app run side by side under the project's shared gunicorn
settings (`worklink.gunicorn_conf`: gthread, WEB_CONCURRENCY workers x WORKLINK_THREADS
threads); bench/load.py loads them (C keep-alive clients across P processes):

  issue     POST /suggestions/<id>/issue, each request on its own draft created beforehand
            (untimed), so the figure is issuing alone, as the issue names it: validate the
            suggestion again, write it, its employer link, its audit record and its outbox event.
            The drafts are a mix: 1 to 5 recommendations (library and free text), and one in four
            with the patient's consent to an employment-adviser referral (a second, restricted
            event and a referral row). Target: >= 25% of hello world's throughput, as the median
            of per-round ratios over R interleaved rounds (hello, healthz, issue, hello, ...).
  healthz   GET /healthz on the service: the shared request machinery with no work (context).
  search    GET /guidance/search cycling through condition, limitation, job-task and free-text
            queries: latency in an open loop at half its closed-loop rate. Target: p99 <= 30 ms.
Server CPU per request (all gunicorn processes) is printed too.

    .venv/bin/python bench/adjustments.py                    # SQLite
    .venv/bin/python bench/adjustments.py --database postgresql
    .venv/bin/python bench/adjustments.py --database postgresql --postgres-url postgresql+psycopg://u:p@host:5432/

bench/adjustments_profile.py measures the same issue in-process (ms and SQL statements per issue).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "shared"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
os.environ.setdefault("WORKLINK_DEPLOY_DIR", str(ROOT / "deploy"))

from bench.harness import start_gunicorn, stop  # noqa: E402
from bench.floor import Floor, bare_context  # noqa: E402
from bench.load import HEADER, Target, baseline_line, compare, floor_line, get, measure, ratio_line  # noqa: E402

ISSUE_TARGET, SEARCH_P99_TARGET_MS = 0.25, 30.0
SEARCHES = ["/guidance/search?condition=back_pain", "/guidance/search?condition=depression&task=public_contact",
            "/guidance/search?limitation=fatigue&limitation=concentration", "/guidance/search?task=driving_vehicles",
            "/guidance/search?q=night+shifts", "/guidance/search?q=dyslexia+reading",
            "/guidance/search?q=sciatica+lifting+boxes", "/guidance/search?condition=long_covid&q=stairs",
            "/guidance/search?limitation=hand_use&task=computer_work", "/guidance/search?q=noise+open+plan+office"]


def issuing(drafts: list[str], headers: dict[str, str]):
    """Each request issues the next unused draft. The counter lives in shared memory made before
    the load processes fork, so no two requests - in any process, round or phase - share a draft."""
    taken = multiprocessing.Value("q", 0)
    body = json.dumps({"version": 1}).encode()

    def scenario(_n: int):
        with taken.get_lock():
            index = taken.value
            taken.value += 1
        return "POST", f"/suggestions/{drafts[index % len(drafts)]}/issue", body, headers

    return scenario, taken


# --- setup ---------------------------------------------------------------------------------


def postgres_base(args) -> str | None:
    if args.database != "postgresql":
        return None
    from worklink.devstack.postgres import ensure_local_postgres
    return (args.postgres_url.rstrip("/") + "/") if args.postgres_url else ensure_local_postgres()


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
    from worklink_adjustments.domain import uk_today
    from worklink_adjustments.models import PLATFORM
    from worklink_adjustments.schemas import SuggestionInSchema

    database = Database(url)
    deps = services.Deps(Outbox("adjustments", PLATFORM, CATALOGUE), AuditTrail(PLATFORM), person_key="bench",
                         link_secret="bench")
    clinician = services.Clinician("bench-gp", practice, Principal("bench-gp", "gp", str(practice)))
    schema = SuggestionInSchema()
    variants = [schema.load(body) for body in draft_mix(suggestion_body)]
    ids = []
    for start in range(0, count, 200):
        with database.transaction() as session:
            for n in range(start, min(start + 200, count)):
                data = variants[n % len(variants)]
                ids.append(str(services.create(session, deps, clinician, data, uk_today())["id"]))
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
    parser.add_argument("--seconds", type=float, default=18.0, help="closed-loop seconds per target, all rounds")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--processes", type=int, default=2, help="load-generator processes")
    parser.add_argument("--drafts", type=int, default=30000, help="drafts to issue (each request uses its own)")
    parser.add_argument("--no-floor", action="store_true", help="leave out bench/floor_app.py's /write and bench/bare_write.py (context)")
    args = parser.parse_args()

    from worklink.auth import mint_token
    from worklink.config import JwtSettings
    from worklink.devstack import free_port

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

    issue, taken = issuing(drafts, headers)
    service = start_gunicorn("worklink_adjustments.wsgi:app", service_port := free_port(), env)
    hello = start_gunicorn("bench.hello:app", hello_port := free_port(), env)
    floor = None if args.no_floor else Floor(env, postgres_base(args))
    try:
        results = compare([Target("hello", hello_port, get(["/"]), hello.pid),
                           Target("healthz", service_port, get(["/healthz"]), service.pid),
                           Target("issue", service_port, issue, service.pid),
                           *([floor.target("write", "floor"), floor.target("bare write", "bare")] if floor else [])],
                          baseline="hello", seconds=args.seconds, rounds=args.rounds, clients=args.clients,
                          processes=args.processes)
        search = measure(service_port, get(SEARCHES, headers), seconds=args.seconds / args.rounds,
                         clients=args.clients, processes=args.processes)
    finally:
        stop(service)
        stop(hello)
        if floor:
            floor.close()
        if args.database == "postgresql":
            from worklink.devstack.postgres import drop_database, ensure_local_postgres
            drop_database(args.postgres_url or ensure_local_postgres(), url.rsplit("/", 1)[1])
    if taken.value > len(drafts):
        print(f"warning: {taken.value} issues asked of {len(drafts)} drafts; raise --drafts (re-issues fail)")

    print(f"\nadjustments bench ({args.database}; gunicorn {env['WEB_CONCURRENCY']} workers x "
          f"{env['WORKLINK_THREADS']} threads; {args.clients} clients in {args.processes} processes)")
    print(HEADER)
    print(baseline_line(results["hello"]))
    no_latency_target = float("inf")  # the issue sets none for these: shown, not judged
    print(ratio_line("healthz", results["healthz"], results["hello"].rps, 0.0, no_latency_target)[0]
          .replace("PASS", "context").replace("FAIL", "context"))
    issue_line, issue_ok = ratio_line("issue", results["issue"], results["hello"].rps, ISSUE_TARGET, no_latency_target)
    print(issue_line)
    if floor:
        print(ratio_line("floor", results["floor"], results["hello"].rps, 0.0, no_latency_target)[0]
              .replace("PASS", "context").replace("FAIL", "context"))
    search_ok = search.errors == 0 and search.p99_ms <= SEARCH_P99_TARGET_MS
    print(f"{'search':10} {search.rps:8.0f} {'':9} {search.p50_ms:8.1f} {search.p99_ms:8.1f} "
          f"{search.latency_rate:7.0f}/s {'':7}   {'PASS' if search_ok else 'FAIL'}  errors={search.errors}")
    print(f"targets: issue >= {ISSUE_TARGET:.0%} of hello world; guidance search p99 <= {SEARCH_P99_TARGET_MS:.0f} ms")
    if floor:
        print(floor_line("issue", results["issue"], "/write (an audited write staging one event)", results["floor"]))
        print(f"context: {bare_context(results['bare'])}")
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / f"adjustments-{args.database}.json").write_text(json.dumps({
        "database": args.database, "drafts_used": taken.value,
        "results": {k: r.as_dict() for k, r in {**results, "search": search}.items()}}, indent=1))
    return 0 if search_ok and issue_ok else 1


if __name__ == "__main__":
    sys.exit(main())
