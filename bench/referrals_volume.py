"""The referrals service's read side at an alliance's volume, timed in-process.

Seeds (through the service's own models, in bulk) years of referrals shaped as real ones are - each with
its history, contact attempts, notes, outcomes and sustainment checks, most ended, the last months' open
in advisers' queues - then times, with the Flask test client and the jobs' own functions: the adviser
queue (every view, API and page), a referral (API and page), the referrer's list, the person's status
page, insights (API and page), the SLA breach sweep, the due sustainment checks, the capacity summary and
the retention sweep. Each line: median milliseconds of --repeat runs and the SQL statements one run sent.

    .venv/bin/python bench/referrals_volume.py                          # SQLite under bench/results/
    .venv/bin/python bench/referrals_volume.py --postgres               # a fresh database on local PostgreSQL
    .venv/bin/python bench/referrals_volume.py --url sqlite:////tmp/r.db --no-seed   # time a seeded one again

The database is kept (its URL is printed) so that a change can be timed on the same data with --no-seed; the
first run's breach sweep and capacity summary flag and publish what the seed left due, later runs are steady.
Timings on a shared machine move with its load: compare statement counts, and times from back-to-back runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (str(ROOT / "shared"), str(ROOT), str(ROOT / "services" / "referrals")):
    if path not in sys.path:
        sys.path.insert(0, path)
os.environ.setdefault("WORKLINK_DEPLOY_DIR", str(ROOT / "deploy"))

import sqlalchemy as sa  # noqa: E402

from worklink.auth import mint_token  # noqa: E402
from worklink.config import Settings  # noqa: E402
from worklink.db import Database  # noqa: E402
from worklink.events.contracts import CATALOGUE  # noqa: E402
from worklink.messaging.outbox import Outbox  # noqa: E402
from worklink.migrations import upgrade  # noqa: E402
from worklink.service import get_service  # noqa: E402
from worklink_referrals import jobs, rights, services  # noqa: E402
from worklink_referrals.config import SELF_REFERRAL_ORG, ReferralSettings  # noqa: E402
from worklink_referrals.domain import OUTCOME_TYPES  # noqa: E402
from worklink_referrals.models import (PLATFORM, ContactAttempt, Note, Outcome, Referral,  # noqa: E402
                                       SustainmentCheck, Transition)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)  # a Monday
RECENT = timedelta(days=120)  # referrals younger than this are mostly still open
AREAS = ("GL1", "GL2", "GL3", "GL4", "GL5", "GL10", "GL20", "GL50", "GL51", "GL52", "BS1", "BS5", "TA1")
SOURCES = (("gp", 60), ("partner", 15), ("self", 15), ("adjustments", 10))
OPEN_MIX = (("submitted", 15), ("triage", 10), ("accepted", 25), ("in_progress", 40), ("on_hold", 5),
            ("completed", 5))
ENDED_MIX = (("completed", 45), ("failed", 15), ("rejected", 15), ("cancelled", 20), ("entered_in_error", 1),
             ("in_progress", 3), ("on_hold", 1))
PATH = ("submitted", "triage", "accepted", "in_progress")  # the steps a referral goes through, in order


def org_id(kind: str, n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"bench-{kind}-{n}"))


def service_id(n: int) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_OID, f"bench-service-{n}")


def adviser(org: int, n: int) -> str:
    return f"adviser-{org}-{n}"


def link(i: int) -> str:
    """The person's private status link of the i-th referral (the bench knows them all)."""
    return f"benchlink-{i:07d}-0123456789abcdef"


def weighted(rng: random.Random, choices) -> str:
    names, weights = zip(*choices)
    return rng.choices(names, weights)[0]


