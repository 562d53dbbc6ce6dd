"""Adjustments: the cost of issuing one suggestion, in-process (no HTTP server, no client).

Runs the real app through Flask's test client: creates drafts (untimed), then issues them
one by one (POST /suggestions/<id>/issue), and reports milliseconds per issue, the SQL
statements each one ran (a `before_cursor_execute` listener), and with --profile the top of
a cProfile. A hello-world Flask app goes through the same test-client loop for reference.
The machine is shared, so these in-process figures are steadier than the HTTP benchmark.

    .venv/bin/python bench/adjustments_profile.py                       # SQLite
    .venv/bin/python bench/adjustments_profile.py --database postgresql --profile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "shared"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
os.environ.setdefault("WORKLINK_DEPLOY_DIR", str(ROOT / "deploy"))
os.environ.setdefault("WORKLINK_ENV", "test")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--issues", type=int, default=400)
    parser.add_argument("--postgres-url", help="a PostgreSQL server's base URL (default: the local one)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--no-hello", action="store_true")
    parser.add_argument("--cpu-profile", action="store_true", help="profile CPU time, not wall time")
    parser.add_argument("--show-sql", action="store_true", help="print the statements of one issue")
    args = parser.parse_args()

    import sqlalchemy as sa
    from flask import Flask

    from bench.adjustments import draft_mix, prepare_database
    from tests.services.adjustments.conftest import Tokens, make_settings, suggestion_body
    from worklink.service import get_service

    var_dir = Path(tempfile.mkdtemp(prefix="wl-prof-adjustments-"))
    url = prepare_database(args.database, var_dir, args.postgres_url)
    settings = make_settings(var_dir, url)
    app = get_service("adjustments").create_app(settings=settings)
    client = app.test_client()
    import logging
    for handler in logging.getLogger().handlers:  # keep formatting each log line, as gunicorn does
        if getattr(handler, "_worklink", False):
            handler.setStream(open(os.devnull, "w"))
    headers = Tokens(settings).header()
    bodies = draft_mix(suggestion_body)  # the HTTP benchmark's mix

    drafts = []
    for n in range(args.issues + 20):
        response = client.post("/suggestions", json=bodies[n % len(bodies)], headers=headers)
        assert response.status_code == 201, response.get_json()
        drafts.append(response.get_json()["id"])

    statements: list[str] = []
    engine = app.extensions["worklink"].database.engine
    sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    held: list[float] = []  # how long each transaction is open (SQLite: holds the database's write lock)
    sa.event.listen(engine, "begin", lambda conn: conn.info.__setitem__("began", time.perf_counter()))
    sa.event.listen(engine, "commit", lambda conn: held.append(time.perf_counter() - conn.info.pop("began")))

    def issue(draft_id: str) -> None:
        response = client.post(f"/suggestions/{draft_id}/issue", json={"version": 1}, headers=headers)
        assert response.status_code == 200, response.get_json()

    for draft in drafts[:20]:  # warm-up
        issue(draft)
    statements.clear()
    issue(drafts[20])
    if args.show_sql:
        print("\n".join(s.split("\n")[0][:160] for s in statements))
    per_issue_sql = len(statements)

    hello = Flask("hello")
    hello.get("/")(lambda: {"hello": "world"})
    hello_client = hello.test_client()

    def batch_ms(run, items) -> tuple[float, float]:
        started, cpu_started = time.perf_counter(), time.process_time()
        for item in items:
            run(item)
        return ((time.perf_counter() - started) * 1000 / len(items),
                (time.process_time() - cpu_started) * 1000 / len(items))

    # Alternate batches of issues and hello-world requests; medians damp the shared machine's noise.
    timed = drafts[21:]
    profiler = (cProfile.Profile(time.process_time) if args.cpu_profile else cProfile.Profile()) if args.profile else None
    issue_batches, hello_batches = [], []
    for start in range(0, len(timed), 50):
        if profiler:
            profiler.enable()
        issue_batches.append(batch_ms(issue, timed[start:start + 50]))
        if profiler:
            profiler.disable()
        if not args.no_hello or not hello_batches:
            hello_batches.append(batch_ms(lambda _: hello_client.get("/"), range(300)))
    if args.verbose:
        print("issue batches ms:", " ".join(f"{b[0]:.2f}" for b in issue_batches))
    held_ms = statistics.median(held) * 1000 if held else float("nan")
    issue_ms = statistics.median(b[0] for b in issue_batches)
    issue_cpu_ms = statistics.median(b[1] for b in issue_batches)
    hello_ms = statistics.median(b[0] for b in hello_batches)

    import threading
    if args.verbose:
        print("threads:", [t.name for t in threading.enumerate()])
    print(f"{args.database}: issue {issue_ms:.2f} ms/request in-process, {issue_cpu_ms:.2f} ms CPU "
          f"({per_issue_sql} SQL statements, "
          f"{len(timed)} issues, median of batches of 50{', under cProfile' if profiler else ''}); hello world {hello_ms:.3f} ms/request; "
          f"ratio {hello_ms / issue_ms:.1%}; transaction open {held_ms:.2f} ms (median)")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
        print(out.getvalue())
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
        print(out.getvalue())
    app.extensions["worklink"].database.dispose()
    if args.database == "postgresql":
        from worklink.devstack.postgres import drop_database, ensure_local_postgres
        drop_database(args.postgres_url or ensure_local_postgres(), url.rsplit("/", 1)[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
