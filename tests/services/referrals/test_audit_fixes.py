"""Fixes from the 2026-11-26 audit: intake consent ids, the person's link, duplicates through held
routing, scoped sustainment checks, consent withdrawal, enter-in-error, impossible people."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from tests.services.referrals.conftest import referral_body


def person_messages(h) -> list[dict]:
    table = h.ctx.tables.outbox
    with h.ctx.database.engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.payload).where(
            table.c.type == "notifications.person_message.requested").order_by(table.c.position))
        return [json.loads(p)["data"] for (p,) in rows]


UPDATES = {"consent": {**referral_body()["consent"], "updates_by_email": True}}
ADA_EMAIL = {"email": "ada@example.org"}


@pytest.mark.parametrize("steps", [
    [("acknowledge", "adviser", {}), ("accept", "adviser", {"adviser_id": "adviser-1"})],
    [("reject", "adviser", {"reason": "not_eligible"})],
    [("cancel", "gp", {"reason": "referrer_withdrew"})],
    [("cancel", "admin", {"reason": "person_withdrew"})],
])
def test_a_referral_with_status_emails_can_be_acted_on(both, steps):
    """An API intake whose consent says updates_by_email gets a consent id, so every person message
    about it can name its consent (it was a 500 on every action)."""
    h = both
    created = h.refer(ADA_EMAIL, **UPDATES)
    assert created.status_code == 201, created.get_json()
    rid = created.get_json()["id"]
    for action, who, data in steps:
        headers = {"adviser": h.adviser(), "gp": h.gp(), "admin": h.admin()}[who]
        done = h.act(rid, action, headers=headers, **data)
        assert done.status_code == 200, done.get_json()
    messages = [m for m in person_messages(h) if m["referral_id"] == rid]
    assert messages and {m["contact"]["address"] for m in messages} == {"ada@example.org"}
    consent_ids = {m["consent_id"] for m in messages}
    assert len(consent_ids) == 1 and None not in consent_ids