class Seeder:
    """Rows for the models, made in memory and inserted in bulk (executemany) in chunks."""

    def __init__(self, rng: random.Random, organisations: int, advisers: int, practices: int):
        self.rng, self.organisations, self.practices = rng, organisations, practices
        self.per_org = max(1, advisers // organisations)
        self.rows: dict[type, list[dict]] = {model: [] for model in (Referral, Transition, ContactAttempt, Note,
                                                                     Outcome, SustainmentCheck)}
        self.ids = {model: 0 for model in (Transition, ContactAttempt, Note, Outcome)}

    def add(self, model, **row) -> None:
        if model in self.ids:
            self.ids[model] += 1
        self.rows[model].append(row)

    def referral(self, i: int, years: float) -> None:
        rng = self.rng
        submitted = NOW - timedelta(seconds=rng.uniform(0, years * 365 * 86400))
        status = weighted(rng, OPEN_MIX if NOW - submitted < RECENT else ENDED_MIX)
        org = rng.randrange(self.organisations)
        source = weighted(rng, SOURCES)
        referrer_org = str(SELF_REFERRAL_ORG) if source == "self" else org_id("practice", rng.randrange(self.practices))
        advised = status not in ("submitted", "triage", "rejected") or (status == "cancelled" and rng.random() < .5)
        who = adviser(org, rng.randrange(self.per_org)) if advised else None
        rid = uuid.UUID(int=rng.getrandbits(128), version=4)
        steps = self.history(rid, status, submitted, who)
        first_contact = next((t["occurred_at"] for t in steps if t["to_status"] == "in_progress"), None)
        closed = steps[-1]["occurred_at"] if status in ("completed", "failed", "rejected", "cancelled",
                                                         "entered_in_error") else None
        self.add(Referral, id=rid, reference=f"R-{i:08d}", version=len(steps), status=status,
                 business_status="waitlisted" if status == "accepted" and rng.random() < .5 else None,
                 status_reason={"rejected": "not_eligible", "cancelled": "person_withdrew", "failed":
                                "failed_contact", "completed": "goals_met"}.get(status),
                 source=source, referrer_org_id=referrer_org, referrer_subject=f"gp-{rng.randrange(400)}",
                 referrer_role="gp" if source in ("gp", "adjustments") else ("adviser" if source == "partner"
                                                                              else "person"),
                 service_id=service_id(org), assigned_org_id=org_id("advisers", org), assigned_adviser=who,
                 routing="routed", nhs_number=f"999{i:07d}", given_name=f"Given{i}", family_name=f"Family{i}",
                 birth_date=(submitted - timedelta(days=rng.randint(17 * 365, 66 * 365))).date(),
                 postcode=f"{rng.choice(AREAS)} 1AA", area=rng.choice(AREAS), email=f"p{i}@example.org",
                 phone="01632 960000", preferred_contact="phone",
                 match_key=f"{rng.getrandbits(256):064x}", deprivation_decile=rng.choice([None, *range(1, 11)]),
                 sex=rng.choice([None, "female", "male", "not_stated"]),
                 ethnicity=rng.choice([None, "white_british", "asian", "black", "mixed", "other"]),
                 employment_situation="off_sick_fit_note", health_category="musculoskeletal",
                 reason="Back pain; wants to return to work.", consent_captured_by="gp",
                 consent_captured_at=submitted, consent_method="verbal", outcomes_to_referrer=rng.random() < .7,
                 person_updates=True, person_updates_at=submitted, person_updates_how="with_consent",
                 status_link_hash=services.hash_secret(link(i)), submitted_at=submitted,
                 acknowledged_at=steps[1]["occurred_at"] if len(steps) > 1 else None,
                 accepted_at=next((t["occurred_at"] for t in steps if t["to_status"] == "accepted"), None),
                 first_attempt_at=first_contact, first_contact_at=first_contact, closed_at=closed,
                 hold_reason="person_unwell" if status == "on_hold" else None,
                 hold_review_date=(NOW + timedelta(days=rng.randint(-20, 40))).date() if status == "on_hold" else None,
                 updated_at=steps[-1]["occurred_at"], received_message_at=submitted)
        self.contact(rid, submitted, first_contact, who, org)
        if status == "completed" and rng.random() < .6:
            self.job_start(rid, closed or submitted, who)

    def history(self, rid, status: str, submitted: datetime, who: str | None) -> list[dict]:
        rng, moment, steps, before = self.rng, submitted, [], None
        reached = {"submitted": 1, "triage": 2, "rejected": 2, "accepted": 3}.get(status, 4)
        for n, to in enumerate(PATH[:reached]):
            steps.append(dict(referral_id=rid, action="submit" if n == 0 else to, from_status=before, to_status=to,
                              actor=who or "system", actor_role="adviser" if n else "gp", occurred_at=moment,
                              version=n + 1))
            before, moment = to, min(NOW, moment + timedelta(hours=rng.uniform(2, 24 * 8)))
        if status not in PATH:
            steps.append(dict(referral_id=rid, action=status, from_status=before, to_status=status, actor=who or "x",
                              actor_role="adviser", occurred_at=min(NOW, moment + timedelta(days=rng.uniform(1, 90))),
                              version=len(steps) + 1))
        for step in steps:
            self.add(Transition, **step)
        return steps

    def contact(self, rid, submitted: datetime, reached: datetime | None, who: str | None, org: int) -> None:
        if not who:
            return
        for n in range(self.rng.randint(1, 3)):
            self.add(ContactAttempt, referral_id=rid, channel=self.rng.choice(("phone", "email", "text")),
                     result="reached" if reached and n == 0 else "no_answer",
                     attempted_at=(reached or submitted) + timedelta(hours=n), by=who, by_role="adviser")
        for n in range(self.rng.randint(0, 3)):
            self.add(Note, referral_id=rid, text="Spoke about options; agreed next steps.", by=who,
                     by_org=org_id("advisers", org), by_role="adviser",
                     written_at=(reached or submitted) + timedelta(days=n))

    def job_start(self, rid, when: datetime, who: str | None) -> None:
        self.add(Outcome, referral_id=rid, type="job_start", occurred_on=when.date(),
                 details={"hours_band": "16_to_29"}, recorded_by=who or "x", recorded_at=when)
        if self.rng.random() < .3:
            self.add(Outcome, referral_id=rid, type=self.rng.choice(OUTCOME_TYPES[1:]), occurred_on=when.date(),
                     details={}, recorded_by=who or "x", recorded_at=when)
        for weeks in (13, 26):
            due = (when + timedelta(weeks=weeks)).date()
            done = when + timedelta(weeks=weeks, days=2) if due < NOW.date() and self.rng.random() < .85 else None
            self.add(SustainmentCheck, referral_id=rid, weeks=weeks, due_on=due, done_at=done)

    def flush(self, session) -> None:
        for model, rows in self.rows.items():
            if rows:
                session.execute(sa.insert(model), rows)
            rows.clear()


def seed(database: Database, args) -> None:
    rng, started = random.Random(args.seed), time.perf_counter()
    seeder = Seeder(rng, args.organisations, args.advisers, args.practices)
    with database.transaction() as session:
        for n in range(args.organisations):
            services.add_routing_service(session, service_id(n), uuid.UUID(org_id("advisers", n)), NOW - timedelta(
                days=4 * 365), area_codes=AREAS if n % 3 else None)
    for i in range(args.referrals):
        seeder.referral(i, args.years)
        if i % 2000 == 1999 or i == args.referrals - 1:
            with database.transaction() as session:
                seeder.flush(session)
    print(f"seeded {args.referrals} referrals ({seeder.ids}) in {time.perf_counter() - started:.1f} s")


@contextmanager
def counted(engine):
    seen: list[str] = []

    def count(conn, cursor, statement, *rest):
        seen.append(statement)
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def timed(results: dict, name: str, engine, run, repeat: int) -> None:
    times, statements = [], 0
    for _ in range(repeat):
        with counted(engine) as seen:
            started = time.perf_counter()
            run()
            times.append((time.perf_counter() - started) * 1000)
        statements = len(seen)
    results[name] = {"ms": round(statistics.median(times), 1), "statements": statements}
    print(f"{name:<44} {results[name]['ms']:>10.1f} ms {statements:>7} statements", flush=True)


def measure(database: Database, settings: Settings, args) -> dict:
    spec = get_service("referrals")
    referral_settings = ReferralSettings()
    app = spec.create_app(settings=settings, referral_settings=referral_settings, clock=lambda: NOW)
    logging.getLogger("worklink.http").setLevel(logging.WARNING)  # a line per request would bury the table
    # Requests run on the app's own engine, the jobs on `database`'s: each counted on the one it uses.
    client, jwt, engine = app.test_client(), settings.jwt, app.extensions["worklink"].database.engine

    def token(role, org=None, sub=None):
        return {"Authorization": "Bearer " + mint_token(jwt, role=role, org=org, subject=sub)}
    org = org_id("advisers", 0)
    adviser_h, org_admin = token("adviser", org, adviser(0, 0)), token("org_admin", org, "admin-0")
    gp, admin = token("gp", org_id("practice", 0), "gp-0"), token("alliance_admin", None, "alliance-0")
    html = {"Accept": "text/html"}
    with database.sessions() as session:
        some_id = session.scalar(sa.select(Referral.id).where(Referral.assigned_org_id == org,
                                                               Referral.status == "in_progress").limit(1))
        # A person whose status link still works: an open referral's (a closed one's expires after it closed).
        # The seeder's NHS numbers are 999 and the referral's index.
        open_nhs = session.scalar(sa.select(Referral.nhs_number).where(Referral.status == "in_progress").limit(1))
    person_link = link(int(open_nhs[3:]))

    def get(path, headers):
        def run():
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.status_code, response.get_data(as_text=True)[:300])
        return run

    results: dict = {}
    for view in ("new", "breaching", "mine", "unassigned", "waitlist", "on_hold", "review_due", "checks_due", "all"):
        timed(results, f"API GET /referrals?view={view}", engine, get(f"/referrals?view={view}", adviser_h),
              args.repeat)
        timed(results, f"page /queue?view={view}", engine, get(f"/queue?view={view}", {**adviser_h, **html}),
              args.repeat)
    timed(results, "API GET /referrals?view=all (alliance)", engine, get("/referrals?view=all", admin), args.repeat)
    timed(results, "page /queue?view=held (alliance)", engine, get("/queue?view=held", {**admin, **html}),
          args.repeat)
    timed(results, "API GET /referrals/<id>", engine, get(f"/referrals/{some_id}", adviser_h), args.repeat)
    timed(results, "page /queue/<id>", engine, get(f"/queue/{some_id}", {**adviser_h, **html}), args.repeat)
    timed(results, "API GET /referrals?view=sent (gp)", engine, get("/referrals?view=sent", gp), args.repeat)
    timed(results, "page /sent (gp)", engine, get("/sent", {**gp, **html}), args.repeat)
    timed(results, "API GET /status/<link>", engine, get(f"/status/{person_link}", {}), args.repeat)
    timed(results, "page /my-referral/<link>", engine, get(f"/my-referral/{person_link}", html), args.repeat)
    timed(results, "API GET /sustainment-checks (org admin)", engine, get("/sustainment-checks", org_admin),
          args.repeat)
    timed(results, "API GET /sustainment-checks (alliance)", engine, get("/sustainment-checks", admin), args.repeat)
    timed(results, "API GET /insights", engine, get("/insights", admin), args.repeat)
    timed(results, "page /alliance/insights", engine, get("/alliance/insights", {**admin, **html}), args.repeat)

    outbox, engine = Outbox("referrals", PLATFORM, CATALOGUE), database.engine

    def sweep():
        jobs.flag_breaches(database, outbox, referral_settings, NOW)
    timed(results, "breach sweep (first pass, flags)", engine, sweep, 1)
    timed(results, "breach sweep (steady)", engine, sweep, args.repeat)

    def checks():
        with database.sessions() as session:
            services.due_sustainment_checks(session, None, NOW.date(), limit=50)
    timed(results, "due sustainment checks (every org, a page)", engine, checks, args.repeat)

    def capacity():
        with database.transaction() as session:
            services.publish_capacity_changes(session, outbox, NOW)
    timed(results, "capacity summary (first pass, publishes)", engine, capacity, 1)
    timed(results, "capacity summary (steady)", engine, capacity, args.repeat)

    def retention():
        rights.apply_retention(database, referral_settings, NOW)
    timed(results, "retention sweep (6 years: none due)", engine, retention, args.repeat)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description="referrals' read side at volume, timed in-process")
    parser.add_argument("--url", help="a database URL (default: a new SQLite file under bench/results/)")
    parser.add_argument("--postgres", action="store_true", help="a new database on the local PostgreSQL")
    parser.add_argument("--no-seed", action="store_true", help="time an already seeded database")
    parser.add_argument("--referrals", type=int, default=30_000)
    parser.add_argument("--years", type=float, default=3.0)
    parser.add_argument("--organisations", type=int, default=15)
    parser.add_argument("--advisers", type=int, default=60)
    parser.add_argument("--practices", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    RESULTS_DIR.mkdir(exist_ok=True)
    url = args.url
    if args.postgres:
        from worklink.devstack.postgres import create_database, ensure_local_postgres
        url = create_database(ensure_local_postgres(), f"wl_bench_volume_{uuid.uuid4().hex[:8]}")
    url = url or f"sqlite:///{RESULTS_DIR / f'referrals-volume-{uuid.uuid4().hex[:8]}.db'}"
    print("database:", url)
    settings = Settings.from_env("referrals", {"WORKLINK_VAR": str(RESULTS_DIR), "REFERRALS_DATABASE_URL": url,
                                               "WORKLINK_ENV": "test"})
    upgrade(get_service("referrals").migrations_dir, url)
    database = Database(url)
    if not args.no_seed:
        seed(database, args)
    results = measure(database, settings, args)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS_DIR / f"referrals-volume-{database.engine.dialect.name}-{stamp}.json"
    out.write_text(json.dumps({"url": url.rsplit("@", 1)[-1], "args": vars(args), "results": results}, indent=2))
    print("wrote", out)
    database.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
