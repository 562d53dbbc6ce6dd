"""Consent withdrawal reaches notifications: the referrals service publishes a restricted
notifications.person_messages.revoked (ids only) in the withdrawal's transaction, on the person
messages' topic and key; notifications stops every message under that consent not yet sent -
retrying after an SMTP outage, or dead and re-sendable - erases its address and refuses a re-send.
End to end: referrals API -> outbox -> relay -> real Kafka -> notifications consumer -> worker -> SMTP."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from worklink.auth import mint_token
from worklink.config import KafkaSettings, Settings
from worklink.messaging import kafka
from worklink.messaging.outbox import Outbox, OutboxRelay
from worklink.migrations import upgrade
from worklink.service import get_service
from worklink_notifications.models import Delivery, RevokedConsent
from tests.platform import support as platform
from tests.services.notifications.support import Clock, catalogue_on, make_consumer, make_worker

pytestmark = pytest.mark.timeout(300)

PRACTICE = "00000000-0000-4000-8000-00000000a001"
ADVISERS = "00000000-0000-4000-8000-00000000b001"


class Referrals:
    """The real referrals app on its own SQLite database, its outbox on the test topic, and its relay."""

    def __init__(self, tmp_path, catalogue, bootstrap: str):
        spec = get_service("referrals")
        url = f"sqlite:///{tmp_path / 'referrals.db'}"
        upgrade(spec.migrations_dir, url)
        settings = Settings.from_env("referrals", {"WORKLINK_VAR": str(tmp_path), "REFERRALS_DATABASE_URL": url,
                                                   "WORKLINK_ENV": "test"})
        self.app = spec.create_app(settings=settings)
        self.ctx = self.app.extensions["worklink"]
        self.ctx.outbox = Outbox("referrals", spec.tables, catalogue)
        self.client, self.jwt, self.tables = self.app.test_client(), settings.jwt, spec.tables
        self.relay = OutboxRelay("referrals", self.ctx.database, spec.tables,
                                 lambda: kafka.producer(KafkaSettings(bootstrap), "test-relay"))
        from worklink_referrals import services
        with self.ctx.database.transaction() as session:
            services.add_routing_service(session, uuid.uuid4(), uuid.UUID(ADVISERS), datetime.now(timezone.utc))

    def headers(self, role: str, org: str | None, sub: str) -> dict:
        return {"Authorization": "Bearer " + mint_token(self.jwt, role=role, org=org, subject=sub)}

    def act(self, rid: str, action: str, **data) -> dict:
        adviser = self.headers("adviser", ADVISERS, "adviser-1")
        version = self.client.get(f"/referrals/{rid}", headers=adviser).get_json()["version"]
        done = self.client.post(f"/referrals/{rid}/actions/{action}", json={"version": version, **data},
                                headers=adviser)
        assert done.status_code == 200, done.get_json()
        return done.get_json()

    def relay_all(self) -> int:
        return self.relay.publish_pending().published


def person_deliveries(database) -> list[Delivery]:
    with database.transaction() as session:
        return list(session.scalars(sa.select(Delivery).where(Delivery.recipient_kind == "person")
                                    .order_by(Delivery.created_at)))


def test_withdrawal_stops_the_persons_messages_notifications_already_holds(notifications_db, kafka_broker, new_topic,
                                                                            smtp_server, tmp_path, app, token):
    bootstrap = kafka_broker.bootstrap_servers
    topic = new_topic(partitions=3)
    catalogue = catalogue_on(topic)
    referrals = Referrals(tmp_path, catalogue, bootstrap)
    consumer = make_consumer(notifications_db, bootstrap, catalogue)
    clock = Clock(datetime.now(timezone.utc))
    # port 1: connection refused, an outage; given up 3 hours after a message was queued
    smtp_down = make_worker(notifications_db, None, clock, give_up_after=timedelta(hours=3))
    try:
        created = referrals.client.post("/referrals", headers=referrals.headers("gp", PRACTICE, "gp-1"), json={
            "person": {"given_name": "Kim", "family_name": "Lee", "birth_date": "1985-12-10", "postcode": "GL1 2AB",
                       "email": "kim@example.org"},
            "consent": {"explicit": True, "captured_at": "2026-11-23T08:30:00Z", "method": "verbal",
                        "outcomes_to_referrer": True, "updates_by_email": True},
            "employment_situation": "off_sick_fit_note"})
        assert created.status_code == 201, created.get_json()
        rid = created.get_json()["id"]

        # 1. "received" (with the private link, asked for at intake) reaches notifications; SMTP stays down
        # until it is given up.
        referrals.relay_all()
        _drain(consumer, notifications_db, expected_person_messages=1)
        for _ in range(3):
            smtp_down.run_once()
            clock.advance(hours=2)
        # 2. "accepted" reaches notifications too (the adviser named with it adds no message); SMTP is still
        # down: it waits for a retry.
        referrals.act(rid, "accept", adviser_id="adviser-1")
        referrals.relay_all()
        _drain(consumer, notifications_db, expected_person_messages=2)
        make_worker(notifications_db, None, clock).run_once()  # after the (shared) mail pause
        held = {d.message_code: d for d in person_deliveries(notifications_db)}
        assert held["referral_received"].status == "dead" and held["referral_received"].status_link
        assert held["referral_accepted"].status == "retrying"
        assert all(d.address == "kim@example.org" for d in held.values())

        # 3. The person withdraws consent (recorded by their GP).
        withdrawn = referrals.client.post(f"/referrals/{rid}/consent-withdrawal",
                                          headers=referrals.headers("gp", PRACTICE, "gp-1"))
        assert withdrawn.status_code == 200 and withdrawn.get_json()["status"] == "cancelled"
        [revocation] = _outbox(referrals, "notifications.person_messages.revoked")
        assert set(revocation["data"]) == {"consent_id", "person_id", "referral_id", "revoked_at"}  # no contact data
        message = _outbox(referrals, "notifications.person_message.requested")[0]["data"]
        assert (revocation["data"]["consent_id"], revocation["data"]["person_id"]) == (
            message["consent_id"], message["person_id"])
        referrals.relay_all()
        with referrals.ctx.database.engine.connect() as conn:
            relayed = conn.execute(sa.select(sa.func.count()).select_from(referrals.tables.outbox)).scalar_one()
        records = platform.read_topic(bootstrap, topic, expected=relayed)
        about_kim = [r for r in records if r.key == message["person_id"].encode()]
        assert [json.loads(r.value)["type"] for r in about_kim][-1] == "notifications.person_messages.revoked"
        assert len({r.partition for r in about_kim}) == 1  # one key, one partition: read after the messages
        _drain(consumer, notifications_db, until=lambda: _revoked(notifications_db))
    finally:
        consumer.close()
        referrals.relay.close()

    # 4. SMTP is back and the retry falls due: nothing goes to the person; their address is gone.
    clock.advance(hours=6)
    make_worker(notifications_db, smtp_server, clock).run_once()
    assert smtp_server.to("kim@example.org") == []
    stopped = person_deliveries(notifications_db)
    assert {d.status for d in stopped} == {"revoked"}
    assert all(d.address is None and d.status_link is None for d in stopped)
    admin = token("alliance_admin", org="alliance")
    dead_once = next(d for d in stopped if d.message_code == "referral_received")
    refused = app.test_client().post(f"/deliveries/{dead_once.id}/resend", headers=admin)
    assert refused.status_code == 409 and "withdrew" in refused.get_json()["detail"]


def _outbox(referrals: Referrals, event_type: str) -> list[dict]:
    table = referrals.tables.outbox
    with referrals.ctx.database.engine.connect() as conn:
        return [json.loads(p) for p in conn.execute(sa.select(table.c.payload).where(
            table.c.type == event_type).order_by(table.c.position)).scalars()]


def _revoked(database) -> bool:
    with database.transaction() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(RevokedConsent)) == 1


def _drain(consumer, database, *, expected_person_messages: int | None = None, until=None, polls: int = 120) -> None:
    for _ in range(polls):
        if until and until():
            return
        if expected_person_messages and len(person_deliveries(database)) >= expected_person_messages:
            return
        consumer.poll_once(timeout_ms=500)
    raise AssertionError("notifications did not catch up")


def test_a_revocation_in_the_same_batch_and_a_message_after_it_send_nothing(notifications_db):
    """The consumer handles a poll's events in one transaction: a message queued earlier in it is
    stopped too; a message under the withdrawn consent arriving later is dropped, not queued."""
    from types import SimpleNamespace

    from worklink.events.contracts import CATALOGUE
    from worklink_notifications import routing
    from worklink_notifications.events import HANDLERS, PERSON_MESSAGE, PERSON_MESSAGES_REVOKED

    consent, person = uuid.uuid4(), uuid.uuid4()

    def message(code: str) -> SimpleNamespace:
        return SimpleNamespace(id=str(uuid.uuid4()), type=PERSON_MESSAGE, data={
            "message_id": uuid.uuid4(), "person_id": person, "consent_id": consent, "message_code": code,
            "contact": {"channel": "email", "address": "kim@example.org"}, "referral_id": None,
            "requested_at": datetime.now(timezone.utc)})

    other_consent = message("referral_accepted")
    other_consent.data["consent_id"] = uuid.uuid4()  # the person's other referral: not withdrawn
    entry = CATALOGUE.latest(PERSON_MESSAGES_REVOKED)
    revoked = SimpleNamespace(id="r1", type=PERSON_MESSAGES_REVOKED, entry=entry, topic=entry.topic, data={
        "consent_id": consent, "person_id": person, "referral_id": None, "revoked_at": datetime.now(timezone.utc)})
    with notifications_db.transaction() as session:
        routing.request_person_message(session, message("referral_received"))
        routing.request_person_message(session, other_consent)
        assert HANDLERS[PERSON_MESSAGES_REVOKED](session, revoked) == 1
    with notifications_db.transaction() as session:
        assert routing.request_person_message(session, message("referral_closed")) == 0
        assert routing.revoke_person_messages(session, revoked) == 0  # redelivered: nothing more to stop
    found = {(d.message_code, d.status, d.address) for d in person_deliveries(notifications_db)}
    assert found == {("referral_received", "revoked", None), ("referral_accepted", "pending", "kim@example.org")}


def test_a_revocation_stops_messages_under_its_consent_even_after_the_person_id_was_re_keyed(notifications_db):
    """Referrals re-keyed its person ids (migration 0008): a message held from before carries the
    old id, the withdrawal the new one; the consent id alone decides."""
    from types import SimpleNamespace

    from worklink_notifications import routing

    consent, old_person, new_person = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    held = SimpleNamespace(id=str(uuid.uuid4()), type="notifications.person_message.requested", data={
        "message_id": uuid.uuid4(), "person_id": old_person, "consent_id": consent,
        "message_code": "referral_received", "contact": {"channel": "email", "address": "kim@example.org"},
        "referral_id": None, "requested_at": datetime.now(timezone.utc)})
    with notifications_db.transaction() as session:
        routing.request_person_message(session, held)
    revoked = SimpleNamespace(id="r1", type="notifications.person_messages.revoked", data={
        "consent_id": consent, "person_id": new_person, "referral_id": None,
        "revoked_at": datetime.now(timezone.utc)})
    with notifications_db.transaction() as session:
        assert routing.revoke_person_messages(session, revoked) == 1
    assert [(d.status, d.address) for d in person_deliveries(notifications_db)] == [("revoked", None)]


def test_a_withdrawal_is_remembered_while_a_message_under_it_can_arrive_then_forgotten_by_the_deliver_job(
        notifications_db, tmp_path):
    """revoked_consent holds a person id: kept for the person-message topic's retention plus its dead-letter
    topic's (deploy/topics.toml) plus a margin, then deleted by the running delivery worker."""
    import threading
    import time
    from datetime import timedelta
    from types import SimpleNamespace

    from worklink.messaging.topics import load_topics
    from worklink_notifications import delivery, routing

    [topic] = [t for t in load_topics() if t.name == "notifications.person-messages"]
    [dlt] = [t for t in load_topics() if t.name == "notifications.person-messages.dlt"]
    longest_arrival = timedelta(milliseconds=topic.retention_ms + dlt.retention_ms)
    assert delivery.REVOKED_CONSENT_RETENTION >= longest_arrival + timedelta(days=1)

    clock = Clock(datetime.now(timezone.utc))
    old, recent = uuid.uuid4(), uuid.uuid4()
    with notifications_db.transaction() as session:
        for consent, age in ((old, delivery.REVOKED_CONSENT_RETENTION + timedelta(hours=1)),
                             (recent, longest_arrival)):
            session.add(RevokedConsent(consent_id=consent, person_id="p-1", revoked_at=clock.now - age,
                                       recorded_at=clock.now - age))

    worker = make_worker(notifications_db, None, clock)
    stop = threading.Event()
    running = threading.Thread(target=worker.run, args=(stop,), kwargs={"idle_sleep": 0.05})
    running.start()
    try:
        deadline = time.monotonic() + 20
        while True:
            with notifications_db.sessions() as session:
                left = set(session.scalars(sa.select(RevokedConsent.consent_id)))
            if old not in left or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    finally:
        stop.set()
        running.join(10)
    assert left == {recent}

    # Still within retention: a late message under the recent withdrawal is dropped.
    late = SimpleNamespace(id="late", type="notifications.person_message.requested", data={
        "message_id": uuid.uuid4(), "person_id": "p-1", "consent_id": recent, "message_code": "referral_accepted",
        "contact": {"channel": "email", "address": "sam@example.org"}, "referral_id": None,
        "requested_at": clock.now})
    with notifications_db.transaction() as session:
        assert routing.request_person_message(session, late) == 0
