"""An erasure request reaches the referral it touches: a GP's suggestion became a referral (the real
adjustments service hands it over on its restricted topic, the real referrals service takes it in); the
patient then asks the practice to erase their details, and the practice's organisation admin does it on
the adjustments pages. Erasure withdraws the consent of the open referral request first, and the referrals
service, consuming that, cancels the referral with consent withdrawn. Each service through its own outbox,
relay and consumer, on real Kafka."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
import sqlalchemy as sa

from tests.e2e.test_directory_and_referrals import consume_until, consumer, drain
from tests.platform.support import read_topic
from tests.services.adjustments.conftest import PRACTICE, VALID_NHS, make_settings, suggestion_body
from tests.services.adjustments.test_people_rights_pages import hidden, post
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


@dataclasses.dataclass
class Both:
    """The real adjustments app and referrals harness on real Kafka (adjustments' topics fresh for the test)."""

    kafka: KafkaSettings
    moved: dict[str, str]
    catalogue: Catalogue
    adjustments: Any
    referrals: Any

    @property
    def adjustments_db(self):
        return self.adjustments.extensions["worklink"].database

    def token(self, role: str, subject: str) -> dict:
        jwt = self.adjustments.extensions["worklink"].settings.jwt
        return {"Authorization": "Bearer " + mint_token(jwt, role=role, org=str(PRACTICE), subject=subject)}

    def issue_with_referral_consent(self) -> str:
        """The GP records the patient's consent to a referral and issues: the request waits in the outbox."""
        client, gp = self.adjustments.test_client(), self.token("gp", "dr-ada")
        body = suggestion_body(**{"consent.refer_to_employment_adviser": True})
        created = client.post("/suggestions", json=body, headers=gp).get_json()
        assert client.post(f"/suggestions/{created['id']}/issue", json={"version": 1}, headers=gp).status_code == 200
        return created["id"]

    def drain(self) -> None:
        drain("adjustments", self.adjustments_db, ADJUSTMENTS_TABLES, self.kafka)

    def referrals_consumer(self):
        return consumer("referrals", self.referrals.ctx.database, REFERRALS_TABLES, referrals_events.HANDLERS,
                        self.catalogue, self.kafka)


def adjustments_and_referrals(tmp_path, kafka_broker, new_topic, make_harness) -> Both:
    settings = KafkaSettings(kafka_broker.bootstrap_servers)
    moved = {topic: new_topic() for topic in {e.topic for e in CATALOGUE if e.type.startswith("adjustments.")}}
    catalogue = Catalogue([dataclasses.replace(e, topic=moved.get(e.topic, e.topic)) for e in CATALOGUE])
    spec = get_service("adjustments")
    adjustments_settings = make_settings(tmp_path / "adjustments")
    upgrade(spec.migrations_dir, adjustments_settings.database_url)
    referrals = make_harness(f"sqlite:///{tmp_path / 'referrals.db'}")
    referrals.add_service(org=ADVISERS)
    return Both(settings, moved, catalogue, spec.create_app(settings=adjustments_settings, catalogue=catalogue),
                referrals)


def test_erasure_in_adjustments_cancels_the_open_referral_with_consent_withdrawn(tmp_path, kafka_broker, new_topic,
                                                                                make_harness):
    both = adjustments_and_referrals(tmp_path, kafka_broker, new_topic, make_harness)
    referrals, client, token, moved = both.referrals, both.adjustments.test_client(), both.token, both.moved

    # The GP records the patient's consent to a referral and issues; the referral is made and accepted.
    both.issue_with_referral_consent()
    both.drain()
    intake = both.referrals_consumer()
    try:
        assert Outcome.HANDLED in consume_until(intake, lambda o: Outcome.HANDLED in o)
    finally:
        intake.close()
    with referrals.ctx.database.transaction() as session:
        [referral] = session.scalars(sa.select(Referral)).all()
        referral_id = referral.id
    assert referrals.act(referral_id, "accept", adviser_id="adviser-1").status_code == 200

    # The patient asks the practice to erase their details: its organisation admin does, on the pages.
    admin = token("org_admin", "ig-lead")
    confirm = post(client, "/people/erase", {"nhs_number": VALID_NHS, "step": "reason", "reason": "objection"}, admin)
    assert confirm.status_code == 200 and "1 referral to an employment adviser is still open" in confirm.get_data(
        as_text=True)
    erased = post(client, "/people/erase", hidden(confirm), admin)
    assert erased.status_code == 200 and "consent to the open referral withdrawn" in erased.get_data(as_text=True)
    both.drain()
    restricted = read_topic(kafka_broker.bootstrap_servers, moved["adjustments.referral-requests"], 2)
    assert [json.loads(r.value)["type"] for r in restricted] == [
        "adjustments.referral.requested", "adjustments.referral.consent_withdrawn"]

    def cancelled(_outcomes) -> bool:
        with referrals.ctx.database.transaction() as session:
            return session.get(Referral, referral_id).status == "cancelled"

    withdrawals = both.referrals_consumer()
    try:
        consume_until(withdrawals, cancelled)
    finally:
        withdrawals.close()
    with referrals.ctx.database.transaction() as session:
        referral = session.get(Referral, referral_id)
        assert referral.status_reason == "consent_withdrawn" and referral.consent_withdrawn_at is not None
    shown = referrals.client.get(f"/referrals/{referral_id}", headers=referrals.adviser()).get_json()
    assert shown["status"] == "cancelled" and "person" not in shown  # the adviser no longer sees the person
