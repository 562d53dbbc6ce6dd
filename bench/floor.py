"""What the shared machinery alone costs, against hello world, under the same gunicorn settings.

Every service benchmark's target is a share of hello world's throughput. This measures how
much of that share the platform itself leaves: bench/floor_app.py's endpoints (no auth, a
token check, one SELECT, one audited write with an outbox event), side by side with hello
world in interleaved rounds (bench/load.py `compare`), with server CPU per request.

    .venv/bin/python bench/floor.py                       # SQLite
    .venv/bin/python bench/floor.py --postgres            # the local PostgreSQL (or --postgres-url)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (str(ROOT / "shared"), str(ROOT)):
    if path not in sys.path:
        sys.path.insert(0, path)
os.environ.setdefault("WORKLINK_DEPLOY_DIR", str(ROOT / "deploy"))

from bench.harness import start_gunicorn, stop  # noqa: E402
from bench.load import HEADER, Target, baseline_line, compare, get, ratio_line  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=9.0, help="closed-loop seconds per target, all rounds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--postgres", action="store_true", help="use the local PostgreSQL")
    parser.add_argument("--postgres-url", help="base URL of a PostgreSQL server")
    args = parser.parse_args()

    from worklink.auth import mint_token
    from worklink.config import Settings
    from worklink.devstack import free_port

    var = tempfile.mkdtemp(prefix="wl-bench-floor-")
    env = {**os.environ, "WORKLINK_VAR": var, "WORKLINK_ENV": "development", "WORKLINK_LOG_LEVEL": "INFO",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "shared")])}
    base = name = None
    if args.postgres or args.postgres_url:
        from worklink.devstack.postgres import create_database, ensure_local_postgres
        base = (args.postgres_url.rstrip("/") + "/") if args.postgres_url else ensure_local_postgres()
        name = f"wl_bench_floor_{uuid.uuid4().hex[:8]}"
        env["FLOOR_DATABASE_URL"] = create_database(base, name)
    token = mint_token(Settings.from_env("floor", env).jwt, role="gp", org=str(uuid.uuid4()), ttl_seconds=3600)
    auth = {"Authorization": f"Bearer {token}"}
    hello_port, floor_port = free_port(), free_port()
    hello = start_gunicorn("bench.hello:app", hello_port, env)
    floor = start_gunicorn("bench.floor_app:app", floor_port, env, "/noop")
    write = ("POST", "/write", b"{}", {**auth, "Content-Type": "application/json"})
    try:
        results = compare([Target("hello", hello_port, get(["/"]), hello.pid),
                           Target("noop", floor_port, get(["/noop"]), floor.pid),
                           Target("auth", floor_port, get(["/auth"], auth), floor.pid),
                           Target("read", floor_port, get(["/read"], auth), floor.pid),
                           Target("write", floor_port, lambda n: write, floor.pid, ok_statuses=(201,))],
                          baseline="hello", seconds=args.seconds, rounds=args.rounds, clients=args.clients,
                          processes=args.processes, latency=False)
    finally:
        stop(floor)
        stop(hello)
        if name:
            from worklink.devstack.postgres import drop_database
            drop_database(base, name)
    database = "postgresql" if name else "sqlite"
    print(f"\nthe platform's floor ({database}); a 25% target leaves an endpoint the gap to these rows")
    print(HEADER)
    print(baseline_line(results["hello"]))
    for kind in ("noop", "auth", "read", "write"):
        print(ratio_line(kind, results[kind], results["hello"].rps, 0.25, float("inf"), check_latency=False)[0])
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / f"floor-{database}.json").write_text(json.dumps(
        {k: r.as_dict() for k, r in results.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
