"""The clock job's breach sweep reads each open referral's clock columns and the steps of its history that move its
clocks (routing, holds) - not whole referrals and their whole history - and writes each batch's breaches and their
events in one statement each: it finds exactly the clocks the referrals' own clocks (services.breaching, which the
queue and a referral's page show) call breached, each once, in statements that do not grow with the breaches
(SQLite and PostgreSQL). bench/referrals_volume.py times it at 30,000 referrals."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import sqlalchemy as sa

from worklink_referrals import jobs, services
from worklink_referrals.models import Referral

from tests.services.referrals.conftest import nhs_number
from tests.services.referrals.statements import statements
from tests.services.referrals.test_clock_batches import breach_events, breaching_referrals

COPIES = 40  # unacknowledged referrals, all breaching: two statements each before


def test_the_sweep_flags_exactly_the_breached_clocks_once_in_a_bounded_number_of_statements(both):
    h = both
    settings = h.app.extensions["referrals"]["settings"]
    unacknowledged = breaching_referrals(h, COPIES)  # Monday 09:00, nobody acknowledges them

    def refer(i: int) -> str:
        return h.refer({"nhs_number": nhs_number(i, 72), "given_name": f"S{i}"}).get_json()["id"]
    acknowledged_late, held_and_resumed, on_hold, contacted, cancelled = (refer(i) for i in range(5))
    for rid in (held_and_resumed, on_hold, contacted):
        assert h.act(rid, "accept", adviser_id="adviser-1").status_code == 200
    assert h.act(contacted, "make_first_contact").status_code == 200
    assert h.act(cancelled, "cancel", headers=h.gp(), reason="referrer_withdrew").status_code == 200
    h.clock.advance(days=1)  # Tuesday: on hold until Friday (three working days held)
    for rid in (held_and_resumed, on_hold):
        assert h.act(rid, "put_on_hold", reason="person_unwell", review_date="2026-12-04").status_code == 200
    h.clock.advance(days=2, hours=1)  # Thursday 10:00: acknowledged a day late
    assert h.act(acknowledged_late, "acknowledge").status_code == 200
    h.clock.advance(days=1)
    assert h.act(held_and_resumed, "resume", note="Feeling better").status_code == 200
    h.clock.now = datetime(2026, 12, 3, 9, 1, tzinfo=timezone.utc)  # the resumed one's first contact attempt is late

    with h.ctx.database.sessions() as session:  # what each referral's own clocks say, read whole
        expected = {(referral.id, clock) for referral in session.scalars(sa.select(Referral))
                    for clock in services.breaching(referral, settings, h.clock.now)}
    assert {(uuid.UUID(rid), "acknowledge") for rid in (*map(str, unacknowledged), acknowledged_late)} <= expected
    assert (uuid.UUID(held_and_resumed), "first_contact_attempt") in expected
    assert not {rid for rid, _ in expected} & {uuid.UUID(rid) for rid in (on_hold, contacted, cancelled)}

    with statements(h) as seen:
        found = jobs.flag_breaches(h.ctx.database, h.ctx.outbox, settings, h.clock.now)

    assert sorted(found) == sorted(expected)
    assert sorted(breach_events(h)) == sorted((str(rid), clock) for rid, clock in expected)
    # One page read (referrals, their flagged breaches, their clock steps); one batch decided again and written
    # (its lock on PostgreSQL, the same three reads, the breaches, the events) - whatever the number of breaches.
    assert len(seen) <= 10, seen
    assert jobs.flag_breaches(h.ctx.database, h.ctx.outbox, settings, h.clock.now) == []  # each clock once
    assert len(breach_events(h)) == len(expected)
