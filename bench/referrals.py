"""POST /referrals on PostgreSQL vs. a hello-world Flask app, same gunicorn settings, same run.

Both servers run side by side; bench/load.py's `compare` measures them:
1. Throughput: closed loop, C concurrent clients (in P load processes), in R interleaved
   rounds against hello world (GET /) and the referrals service (POST /referrals, a new
   person each time, so every request is a real intake: routing, duplicate check, insert,
   history, outbox event, audit). The ratio is the median of each round's referrals rate
   over hello's in that round. Target: referrals >= 25% of hello world's requests/s.
2. Latency: open loop at half the referrals rate; latency is taken from each request's
   *scheduled* start (no coordinated omission). Target: p99 <= 100 ms.
Server CPU per request (all gunicorn processes) is printed too.

    .venv/bin/python bench/referrals.py                       # local PostgreSQL, 15 s phases
    .venv/bin/python bench/referrals.py --seconds 20 --clients 16 --postgres-url postgresql+psycopg://u:p@h:5432/
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (str(ROOT / "shared"), str(ROOT)):
    if path not in sys.path:
        sys.path.insert(0, path)
os.environ.setdefault("WORKLINK_DEPLOY_DIR", str(ROOT / "deploy"))

from bench.harness import start_gunicorn, stop  # noqa: E402
from bench.floor import Floor, bare_context  # noqa: E402
from bench.load import HEADER, Target, baseline_line, compare, floor_line, get, ratio_line  # noqa: E402

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


def intake(token: str):
    """A new person every time, so every request is a real intake."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    return lambda n: ("POST", "/referrals", referral_body(n), headers)


def main() -> int:
    parser = argparse.ArgumentParser(description="POST /referrals vs hello world under gunicorn")
    parser.add_argument("--seconds", type=float, default=15.0, help="closed-loop seconds per target, all rounds")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (hello, referrals, ...)")
    parser.add_argument("--processes", type=int, default=2, help="load-generator processes")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients in total")
    parser.add_argument("--postgres-url", help="base URL of a PostgreSQL server (default: a local one)")
    parser.add_argument("--no-floor", action="store_true",
                        help="leave out bench/floor_app.py's /write and bench/bare_write.py (context)")
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
    hello_port, referrals_port, bare_port, lean_port = free_port(), free_port(), free_port(), free_port()
    hello = start_gunicorn("bench.hello:app", hello_port, env)
    service = start_gunicorn("worklink_referrals.wsgi:app", referrals_port, env)
    floor = bare = lean = None
    if not args.no_floor:
        floor = Floor(env, base)
        bare = _start_bare_intake(env, url, settings.jwt, bare_port)
        lean = _start_bare_intake(env, url, settings.jwt, lean_port, one_round_trip=True)
    try:
        results = compare([Target("hello", hello_port, get(["/"]), hello.pid),
                           Target("referrals", referrals_port, intake(token), service.pid, ok_statuses=(201,)),
                           *([floor.target("write", "floor"), floor.target("bare write", "bare"),
                              Target("bare intake", bare_port, intake(token), bare.pid, ok_statuses=(201,)),
                              Target("lean intake", lean_port, intake(token), lean.pid, ok_statuses=(201,))]
                             if floor else [])],
                          baseline="hello", seconds=args.seconds, rounds=args.rounds, clients=args.clients,
                          processes=args.processes)
    finally:
        stop(service)
        stop(hello)
        if floor:
            stop(lean)
            stop(bare)
            floor.close()
        drop_database(base, name)

    print("\n" + HEADER)
    print(baseline_line(results["hello"]))
    line, passed = ratio_line("referrals", results["referrals"], results["hello"].rps, THROUGHPUT_TARGET,
                              P99_TARGET_MS)
    print(line)
    print(f"targets: POST /referrals >= {THROUGHPUT_TARGET:.0%} of hello world, p99 <= {P99_TARGET_MS:.0f} ms "
          "at half its rate")
    if floor:
        print(f"context: the floor's /write on PostgreSQL {results['floor'].ratio:.1%} of hello world; "
              f"{bare_context(results['bare'])}")
        for name, shape in (("bare intake", "five round trips, as the service"),
                            ("lean intake", "one statement in autocommit")):
            cpu = results[name].cpu_ms
            print(f"context: bench/bare_intake.py (the intake's own work in Flask, PyJWT, marshmallow and psycopg "
                  f"alone, {shape}; see its docstring) {results[name].ratio:.1%} of hello world"
                  + (f" ({cpu:.2f} ms server CPU)" if cpu is not None else ""))
        print(floor_line("POST /referrals", results["referrals"], "/write (an audited write staging one event)",
                         results["floor"]))
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"referrals-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps({"when": datetime.now(timezone.utc).isoformat(), "seconds": args.seconds,
                               "rounds": args.rounds, "clients": args.clients, "processes": args.processes,
                               "results": {k: r.as_dict() for k, r in results.items()}}, indent=2))
    print(f"results: {out}")
    return 0 if passed else 1


def _start_bare_intake(env: dict[str, str], url: str, jwt_settings, port: int, one_round_trip: bool = False):
    """bench/bare_intake.py on the service's database (its own bare_* tables), one service for the bench's area."""
    bare_env = {**env, "BARE_INTAKE_DATABASE_URL": url, "BARE_INTAKE_JWT_SECRET": jwt_settings.secret,
                "BARE_INTAKE_JWT_AUDIENCE": jwt_settings.audience, "BARE_INTAKE_JWT_ISSUER": jwt_settings.issuer,
                "BARE_INTAKE_ONE_ROUND_TRIP": "1" if one_round_trip else "0"}
    from bench import bare_intake
    bare_intake.prepare(url, [(uuid.uuid4(), uuid.uuid4(), "GL")])
    return start_gunicorn("bench.bare_intake:app", port, bare_env)


def _add_routing_service(url: str) -> None:
    from worklink.db import Database
    from worklink_referrals.services import add_routing_service

    with Database(url).transaction() as session:
        add_routing_service(session, uuid.uuid4(), uuid.uuid4(), datetime.now(timezone.utc))


if __name__ == "__main__":
    sys.exit(main())
