"""What the referrals read side costs in SQL statements, for tests that hold it to a bound that does not grow with
the referrals read (bench/referrals_volume.py measures the time at volume)."""

from __future__ import annotations

from contextlib import contextmanager

import sqlalchemy as sa

from tests.services.referrals.conftest import nhs_number


@contextmanager
def statements(h):
    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        seen.append(" ".join(statement.split()))
    engine = h.ctx.database.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def selects(seen: list[str]) -> list[str]:
    return [s for s in seen if s.upper().startswith("SELECT")]


def worked_referrals(h, count: int) -> list[str]:
    """`count` referrals with a history, a contact attempt, a note and (every other one) a job start."""
    ids = []
    for i in range(count):
        h.clock.advance(minutes=1)
        rid = h.refer({"nhs_number": nhs_number(i, 61), "given_name": f"V{i}"}).get_json()["id"]
        assert h.act(rid, "accept", adviser_id="adviser-1").status_code == 200
        assert h.act(rid, "make_first_contact").status_code == 200
        assert h.client.post(f"/referrals/{rid}/notes", json={"text": "called"},
                             headers=h.adviser()).status_code == 201
        if i % 2:
            assert h.act(rid, "record_outcome", type="job_start", occurred_on="2026-11-23",
                         hours_band="30_plus").status_code == 200
        ids.append(rid)
    return ids


def job_starts(h, count: int) -> list[str]:
    ids = []
    for i in range(count):
        h.clock.advance(minutes=1)
        rid = h.refer({"nhs_number": nhs_number(i, 62), "given_name": f"J{i}"}).get_json()["id"]
        h.act(rid, "accept", adviser_id="adviser-1")
        h.act(rid, "make_first_contact")
        assert h.act(rid, "record_outcome", type="job_start", occurred_on="2026-11-23",
                     hours_band="30_plus").status_code == 200
        ids.append(rid)
    return ids
