"""A referral taken in before the person was told at intake (migration 0015: no received_message_at) is told
"received", with a fresh private link, when the adviser organisation first receives it - once. (What the
person hears of a referral taken in since is tested end to end: tests/e2e/test_person_hears_their_referral.py.)"""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from worklink_referrals.models import Referral
from tests.services.referrals.conftest import nhs_number, with_updates
from tests.services.referrals.test_audit_fixes import person_messages


def test_a_referral_taken_in_before_the_person_was_told_at_intake_is_told_when_first_received(both):
    h = both
    rid = h.client.post("/referrals", json=with_updates(), headers=h.gp()).get_json()["id"]
    outbox = h.ctx.tables.outbox
    with h.ctx.database.transaction() as session:  # as the upgrade found it: nobody told, no link given
        session.execute(sa.update(Referral).values(received_message_at=None))
        session.execute(sa.delete(outbox).where(outbox.c.type == "notifications.person_message.requested"))

    assert h.act(rid, "accept", claim=True).status_code == 200  # receives it (acknowledges) and accepts at once
    assert h.act(rid, "make_first_contact", channel="phone").status_code == 200
    messages = person_messages(h)
    assert [m["message_code"] for m in messages] == ["referral_received", "referral_accepted"]
    link = messages[0]["status_link"]
    assert link and h.client.get(link).status_code == 200  # the link is the person's page
    with h.ctx.database.transaction() as session:
        assert session.get(Referral, uuid.UUID(rid)).received_message_at is not None


def test_a_held_referrals_first_message_is_that_the_alliance_is_matching_it(make_harness):
    """No adviser service can take it: the person is still told at once, with their link, but that the
    alliance is matching it to a service (no service to name); a routed one is told 'received'."""
    h = make_harness()
    held = h.client.post("/referrals", json=with_updates(), headers=h.gp()).get_json()
    assert held["routing"] == "held"
    h.add_service()
    routed = h.client.post("/referrals", json=with_updates({"given_name": "Bea", "nhs_number": nhs_number(1)},
                                                          email="bea@example.org"),
                           headers=h.gp()).get_json()
    assert routed["routing"] == "routed"
    by_referral = {m["referral_id"]: m for m in person_messages(h)}
    assert by_referral[held["id"]]["message_code"] == "referral_being_matched"
    assert by_referral[held["id"]]["service_id"] is None and by_referral[held["id"]]["status_link"]
    assert h.client.get(by_referral[held["id"]]["status_link"]).status_code == 200
    assert by_referral[routed["id"]]["message_code"] == "referral_received"
