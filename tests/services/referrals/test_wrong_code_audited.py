"""A wrong self-referral code is an attempt on the person's waiting record (a code guessed at): each one is
audited as refused (`denied`) on the record, by whoever holds its address (`self:<id>`), with the attempt's number
and never the code typed. Wrong codes were counted but left no trace in the audit trail."""

from __future__ import annotations

import sqlalchemy as sa

from tests.services.referrals.test_page_forms import post
from tests.services.referrals.test_status_email_answer_shown import SELF_REFERRAL

WRONG = ("918273", "564738")


def trail(h, pending_id: str) -> list[tuple]:
    table = h.ctx.tables.audit_log
    with h.ctx.database.engine.connect() as conn:
        rows = conn.execute(sa.select(table).where(table.c.resource_id == pending_id).order_by(table.c.id)).all()
    return [(r.actor, r.actor_role, r.action, r.resource_type, r.person_id, r.purpose) for r in rows]


def nowhere_in_the_trail(h, codes) -> bool:
    with h.ctx.database.engine.connect() as conn:
        rows = conn.execute(sa.select(h.ctx.tables.audit_log)).all()
    return not any(code in str(value) for row in rows for value in row for code in codes)


def started(h) -> dict:
    pending = h.client.post("/self-referrals", json=SELF_REFERRAL).get_json()
    assert pending["code"] not in WRONG
    return pending


def test_each_wrong_code_through_the_api_is_audited_as_refused_without_the_code(harness):
    h = harness
    pending = started(h)
    pid = pending["id"]
    for code in WRONG:
        assert h.client.post(f"/self-referrals/{pid}/verification", json={"code": code}).status_code == 400
    made = h.client.post(f"/self-referrals/{pid}/verification", json={"code": pending["code"]})
    assert made.status_code == 201
    resident = f"self:{pid}"
    assert trail(h, pid) == [
        (resident, "resident", "create", "pending_self_referral", pid, None),
        (resident, "resident", "denied", "pending_self_referral", pid, "wrong code: attempt 1"),
        (resident, "resident", "denied", "pending_self_referral", pid, "wrong code: attempt 2")]
    assert nowhere_in_the_trail(h, WRONG)


def test_a_wrong_code_on_the_code_page_is_audited_as_refused(harness):
    h = harness
    pid = started(h)["id"]
    refused = post(h, f"/refer-yourself/{pid}/code", {"code": WRONG[0]}, {})
    assert refused.status_code == 422 and "That code is not right" in refused.get_data(as_text=True)
    assert trail(h, pid)[-1] == (f"self:{pid}", "resident", "denied", "pending_self_referral", pid,
                                 "wrong code: attempt 1")
    assert nowhere_in_the_trail(h, WRONG[:1])
