"""A resident's one-time code (self_referral_code): the contract slot, notifications' own template,
real Kafka in and real SMTP out, the code erased once sent; and the whole path from the
referrals service's self-referral through Kafka to the person's mailbox."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from worklink.config import KafkaSettings, Settings
from worklink.events.catalogue import EventSchemaError
from worklink.events.contracts import CATALOGUE
from worklink.messaging import kafka
from worklink.messaging.consumer import Outcome
from worklink.messaging.outbox import Outbox, OutboxRelay
from worklink.migrations import upgrade
from worklink.service import get_service
from worklink_notifications.events import PERSON_MESSAGE
from worklink_notifications.models import Delivery
from tests.platform import support as platform
from tests.services.notifications.support import (build_event, catalogue_on, consume, make_consumer, make_worker,
                                                  send)

pytestmark = pytest.mark.timeout(300)


def code_message(**overrides) -> dict:
    return {"message_id": uuid.uuid4(), "person_id": uuid.uuid4(), "consent_id": uuid.uuid4(),
            "message_code": "self_referral_code", "contact": {"channel": "email", "address": "sam@example.org"},
            "referral_id": None, "requested_at": datetime.now(timezone.utc), "verification_code": "042917",
            **overrides}


def test_the_contract_carries_a_code_only_as_digits():
    CATALOGUE.build(PERSON_MESSAGE, code_message(), source="urn:worklink:referrals")
    for bad in ("42917a", "call 0800 000 000", "1234567890", ""):
        with pytest.raises(EventSchemaError):
            CATALOGUE.build(PERSON_MESSAGE, code_message(verification_code=bad), source="urn:worklink:referrals")


def deliveries(database, *where) -> list[Delivery]:
    with database.transaction() as session:
        return list(session.scalars(sa.select(Delivery).where(*where)))


def test_a_code_arrives_on_kafka_and_leaves_by_smtp_from_its_own_template(sqlite_db, kafka_broker, new_topic,
                                                                          smtp_server, clock):
    topic, bootstrap = new_topic(), kafka_broker.bootstrap_servers
    catalogue = catalogue_on(topic)
    good = build_event(catalogue, PERSON_MESSAGE, **code_message())
    no_code = build_event(catalogue, PERSON_MESSAGE, **code_message(verification_code=None))
    code_elsewhere = build_event(catalogue, PERSON_MESSAGE, **code_message(message_code="referral_accepted"))
    send(bootstrap, topic, *(e.to_json().encode() for e in (no_code, code_elsewhere, good)))
    consumer = make_consumer(sqlite_db, bootstrap, catalogue)
    try:
        assert consume(consumer, 3) == [Outcome.DEAD_LETTERED, Outcome.DEAD_LETTERED, Outcome.HANDLED]
    finally:
        consumer.close()
    dead = platform.read_topic(bootstrap, topic + ".dlt", expected=2)
    assert [dict(r.headers)["dlt-reason"] for r in dead] == [b"rejected", b"rejected"]

    make_worker(sqlite_db, smtp_server, clock).run_once()
    [mail] = smtp_server.to("sam@example.org")
    assert mail["Subject"] == "Your WorkLink code"
    text, html = mail.get_body(("plain",)).get_content(), mail.get_body(("html",)).get_content()
    assert "Your code: 042917" in text and ">042917</p>" in html
    [delivery] = deliveries(sqlite_db, Delivery.recipient_kind == "person")
    assert (delivery.status, delivery.address, delivery.verification_code) == ("sent", None, None)


def test_a_self_referrers_code_goes_from_referrals_through_kafka_to_their_mailbox(sqlite_db, kafka_broker, new_topic,
                                                                                  smtp_server, clock, tmp_path):
    """The whole path: POST /self-referrals -> referrals' outbox -> relay -> Kafka -> notifications'
    consumer -> delivery worker -> SMTP; the emailed code completes the self-referral."""
    topic, bootstrap = new_topic(), kafka_broker.bootstrap_servers
    catalogue = catalogue_on(topic)
    referrals = get_service("referrals")
    url = f"sqlite:///{tmp_path / 'referrals.db'}"
    upgrade(referrals.migrations_dir, url)
    settings = Settings.from_env("referrals", {"WORKLINK_VAR": str(tmp_path), "REFERRALS_DATABASE_URL": url,
                                               "WORKLINK_ENV": "test"})
    from worklink_referrals.config import ReferralSettings  # the person's view: production sends, never shows

    app = referrals.create_app(settings=settings, referral_settings=ReferralSettings(expose_codes=False))
    ctx = app.extensions["worklink"]
    ctx.outbox = Outbox("referrals", referrals.tables, catalogue)  # the person-message topic of this test
    client = app.test_client()
    started = client.post("/self-referrals", json={
        "person": {"given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02", "postcode": "GL1 1AA",
                   "email": "sam@example.org"},
        "consent": {"explicit": True, "updates_by_email": True}, "employment_situation": "unemployed"})
    assert started.status_code == 202 and "code" not in started.get_json()

    relay = OutboxRelay("referrals", ctx.database, referrals.tables,
                        lambda: kafka.producer(KafkaSettings(bootstrap), "test-relay"))
    try:
        assert relay.publish_pending().published == 1
    finally:
        relay.close()
    consumer = make_consumer(sqlite_db, bootstrap, catalogue)
    try:
        assert consume(consumer, 1) == [Outcome.HANDLED]
    finally:
        consumer.close()
    make_worker(sqlite_db, smtp_server, clock).run_once()

    [mail] = smtp_server.to("sam@example.org")
    code = re.search(r"Your code: ([0-9]{6})", mail.get_body(("plain",)).get_content())[1]
    verified = client.post(f"/self-referrals/{started.get_json()['id']}/verification", json={"code": code})
    assert verified.status_code == 201, verified.get_json()
    assert verified.get_json()["status"] == "submitted"
    [delivery] = deliveries(sqlite_db, Delivery.recipient_kind == "person")
    assert delivery.verification_code is None and delivery.address is None  # nothing kept once sent


def test_a_code_that_cannot_be_delivered_is_erased_never_shown_and_never_re_sent(notifications_db, smtp_server,
                                                                                   clock, app, token):
    from types import SimpleNamespace

    from worklink_notifications import routing

    smtp_server.refuse.add("gone@example.org")  # 550: permanent, dead at once
    event = SimpleNamespace(id="e1", type=PERSON_MESSAGE, data=code_message(
        contact={"channel": "email", "address": "gone@example.org"}))
    with notifications_db.transaction() as session:
        routing.request_person_message(session, event)
    make_worker(notifications_db, smtp_server, clock).run_once()
    [delivery] = deliveries(notifications_db, Delivery.recipient_kind == "person")
    assert delivery.status == "dead" and delivery.verification_code is None

    client, admin = app.test_client(), token("alliance_admin", org="alliance")
    detail = client.get(f"/deliveries/{delivery.id}", headers=admin)
    assert detail.status_code == 200 and "042917" not in detail.get_data(as_text=True)
    refused = client.post(f"/deliveries/{delivery.id}/resend", headers=admin)
    assert refused.status_code == 409 and "new one" in refused.get_json()["detail"]
