"""Directory reads, in-process (no HTTP server, no client): where a search's time goes.

Loads bench/directory.py's directory (10,000 listings by default, the same bulk load), then
runs the real app through Flask's test client with the HTTP benchmark's own requests:
- search: GET /services?search=<words>&taxonomy_term_id=<term> (bench/directory.py's rotation);
- proximity: GET /service_at_locations?postcode=<postcode>&proximity=5000 (its postcodes);
- radius: GET /services?lat=..&lon=..&radius=5000 (the same postcodes' points, the extension).
For each it reports milliseconds and CPU milliseconds per request (median of interleaved
batches, a hello-world Flask app's batches between them for reference), the SQL statements a
request runs, and with --profile the top of a cProfile. The machine is shared, so CPU time in
this process is the steadier figure (SQLite's work included; PostgreSQL's own CPU is not).

Old code against new: load a database once (--keep prints its URL), then run this file with
PYTHONPATH pointing at another checkout's services/directory and shared (a `git worktree` of
the old commit) and --url, in turns; --dump writes every response, to compare them.

    .venv/bin/python bench/directory_profile.py                           # SQLite, every scenario
    .venv/bin/python bench/directory_profile.py --scenario search --profile
    .venv/bin/python bench/directory_profile.py --database postgresql --keep
    PYTHONPATH=/tmp/old/services/directory:/tmp/old/shared .venv/bin/python bench/directory_profile.py --url URL
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "shared"):  # appended: a PYTHONPATH naming another checkout's code comes first
    if str(path) not in sys.path:
        sys.path.append(str(path))
os.environ.setdefault("WORKLINK_DEPLOY_DIR", str(ROOT / "deploy"))

SCENARIOS = ("search", "proximity", "radius")


def scenario_paths() -> dict[str, list[str]]:
    """Each scenario's requests, in bench/directory.py's rotation."""
    from bench.directory import TERMS, WORDS
    from worklink_directory import demo
    from worklink_directory.geocode import OfflineGeocoder

    geocoder = OfflineGeocoder.demo()
    postcodes = sorted(p for p in geocoder.rows if " " in p)[::7]
    points = [geocoder.rows[p] for p in postcodes]
    return {"search": [f"/services?search={w.replace(' ', '+')}&taxonomy_term_id={demo.term_id(t)}"
                       for w in WORDS for t in TERMS],
            "proximity": [f"/service_at_locations?postcode={p.replace(' ', '+')}&proximity=5000" for p in postcodes],
            "radius": [f"/services?lat={p.latitude}&lon={p.longitude}&radius=5000" for p in points]}


def prepare_database(args, var_dir: Path) -> tuple[str, str | None]:
    """(URL, name of a PostgreSQL database to drop afterwards): a freshly loaded one, or --url's."""
    if args.url:
        return args.url, None
    from bench.directory import load_directory

    name = None
    if args.database == "postgresql":
        from worklink.devstack.postgres import create_database, ensure_local_postgres
        name = f"directory_profile_{uuid.uuid4().hex[:8]}"
        url = create_database((args.postgres_url or ensure_local_postgres()).rstrip("/") + "/", name)
    else:
        url = f"sqlite:///{var_dir / 'directory.db'}"
    started = time.monotonic()
    loaded = load_directory(url, args.services)
    print(f"loaded {loaded} listings in {time.monotonic() - started:.1f} s: {url}")
    return url, name


def build_app(url: str, var_dir: Path):
    import logging

    from worklink.config import Settings
    from worklink_directory.app import create_app

    env = {"WORKLINK_VAR": str(var_dir), "DIRECTORY_DATABASE_URL": url, "WORKLINK_ENV": "development",
           "WORKLINK_LOG_LEVEL": "INFO"}
    app = create_app(settings=Settings.from_env("directory", env))
    for handler in logging.getLogger().handlers:  # keep formatting each log line, as gunicorn does
        if getattr(handler, "_worklink", False):
            handler.setStream(open(os.devnull, "w"))
    return app


def batch_ms(get, paths: list[str]) -> tuple[float, float]:
    """(wall, CPU) milliseconds per request over `paths`."""
    started, cpu_started = time.perf_counter(), time.process_time()
    for path in paths:
        get(path)
    return ((time.perf_counter() - started) * 1000 / len(paths),
            (time.process_time() - cpu_started) * 1000 / len(paths))


