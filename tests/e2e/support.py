"""What the end-to-end tests share: each service's own consumer and outbox relay on real Kafka, and the
real adjustments app with the referrals harness (a GP's suggestion handed over as a referral)."""

from __future__ import annotations

import dataclasses
import time
import uuid
from typing import Any

import sqlalchemy as sa

from tests.services.adjustments.conftest import PRACTICE, make_settings, suggestion_body
from tests.services.referrals.conftest import ADVISERS
from worklink.auth import mint_token
from worklink.config import KafkaSettings
from worklink.events.catalogue import Catalogue
from worklink.events.contracts import CATALOGUE
from worklink.messaging import kafka
from worklink.messaging.consumer import EventConsumer, Outcome
from worklink.messaging.outbox import OutboxRelay, wait_until_drained
from worklink.migrations import upgrade
from worklink.service import get_service
from worklink_adjustments.models import PLATFORM as ADJUSTMENTS_TABLES
from worklink_referrals import events as referrals_events
from worklink_referrals.models import PLATFORM as REFERRALS_TABLES, Referral


def consumer(name: str, database, tables, handlers, catalogue: Catalogue, settings: KafkaSettings) -> EventConsumer:
    group = f"e2e.{name}.{uuid.uuid4().hex[:8]}"
    return EventConsumer(group_id=group, database=database, tables=tables, catalogue=catalogue, handlers=handlers,
                         consumer_factory=lambda: kafka.consumer(settings, group, "e2e", session_timeout_ms=6000,
                                                                 heartbeat_interval_ms=1000),
                         producer_factory=lambda: kafka.producer(settings, "e2e-dlt"), backoff_base=0.05)


def drain(name: str, database, tables, settings: KafkaSettings) -> None:
    relay = OutboxRelay(name, database, tables, lambda: kafka.producer(settings, f"e2e-{name}-relay"))
    try:
        wait_until_drained(relay)
    finally:
        relay.close()


def consume_until(consumer: EventConsumer, done, timeout: float = 60) -> list[Outcome]:
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + timeout
    while not done(outcomes):
        assert time.monotonic() < deadline, f"only {outcomes} after {timeout}s"
        outcomes += consumer.poll_once(timeout_ms=500)
    return outcomes


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

    def issue_with_referral_consent(self, **consent: bool) -> str:
        """The GP records the patient's consent to a referral (and any other `consent.<name>`) and issues:
        the request waits in the outbox."""
        client, gp = self.adjustments.test_client(), self.token("gp", "dr-ada")
        body = suggestion_body(**{"consent.refer_to_employment_adviser": True,
                                  **{f"consent.{name}": given for name, given in consent.items()}})
        created = client.post("/suggestions", json=body, headers=gp).get_json()
        assert client.post(f"/suggestions/{created['id']}/issue", json={"version": 1}, headers=gp).status_code == 200
        return created["id"]

    def drain(self) -> None:
        drain("adjustments", self.adjustments_db, ADJUSTMENTS_TABLES, self.kafka)

    def referrals_consumer(self):
        return consumer("referrals", self.referrals.ctx.database, REFERRALS_TABLES, referrals_events.HANDLERS,
                        self.catalogue, self.kafka)

    def referral_accepted(self) -> uuid.UUID:
        """The referrals service takes in the hand-over (already on Kafka) and an adviser accepts the referral."""
        intake = self.referrals_consumer()
        try:
            assert Outcome.HANDLED in consume_until(intake, lambda o: Outcome.HANDLED in o)
        finally:
            intake.close()
        with self.referrals.ctx.database.transaction() as session:
            [referral] = session.scalars(sa.select(Referral)).all()
        assert self.referrals.act(referral.id, "accept", adviser_id="adviser-1").status_code == 200
        return referral.id

    def referral_cancelled(self, referral_id: uuid.UUID) -> None:
        """The referrals service consumes until the referral is cancelled (a consent withdrawal heard)."""
        def cancelled(_outcomes) -> bool:
            with self.referrals.ctx.database.transaction() as session:
                return session.get(Referral, referral_id).status == "cancelled"

        withdrawals = self.referrals_consumer()
        try:
            consume_until(withdrawals, cancelled)
        finally:
            withdrawals.close()


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
