"""Directory reads under load: 10,000 services, gunicorn with 2 workers, vs. a hello-world Flask app.

Scenarios, each against the same gunicorn settings (2 workers, `worklink.gunicorn_conf`):
- hello: GET / on a hello-world Flask app (the baseline);
- search: GET /services?search=<words>&taxonomy_term_id=<term> (rotating words and terms);
- proximity: GET /service_at_locations?postcode=<postcode>&proximity=5000 (rotating postcodes);
- search built / proximity built: the same against a second directory server with its feed cache off
  (DIRECTORY_FEED_CACHE_ENTRIES=0), so every answer is built from the database, as the first time an address
  is asked for or after the directory changes. The first two, after their first round, are answered from each
  worker's feed cache (56 searches and 28 postcodes rotate): what repeated reads of an unchanged directory cost.

Both servers run side by side; bench/load.py's `compare` does the measuring:
1. Throughput: closed loop, C clients in P processes, in R interleaved rounds (hello,
   search, proximity, hello, ...) of D/R seconds each; the ratio is the median of each
   round's scenario rate over hello's rate in that round, so load drifting on a shared
   machine does not skew it. Target: each directory scenario >= 25% of hello world.
2. Latency: open loop at half the scenario's median rate, latency measured from each
   request's scheduled start (no coordinated omission). Target: p99 <= 50 ms.
Server CPU per request (all gunicorn processes, via psutil) is printed too: it does not
depend on what else the machine is doing.

    .venv/bin/python bench/directory.py                     # SQLite, 10,000 services
    .venv/bin/python bench/directory.py --postgres-url postgresql+psycopg://u:p@h:5432/
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (str(ROOT / "shared"), str(ROOT)):
    if path not in sys.path:
        sys.path.insert(0, path)
os.environ.setdefault("WORKLINK_DEPLOY_DIR", str(ROOT / "deploy"))

from bench.harness import start_gunicorn, stop  # noqa: E402
from bench.floor import Floor  # noqa: E402
from bench.load import HEADER, Target, baseline_line, compare, floor_line, get, ratio_line  # noqa: E402

THROUGHPUT_TARGET, P99_TARGET_MS = 0.25, 50.0
RESULTS_DIR = Path(__file__).resolve().parent / "results"
WORDS = ["counselling", "debt advice", "cv", "wellbeing", "benefits", "job club", "back pain", "digital skills"]
TERMS = ["mental-health", "debt", "employment-advice", "skills", "benefits", "peer-support", "counselling"]
SCENARIOS = ("search", "proximity", "search built", "proximity built")


def load_directory(url: str, services: int) -> int:
    """Bulk-load `services` demo services (ids, locations, schedules, terms, full-text index); no events."""
    import sqlalchemy as sa

    from worklink.db import Database
    from worklink.migrations import upgrade
    from worklink.service import installed_services
    from worklink_directory import demo, importer, search
    from worklink_directory.models import (Location, Organization, Schedule, SearchDocument, Service, ServiceAtLocation,
                                           ServiceTerm, TaxonomyTerm)

    upgrade(installed_services()["directory"].migrations_dir, url)
    database = Database(url)
    copies = -(-services // (len(demo.TOWNS) * len(demo.SERVICES)))
    records = list(demo.demo_records(copies))[:services]
    with database.transaction() as session:
        demo.ensure_taxonomy(session)
        names = {t.id: t.name for t in session.scalars(sa.select(TaxonomyTerm))}
        parents = search.term_parents(session)
        orgs: set[str] = set()
        documents = []
        for record in records:
            org = record["organization"]
            if org["id"] not in orgs:
                orgs.add(org["id"])
                session.add(Organization(id=uuid.UUID(org["id"]), name=org["name"], description=org["description"],
                                         is_demo=True))
                session.flush()  # locations refer to organisations without an ORM relationship
            data = importer._record_to_input(record)
            sid = uuid.UUID(record["id"])
            svc = Service(id=sid, organization_id=uuid.UUID(org["id"]), name=record["name"],
                          description=record["description"], status="active", is_demo=True,
                          application_process=record["application_process"],
                          minimum_age=record.get("minimum_age"), maximum_age=record.get("maximum_age"),
                          delivery_modes=",".join(data["delivery_modes"]), is_free=data["is_free"])
            svc.schedules = [Schedule(**s) for s in data["schedules"]]
            svc.attributes = [ServiceTerm(taxonomy_term_id=uuid.UUID(t)) for t in data["taxonomy_term_ids"]]
            loc = data["locations"][0]
            svc.locations = [ServiceAtLocation(location=Location(organization_id=uuid.UUID(org["id"]), **loc))]
            session.add(svc)
            documents.append((sid, search.document(
                name=svc.name, description=svc.description, how_to=svc.application_process,
                labels=[names[uuid.UUID(t)] for t in data["taxonomy_term_ids"]],
                term_ids=data["taxonomy_term_ids"], taxonomy_ids=[demo.TAXONOMY["id"]], parents=parents)))
        session.flush()
        index = search.SearchIndex.for_session(session)
        for key, (sid, doc) in enumerate(documents, start=1):
            session.add(SearchDocument(key=key, service_id=sid))
            session.flush()
            index.replace(session, key, doc)
    with database.engine.connect() as conn:  # planner statistics, as a maintained database would have
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    database.dispose()
    return len(records)


def _paths(kind: str, term_ids: dict[str, str], postcodes: list[str]) -> list[str]:
    if kind == "hello":
        return ["/"]
    if kind == "search":
        return [f"/services?search={w.replace(' ', '+')}&taxonomy_term_id={term_ids[t]}" for w in WORDS for t in TERMS]
    return [f"/service_at_locations?postcode={p.replace(' ', '+')}&proximity=5000" for p in postcodes]


def hits_needed(cached: float, built: float, target: float = THROUGHPUT_TARGET) -> float | None:
    """The share of reads the cache must answer for a mix of kept and built answers to run at `target` of hello
    world (rates as shares of hello; a saturated server spends h/cached + (1-h)/built per hello request)."""
    if built >= target:
        return 0.0
    if cached <= target:
        return None
    return (1 / built - 1 / target) / (1 / built - 1 / cached)


def hits_needed_line(kind: str, cached: float | None, built: float | None) -> str:
    needed = hits_needed(cached, built) if cached and built else None
    if needed is None:
        return f"{kind}: no share of cache hits reaches {THROUGHPUT_TARGET:.0%} of hello world"
    return (f"{kind}: a mix of kept and built answers runs at {THROUGHPUT_TARGET:.0%} of hello world when at least "
            f"{needed:.0%} of reads are answered from the cache")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=15.0, help="closed-loop seconds per scenario, all rounds")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (hello, search, proximity, ...)")
    parser.add_argument("--clients", type=int, default=8, help="closed-loop clients (threads across processes)")
    parser.add_argument("--processes", type=int, default=2, help="load-generator processes")
    parser.add_argument("--postgres-url", help="base URL of a PostgreSQL server (default: SQLite)")
    parser.add_argument("--no-floor", action="store_true", help="leave out bench/floor_app.py's /read (context)")
    args = parser.parse_args()

    from worklink.devstack import free_port
    from worklink_directory import demo
    from worklink_directory.geocode import OfflineGeocoder

    workdir = Path(tempfile.mkdtemp(prefix="directory-bench-"))
    db_name = None
    if args.postgres_url:
        from worklink.devstack.postgres import create_database
        db_name = f"directory_bench_{uuid.uuid4().hex[:8]}"
        url = create_database(args.postgres_url.rstrip("/") + "/", db_name)
    else:
        url = f"sqlite:///{workdir / 'directory.db'}"
    started = time.monotonic()
    loaded = load_directory(url, args.services)
    print(f"loaded {loaded} services into {url.split('://')[0]} in {time.monotonic() - started:.1f} s")

    env = {**os.environ, "DIRECTORY_DATABASE_URL": url, "WORKLINK_VAR": str(workdir), "WEB_CONCURRENCY": "2",
           "WORKLINK_LOG_LEVEL": "INFO", "PYTHONPATH": f"{ROOT}:{ROOT / 'bench'}", "WORKLINK_ENV": "development"}
    term_ids = {code: demo.term_id(code) for code in TERMS}
    postcodes = sorted(p for p in OfflineGeocoder.demo().rows if " " in p)[::7]
    hello = start_gunicorn("bench.hello:app", hello_port := free_port(), env, "/")
    directory = start_gunicorn("worklink_directory.wsgi:app", directory_port := free_port(), env, "/healthz")
    built = start_gunicorn("worklink_directory.wsgi:app", built_port := free_port(),
                           {**env, "DIRECTORY_FEED_CACHE_ENTRIES": "0"}, "/healthz")
    base = args.postgres_url.rstrip("/") + "/" if args.postgres_url else None
    floor = None if args.no_floor else Floor({**env, "PYTHONPATH": f"{ROOT}:{ROOT / 'shared'}"}, base)
    try:
        results = compare([Target("hello", hello_port, get(_paths("hello", term_ids, postcodes)), hello.pid),
                           Target("search", directory_port, get(_paths("search", term_ids, postcodes)), directory.pid),
                           Target("proximity", directory_port, get(_paths("proximity", term_ids, postcodes)),
                                  directory.pid),
                           Target("search built", built_port, get(_paths("search", term_ids, postcodes)), built.pid),
                           Target("proximity built", built_port, get(_paths("proximity", term_ids, postcodes)),
                                  built.pid),
                           *([floor.target("read", "floor")] if floor else [])],
                          baseline="hello", seconds=args.seconds, rounds=args.rounds, clients=args.clients,
                          processes=args.processes)
    finally:
        stop(directory)
        stop(built)
        stop(hello)
        if floor:
            floor.close()
    if db_name:
        from worklink.devstack.postgres import drop_database
        drop_database(args.postgres_url.rstrip("/") + "/", db_name)

    ok = True
    print("\n" + HEADER)
    print(baseline_line(results["hello"]))
    for kind in SCENARIOS:
        line, passed = ratio_line(kind, results[kind], results["hello"].rps, THROUGHPUT_TARGET, P99_TARGET_MS)
        print(line)
        ok &= passed or kind.endswith("built")  # the verdict is on the service as shipped (cache on)
    print(f"targets: throughput >= {THROUGHPUT_TARGET:.0%} of hello world, p99 <= {P99_TARGET_MS:.0f} ms "
          f"(verdict on search and proximity, the cache on; the 'built' rows are every answer built, for context)")
    for kind in ("search", "proximity"):
        print(hits_needed_line(kind, results[kind].ratio, results[f"{kind} built"].ratio))
    if floor:
        print(f"context: the floor's /read (a token check and one SELECT) {results['floor'].ratio:.1%} of hello world")
        for kind in SCENARIOS:
            print(floor_line(kind, results[kind], "/read", results["floor"]))
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "directory.json").write_text(json.dumps({"services": loaded, "database": url.split("://")[0],
                                                            "seconds": args.seconds,
                                                            "results": {k: r.as_dict() for k, r in results.items()}},
                                                           indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
