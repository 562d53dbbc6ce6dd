"""The person turning status emails off or on from their link (POST /status/{token}/emails) is their consent choice:
it is a step of the referral's history, so the adviser sees it, but it leaves the referral's version (optimistic
concurrency) as it was, so an adviser with the referral's form open saves it without a conflict. Before, the answer
was written through the versioned row with no step in the history, and the adviser's save was refused (409) for a
change they could not see. The answer is guarded instead on what it was made against, and does not keep an ended
referral from retention. On SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.services.referrals.test_page_forms import page
from tests.services.referrals.test_status_link_expiry import gp_referral, harness_for
from worklink_referrals import rights, services
from worklink_referrals.config import ReferralSettings
from worklink_referrals.models import Referral


def emails(h, token: str, wanted: bool):
    return h.client.post(f"/status/{token}/emails", json={"updates_by_email": wanted})


def test_the_answer_is_in_the_history_and_leaves_the_version_alone(make_harness, database_url):
    h = harness_for(make_harness, database_url)
    rid, token = gp_referral(h)
    opened = h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()  # the adviser's form, open
    h.clock.advance(minutes=5)
    assert emails(h, token, False).status_code == 200

    now = h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()
    assert now["version"] == opened["version"]
    assert now["history"][:-1] == opened["history"]
    assert {k: now["history"][-1][k] for k in ("action", "from_status", "to_status", "actor_role", "version")} == {
        "action": "stop_status_emails", "from_status": "submitted", "to_status": "submitted",
        "actor_role": "resident", "version": opened["version"]}
    assert now["consent"]["updates_by_email"] is False
    saved = h.act(rid, "acknowledge", version=opened["version"])
    assert saved.status_code == 200, saved.get_json()

    h.clock.advance(minutes=5)
    before = h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()
    assert emails(h, token, True).status_code == 200
    again = h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()
    assert again["version"] == before["version"] and again["consent"]["updates_by_email"] is True
    assert [step["action"] for step in again["history"][-3:]] == [
        "stop_status_emails", "acknowledge", "start_status_emails"]
    html = page(h, f"/queue/{rid}", h.adviser())
    assert "Status emails turned off by the person." in html and "Status emails turned on by the person." in html


def test_an_answer_made_against_a_stale_read_is_refused(make_harness, database_url):
    h = harness_for(make_harness, database_url)
    rid, _token = gp_referral(h)
    with pytest.raises(services.Conflict), h.ctx.database.transaction() as session:
        referral = session.get(Referral, uuid.UUID(rid))
        # Stopped meanwhile (another press, committed after this one read the referral).
        session.execute(sa.update(Referral.__table__).where(Referral.__table__.c.id == referral.id)
                        .values(person_updates=False))
        services.answer_status_emails(session, h.ctx.outbox, ReferralSettings(), referral, False, h.clock.now)


def test_stopping_emails_on_an_ended_referral_does_not_keep_it_longer(make_harness, database_url):
    h = harness_for(make_harness, database_url)
    rid, token = gp_referral(h)
    assert h.client.post(f"/status/{token}/cancel", json={}).get_json()["status"] == "cancelled"
    ended = h.clock.now
    h.clock.advance(days=2)
    assert emails(h, token, False).status_code == 200
    with h.ctx.database.transaction() as session:
        due = session.scalars(rights.due_for_erasure(ended + timedelta(days=1))).all()
    assert [str(referral.id) for referral in due] == [rid]
