"""A GP's suggestion becomes a referral, and the patient who agreed hears how it goes: the real
adjustments service hands the referral over on its restricted topic, the real referrals service
takes it in and, as the adviser acts, asks notifications (by its restricted person-message event)
to email the patient; when the patient withdraws their consent, the GP records it and the referral
is cancelled. Each service through its own outbox, relay and consumer, on real Kafka."""

from __future__ import annotations

import dataclasses
import json

import pytest
import sqlalchemy as sa

from tests.e2e.test_directory_and_referrals import consume_until, consumer, drain
from tests.platform.support import read_topic
from tests.services.adjustments.conftest import PRACTICE, make_settings, suggestion_body
from tests.services.referrals.conftest import ADVISERS
from worklink.auth import mint_token
from worklink.config import KafkaSettings
from worklink.events.catalogue import Catalogue
from worklink.events.contracts import CATALOGUE
from worklink.messaging.consumer import Outcome
from worklink.migrations import upgrade
from worklink.service import get_service
from worklink_adjustments.models import PLATFORM as ADJUSTMENTS_TABLES
from worklink_referrals import events as referrals_events
from worklink_referrals.models import PLATFORM as REFERRALS_TABLES, Referral

pytestmark = pytest.mark.timeout(300)


def test_a_gp_referral_reaches_an_adviser_and_the_patient_hears_how_it_goes(tmp_path, kafka_broker, new_topic,
                                                                           make_harness):
    settings = KafkaSettings(kafka_broker.bootstrap_servers)
    moved = {topic: new_topic() for topic in {e.topic for e in CATALOGUE if e.type.startswith("adjustments.")}}
    catalogue = Catalogue([dataclasses.replace(e, topic=moved.get(e.topic, e.topic)) for e in CATALOGUE])
    spec = get_service("adjustments")
    adjustments_settings = make_settings(tmp_path / "adjustments")
    upgrade(spec.migrations_dir, adjustments_settings.database_url)
    adjustments = spec.create_app(settings=adjustments_settings, catalogue=catalogue)
    referrals = make_harness(f"sqlite:///{tmp_path / 'referrals.db'}")
    referrals.add_service(org=ADVISERS)

    # The GP records the patient's consent to a referral and to updates by email, and issues.
    gp = {"Authorization": "Bearer " + mint_token(adjustments_settings.jwt, role="gp", org=str(PRACTICE),
                                                  subject="dr-ada")}
    client = adjustments.test_client()
    body = suggestion_body(**{"consent.refer_to_employment_adviser": True, "consent.referral_updates_by_email": True})
    created = client.post("/suggestions", json=body, headers=gp).get_json()
    assert client.post(f"/suggestions/{created['id']}/issue", json={"version": 1}, headers=gp).status_code == 200
    drain("adjustments", adjustments.extensions["worklink"].database, ADJUSTMENTS_TABLES, settings)

    intake = consumer("referrals", referrals.ctx.database, REFERRALS_TABLES, referrals_events.HANDLERS, catalogue,
                      settings)
    try:
        assert Outcome.HANDLED in consume_until(intake, lambda o: Outcome.HANDLED in o)
    finally:
        intake.close()
    with referrals.ctx.database.transaction() as session:
        [referral] = session.scalars(sa.select(Referral)).all()
        referral_id = referral.id
    assert referrals.act(referral_id, "accept", adviser_id="adviser-1").status_code == 200

    with referrals.ctx.database.transaction() as session:
        payloads = session.execute(sa.select(REFERRALS_TABLES.outbox.c.payload).where(
            REFERRALS_TABLES.outbox.c.type == "notifications.person_message.requested")).scalars().all()
    messages = [json.loads(p)["data"] for p in payloads]
    assert {m["contact"]["address"] for m in messages} == {"sam@example.org"}
    assert [m["message_code"] for m in messages][:2] == ["referral_received", "referral_accepted"]
    detail = referrals.client.get(f"/referrals/{referral_id}", headers=referrals.adviser()).get_json()
    assert detail["consent"]["updates_by_email"] is True and detail["source"] == "adjustments"

    # The patient withdraws that consent; the GP records it by amending the suggestion (unticked).
    suggestion = client.get(f"/suggestions/{created['id']}", headers=gp).get_json()
    amended = client.post(f"/suggestions/{created['id']}/amend", headers=gp,
                          json={**suggestion_body(), "version": suggestion["version"]})
    assert amended.status_code == 200, amended.get_json()
    drain("adjustments", adjustments.extensions["worklink"].database, ADJUSTMENTS_TABLES, settings)
    restricted = read_topic(kafka_broker.bootstrap_servers, moved["adjustments.referral-requests"], 2)
    assert [json.loads(r.value)["type"] for r in restricted] == [
        "adjustments.referral.requested", "adjustments.referral.consent_withdrawn"]
    assert len({(r.partition, r.key) for r in restricted}) == 1  # one partition, one key: it never overtakes

    def cancelled(_outcomes) -> bool:
        with referrals.ctx.database.transaction() as session:
            return session.get(Referral, referral_id).status == "cancelled"

    withdrawals = consumer("referrals", referrals.ctx.database, REFERRALS_TABLES, referrals_events.HANDLERS,
                           catalogue, settings)
    try:
        consume_until(withdrawals, cancelled)
    finally:
        withdrawals.close()
    with referrals.ctx.database.transaction() as session:
        referral = session.get(Referral, referral_id)
        assert referral.status_reason == "consent_withdrawn" and referral.consent_withdrawn_at is not None
        assert referral.outcomes_to_referrer is False
        messages_after = session.execute(sa.select(sa.func.count()).select_from(REFERRALS_TABLES.outbox).where(
            REFERRALS_TABLES.outbox.c.type == "notifications.person_message.requested")).scalar_one()
    # The withdrawn patient is not emailed about it either: no message about the cancellation, and the
    # status emails still waiting in the outbox (the relay never ran here) are dropped with their address.
    assert len(messages) >= 2 and messages_after == 0