def statements_per_request(app, get, paths: list[str]) -> tuple[float, list[str]]:
    """The mean number of SQL statements a request runs, and those of the first request."""
    import sqlalchemy as sa

    statements: list[str] = []
    engine = app.extensions["worklink"].database.engine
    listener = lambda *a: statements.append(a[2])  # noqa: E731
    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        get(paths[0])
        first = list(statements)
        for path in paths[1:]:
            get(path)
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
    return len(statements) / len(paths), first


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--postgres-url", help="a PostgreSQL server's base URL (default: the local one)")
    parser.add_argument("--url", help="a database bench/directory.py's load already filled (not dropped)")
    parser.add_argument("--keep", action="store_true", help="keep the database made here (prints its URL)")
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--scenario", choices=SCENARIOS, action="append", help="(repeatable) default: all")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved batches per scenario")
    parser.add_argument("--profile", action="store_true", help="cProfile the timed batches")
    parser.add_argument("--cpu-profile", action="store_true", help="with --profile: CPU time, not wall time")
    parser.add_argument("--save", help="with --profile: write the profile's stats to this file (pstats)")
    parser.add_argument("--show-sql", action="store_true", help="print the statements of one request per scenario")
    parser.add_argument("--dump", help="write every scenario's responses (status and JSON) to this file")
    args = parser.parse_args()

    from flask import Flask

    var_dir = Path(tempfile.mkdtemp(prefix="wl-prof-directory-"))
    url, db_name = prepare_database(args, var_dir)
    app = build_app(url, var_dir)
    import worklink_directory
    print(f"code: {Path(worklink_directory.__file__).parent}")
    client = app.test_client()

    def get(path: str):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code, response.get_data(as_text=True)[:300])
        return response

    every = scenario_paths()
    scenarios = args.scenario or list(SCENARIOS)
    if args.dump:
        Path(args.dump).write_text(json.dumps({path: get(path).get_json() for s in scenarios for path in every[s]},
                                              indent=1, sort_keys=True))
    for scenario in scenarios:  # warm-up: caches, compiled statements, the vocabulary
        for path in every[scenario]:
            get(path)
    sql = {}
    for scenario in scenarios:
        sql[scenario] = statements_per_request(app, get, every[scenario])
        if args.show_sql:
            print(f"-- {scenario}: {every[scenario][0]}")
            print("\n".join(s.split("\n")[0][:200] for s in sql[scenario][1]))

    hello = Flask("hello")
    hello.get("/")(lambda: {"hello": "world"})
    hello_client = hello.test_client()
    profiler = None
    if args.profile:
        profiler = cProfile.Profile(time.process_time) if args.cpu_profile else cProfile.Profile()
    batches: dict[str, list[tuple[float, float]]] = {s: [] for s in scenarios}
    hello_batches = []
    for _ in range(args.rounds):  # interleaved, so a busy spell on the shared machine touches every scenario
        for scenario in scenarios:
            if profiler:
                profiler.enable()
            batches[scenario].append(batch_ms(get, every[scenario]))
            if profiler:
                profiler.disable()
        hello_batches.append(batch_ms(lambda _: hello_client.get("/"), range(300)))

    hello_ms = statistics.median(b[0] for b in hello_batches)
    print(f"{url.split(':')[0]}, {args.rounds} rounds{', under cProfile' if profiler else ''}; "
          f"hello world {hello_ms:.3f} ms/request")
    for scenario in scenarios:
        ms = statistics.median(b[0] for b in batches[scenario])
        cpus = [b[1] for b in batches[scenario]]
        print(f"{scenario:9} {ms:6.2f} ms/request, {statistics.median(cpus):6.2f} ms CPU (batches {min(cpus):.2f}"
              f"-{max(cpus):.2f}), {sql[scenario][0]:.1f} SQL statements, "
              f"{len(every[scenario])} requests a batch; hello/this {hello_ms / ms:.1%}")
    if profiler and args.save:
        profiler.dump_stats(args.save)
    if profiler:
        for order, count in (("cumulative", 50), ("tottime", 35)):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(count)
            print(out.getvalue())
    app.extensions["worklink"].database.dispose()
    if args.keep and not args.url:
        print(f"kept: --url {url}")
    elif db_name:
        from worklink.devstack.postgres import drop_database
        drop_database((args.postgres_url or ensure_local()).rstrip("/") + "/", db_name)
    return 0


def ensure_local() -> str:
    from worklink.devstack.postgres import ensure_local_postgres
    return ensure_local_postgres()


if __name__ == "__main__":
    sys.exit(main())
