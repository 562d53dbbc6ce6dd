"""The clock job never holds the write lock for its whole pass (SQLite has one, and every API and page write of
referrals waits for it): it reads the open referrals outside it and flags their breaches a page at a time, each
page decided again in a short write transaction of its own - so a referral closed or flagged by another pass
between the read and the write is left alone, and each clock breaches once (SQLite and PostgreSQL)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid

import sqlalchemy as sa

from worklink_referrals import jobs, services
from worklink_referrals.config import ReferralSettings
from worklink_referrals.models import RateLimitHit, Referral, SlaBreach, Transition

from tests.services.referrals.conftest import nhs_number

OPEN_REFERRALS = 1500


def breaching_referrals(h, count: int) -> list[uuid.UUID]:
    """`count` open referrals nobody acknowledges: one made through the API on Monday 09:00 and copies of it
    (its row and its history) written at once - the API would take minutes to make them one by one."""
    first = uuid.UUID(h.refer().get_json()["id"])
    referrals, transitions = Referral.__table__, Transition.__table__
    with h.ctx.database.transaction() as session:
        row = session.execute(sa.select(referrals).where(referrals.c.id == first)).mappings().one()
        step = session.execute(sa.select(transitions).where(transitions.c.referral_id == first)).mappings().one()
        copies = [{**row, "id": uuid.uuid4(), "reference": f"R-T{i:07d}", "match_key": f"copy-{i}",
                   "status_link_hash": None} for i in range(count - 1)]
        session.execute(sa.insert(referrals), copies)
        session.execute(sa.insert(transitions), [{**{k: v for k, v in step.items() if k != "id"},
                                                   "referral_id": copy["id"]} for copy in copies])
    return [first, *(copy["id"] for copy in copies)]


def breach_events(h) -> list[tuple[str, str]]:
    outbox = h.ctx.tables.outbox
    with h.ctx.database.engine.connect() as conn:
        payloads = conn.execute(sa.select(outbox.c.payload).where(outbox.c.type == "referrals.referral.sla_breached"))
        return [(data["referral_id"], data["clock"]) for data in (json.loads(p)["data"] for (p,) in payloads)]


def count_breaches(session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(SlaBreach))


@contextlib.contextmanager
def watching_write_transactions(database, monkeypatch):
    """The breaches each write transaction of this thread flagged, and how long it held the lock (from having
    its turn to the end of its work)."""
    transaction, watched = database.transaction, []

    @contextlib.contextmanager
    def watched_transaction():
        with transaction() as session:
            began, before = time.monotonic(), count_breaches(session)
            yield session
            session.flush()
            watched.append((count_breaches(session) - before, time.monotonic() - began))

    monkeypatch.setattr(database, "transaction", watched_transaction)
    yield watched
    monkeypatch.undo()


def test_a_writer_gets_its_turn_while_the_clock_job_flags_1500_breaches(make_harness, database_url, monkeypatch):
    h = make_harness(database_url)
    h.add_service()
    referrals = breaching_referrals(h, OPEN_REFERRALS)
    h.clock.advance(days=3)  # Thursday: every acknowledge clock (due Wednesday 09:00) is breached
    database, passing = h.ctx.database, threading.Event()
    seen = []  # breaches the other writer found committed at each of its turns
    write = database.transaction  # the other writer's: not watched

    def other_writer() -> None:  # a self-referral start, say: a rate-limit hit
        while passing.is_set():
            with write() as session:
                seen.append(count_breaches(session))
                session.add(RateLimitHit(bucket="other-writer", hit_at=h.clock.now))
            time.sleep(0.005)  # requests come and go: it does not hold the queue itself

    passing.set()
    writer = threading.Thread(target=other_writer)
    with watching_write_transactions(database, monkeypatch) as transactions:
        writer.start()
        try:
            flagged = jobs.run_once(database, ReferralSettings(), now=h.clock.now)
        finally:
            passing.clear()
            writer.join(30)

    assert flagged == OPEN_REFERRALS
    assert sorted(breach_events(h)) == sorted((str(rid), "acknowledge") for rid in referrals)  # each once
    assert max(flagged for flagged, _ in transactions) <= jobs.BREACH_BATCH, transactions
    # The other writer had turns while the pass was part-way - some, not all, of its breaches committed - and
    # between many of its batches (it sleeps between turns, so not every one): one transaction spanning the pass
    # would let it see none or all of them, and a job taking the SQLite lock straight back after each commit saw
    # only 1000 (the writer waited for ten batches). Counted, not timed: its waits depend on how busy the machine is.
    part_way = sorted({count for count in seen if 0 < count < OPEN_REFERRALS})
    assert len(part_way) >= OPEN_REFERRALS // jobs.BREACH_BATCH // 4, (part_way, seen)


def test_a_referral_changed_between_the_read_and_the_write_is_decided_again(both):
    h, settings = both, ReferralSettings()
    ids = [h.refer({"nhs_number": nhs_number(i, 70), "given_name": f"P{i}"}).get_json()["id"] for i in range(3)]
    closed, flagged_elsewhere, breached = (uuid.UUID(rid) for rid in ids)
    h.clock.advance(days=3)
    database = h.ctx.database
    with database.sessions() as session:
        due, after = services.breach_candidates(session, settings, h.clock.now, None, jobs.BREACH_BATCH)
    assert sorted(due) == sorted((closed, flagged_elsewhere, breached)) and after is None

    # Between the read and the write: the referrer cancels one, and another replica's pass flags another.
    assert h.act(closed, "cancel", headers=h.gp(), reason="referrer_withdrew").status_code == 200
    with database.transaction() as session:
        assert services.detect_breaches(session, h.ctx.outbox, settings, h.clock.now, among=[flagged_elsewhere]) == [
            (flagged_elsewhere, "acknowledge")]
    with database.transaction() as session:
        found = services.detect_breaches(session, h.ctx.outbox, settings, h.clock.now, among=due)

    assert found == [(breached, "acknowledge")]
    assert sorted(breach_events(h)) == sorted([(str(flagged_elsewhere), "acknowledge"), (str(breached), "acknowledge")])
    assert jobs.run_once(database, settings, now=h.clock.now) == 0  # each clock breaches once


def test_two_clock_passes_at_once_flag_each_breach_and_publish_each_capacity_change_once(make_harness, database_url):
    h = make_harness(database_url)
    h.add_service()
    referrals = breaching_referrals(h, 3 * jobs.BREACH_BATCH)
    h.clock.advance(days=3)
    flagged, failed = [], []

    def clock_pass() -> None:
        try:
            flagged.append(jobs.run_once(h.ctx.database, ReferralSettings(), now=h.clock.now))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            failed.append(error)

    passes = [threading.Thread(target=clock_pass) for _ in range(2)]
    for each in passes:
        each.start()
    for each in passes:
        each.join(60)

    assert failed == [] and sum(flagged) == len(referrals)
    assert sorted(breach_events(h)) == sorted((str(rid), "acknowledge") for rid in referrals)
    outbox = h.ctx.tables.outbox
    with h.ctx.database.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).where(outbox.c.type == "referrals.capacity.changed")) == 1
