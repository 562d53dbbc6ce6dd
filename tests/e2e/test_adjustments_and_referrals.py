"""A GP's suggestion becomes a referral, and the patient who agreed hears how it goes: the real
adjustments service hands the referral over on its restricted topic, the real referrals service
takes it in and, as the adviser acts, asks notifications (by its restricted person-message event)
to email the patient; when the patient withdraws their consent, the GP records it and the referral
is cancelled. Each service through its own outbox, relay and consumer, on real Kafka."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from tests.e2e.support import adjustments_and_referrals, consume_until, consumer, drain
from tests.platform.support import read_topic
from tests.services.adjustments.conftest import suggestion_body
from worklink.messaging.topics import ensure_topics, load_topics
from worklink_adjustments.events import HANDLERS as ADJUSTMENTS_HANDLERS
from worklink_adjustments.models import PLATFORM as ADJUSTMENTS_TABLES
from worklink_referrals.models import PLATFORM as REFERRALS_TABLES, Referral

pytestmark = pytest.mark.timeout(300)


def test_a_gp_referral_reaches_an_adviser_and_the_patient_hears_how_it_goes(tmp_path, kafka_broker, new_topic,
                                                                           make_harness):
    both = adjustments_and_referrals(tmp_path, kafka_broker, new_topic, make_harness)
    referrals, client, gp = both.referrals, both.adjustments.test_client(), both.token("gp", "dr-ada")

    # The GP records the patient's consent to a referral and to updates by email, and issues.
    suggestion_id = both.issue_with_referral_consent(referral_updates_by_email=True)
    both.drain()

    referral_id = both.referral_accepted()

    with referrals.ctx.database.transaction() as session:
        payloads = session.execute(sa.select(REFERRALS_TABLES.outbox.c.payload).where(
            REFERRALS_TABLES.outbox.c.type == "notifications.person_message.requested")).scalars().all()
    messages = [json.loads(p)["data"] for p in payloads]
    assert {m["contact"]["address"] for m in messages} == {"sam@example.org"}
    assert [m["message_code"] for m in messages][:2] == ["referral_received", "referral_accepted"]
    detail = referrals.client.get(f"/referrals/{referral_id}", headers=referrals.adviser()).get_json()
    assert detail["consent"]["updates_by_email"] is True and detail["source"] == "adjustments"

    # The patient withdraws that consent; the GP records it by amending the suggestion (unticked).
    suggestion = client.get(f"/suggestions/{suggestion_id}", headers=gp).get_json()
    amended = client.post(f"/suggestions/{suggestion_id}/amend", headers=gp,
                          json={**suggestion_body(), "version": suggestion["version"]})
    assert amended.status_code == 200, amended.get_json()
    both.drain()
    restricted = read_topic(kafka_broker.bootstrap_servers, both.moved["adjustments.referral-requests"], 2)
    assert [json.loads(r.value)["type"] for r in restricted] == [
        "adjustments.referral.requested", "adjustments.referral.consent_withdrawn"]
    assert len({(r.partition, r.key) for r in restricted}) == 1  # one partition, one key: it never overtakes

    both.referral_cancelled(referral_id)
    with referrals.ctx.database.transaction() as session:
        referral = session.get(Referral, referral_id)
        assert referral.status_reason == "consent_withdrawn" and referral.consent_withdrawn_at is not None
        assert referral.outcomes_to_referrer is False
        messages_after = session.execute(sa.select(sa.func.count()).select_from(REFERRALS_TABLES.outbox).where(
            REFERRALS_TABLES.outbox.c.type == "notifications.person_message.requested")).scalar_one()
    # The withdrawn patient is not emailed about it either: no message about the cancellation, and the
    # status emails still waiting in the outbox (the relay never ran here) are dropped with their address.
    assert len(messages) >= 2 and messages_after == 0


def test_the_gp_sees_how_far_a_referral_got_when_one_change_took_it_several_steps(tmp_path, kafka_broker, new_topic,
                                                                                  make_harness):
    """An adviser accepting a new referral and taking it on moves it through received, accepted and allocated in one
    change: three events with one version, in that order. The clinician's view kept the first ("received") for good,
    as it took only a higher version as news - found on a walk through the running system."""
    both = adjustments_and_referrals(tmp_path, kafka_broker, new_topic, make_harness)
    ensure_topics(both.kafka, load_topics())  # the referrals service's, and those the clinician's consumer reads
    client, gp = both.adjustments.test_client(), both.token("gp", "dr-ada")
    suggestion_id = both.issue_with_referral_consent()
    both.drain()
    referral_id = both.referral_accepted()
    drain("referrals", both.referrals.ctx.database, REFERRALS_TABLES, both.kafka)

    def referral_seen() -> dict:
        return client.get(f"/suggestions/{suggestion_id}", headers=gp).get_json()["referrals"][0]

    clinician = consumer("adjustments", both.adjustments_db, ADJUSTMENTS_TABLES, ADJUSTMENTS_HANDLERS, both.catalogue,
                         both.kafka)
    try:  # the old code stopped at "received" and timed out here
        consume_until(clinician, lambda _outcomes: referral_seen()["status"] == "allocated", timeout=30)
    finally:
        clinician.close()
    seen = referral_seen()
    assert (seen["referral_id"], seen["business_status"]) == (str(referral_id), "allocated")
