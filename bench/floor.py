"""What the shared machinery alone costs, against hello world, under the same gunicorn settings.

Every service benchmark's target is a share of hello world's throughput. This measures how
much of that share the platform itself leaves: bench/floor_app.py's endpoints (no auth, a
token check, one SELECT, one audited write with an outbox event), side by side with hello
world in interleaved rounds (bench/load.py `compare`), with server CPU per request. Beside them,
bench/bare_write.py: the same audited write in Flask and the bare driver alone (sqlite3, or psycopg on
the floor's PostgreSQL database), the ceiling of any endpoint that writes on this stack.

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


class Floor:
    """bench/floor_app.py under the shared gunicorn settings, on SQLite in `env`'s WORKLINK_VAR or on a
    throwaway PostgreSQL database under `postgres_base`, and beside it bench/bare_write.py on the same
    database. Service benchmarks run them beside their own targets, so an endpoint is also shown as a
    share of the bare platform's matching endpoint and next to the least any write costs here."""

    def __init__(self, env: dict[str, str], postgres_base: str | None = None):
        from worklink.auth import mint_token
        from worklink.config import Settings
        from worklink.devstack import free_port

        self.env, self.base, self.name = dict(env), postgres_base, None
        self.env.pop("FLOOR_DATABASE_URL", None)
        if postgres_base:
            from worklink.devstack.postgres import create_database
            self.name = f"wl_bench_floor_{uuid.uuid4().hex[:8]}"
            self.env["FLOOR_DATABASE_URL"] = create_database(postgres_base, self.name)
        token = mint_token(Settings.from_env("floor", self.env).jwt, role="gp", org=str(uuid.uuid4()),
                           ttl_seconds=7200)
        self.auth = {"Authorization": f"Bearer {token}"}
        self.port = free_port()
        self.process = start_gunicorn("bench.floor_app:app", self.port, self.env, "/noop")
        self.bare_port = free_port()
        bare_env = {**self.env, "BARE_WRITE_DATABASE_URL": self.env.get("FLOOR_DATABASE_URL", "")}
        try:
            self.bare = start_gunicorn("bench.bare_write:app", self.bare_port, bare_env)
        except BaseException:
            self.close()
            raise

    @property
    def database(self) -> str:
        return "postgresql" if self.name else "sqlite"

    def target(self, endpoint: str, name: str | None = None) -> Target:
        """noop, auth, read, write or bare write, as a `compare` target named `name` (default: the endpoint)."""
        if endpoint == "bare write":
            bare_write = ("POST", "/write", b"{}", {"Content-Type": "application/json"})
            return Target(name or endpoint, self.bare_port, lambda n: bare_write, self.bare.pid, ok_statuses=(201,))
        if endpoint == "write":
            write = ("POST", "/write", b"{}", {**self.auth, "Content-Type": "application/json"})
            return Target(name or endpoint, self.port, lambda n: write, self.process.pid, ok_statuses=(201,))
        return Target(name or endpoint, self.port, get([f"/{endpoint}"], self.auth), self.process.pid)

    def close(self) -> None:
        if getattr(self, "bare", None):
            stop(self.bare)
        stop(self.process)
        if self.name:
            from worklink.devstack.postgres import drop_database
            drop_database(self.base, self.name)


def bare_context(bare) -> str:
    """The bare write's line in a service benchmark: context, not a verdict."""
    cpu = f" ({bare.cpu_ms:.2f} ms server CPU)" if bare.cpu_ms is not None else ""
    return (f"bench/bare_write.py (the same audited write in Flask and the driver alone, no auth, no schema, "
            f"no ORM) {bare.ratio:.1%} of hello world{cpu}, the most any write reaches on this machine and database")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=9.0, help="closed-loop seconds per target, all rounds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--postgres", action="store_true", help="use the local PostgreSQL")
    parser.add_argument("--postgres-url", help="base URL of a PostgreSQL server")
    args = parser.parse_args()

    from worklink.devstack import free_port

    var = tempfile.mkdtemp(prefix="wl-bench-floor-")
    env = {**os.environ, "WORKLINK_VAR": var, "WORKLINK_ENV": "development", "WORKLINK_LOG_LEVEL": "INFO",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "shared")])}
    base = None
    if args.postgres or args.postgres_url:
        from worklink.devstack.postgres import ensure_local_postgres
        base = (args.postgres_url.rstrip("/") + "/") if args.postgres_url else ensure_local_postgres()
    hello_port = free_port()
    hello = start_gunicorn("bench.hello:app", hello_port, env)
    floor = Floor(env, base)
    try:
        results = compare([Target("hello", hello_port, get(["/"]), hello.pid),
                           *(floor.target(endpoint) for endpoint in ("bare write", "noop", "auth", "read", "write"))],
                          baseline="hello", seconds=args.seconds, rounds=args.rounds, clients=args.clients,
                          processes=args.processes, latency=False)
    finally:
        floor.close()
        stop(hello)
    database = floor.database
    print(f"\nthe platform's floor ({database}); a 25% target leaves an endpoint the gap to these rows")
    print(HEADER)
    print(baseline_line(results["hello"]))
    for kind in ("bare write", "noop", "auth", "read", "write"):
        print(ratio_line(kind, results[kind], results["hello"].rps, 0.25, float("inf"), check_latency=False)[0])
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / f"floor-{database}.json").write_text(json.dumps(
        {k: r.as_dict() for k, r in results.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
