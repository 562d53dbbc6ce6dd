"""Webhook signing secrets are sealed at rest under NOTIFICATIONS_WEBHOOK_SECRET_KEY: a copy of the database holds no
secret a webhook could be signed with, while the worker still signs every webhook, through a key rotation too
(SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from worklink.config import ConfigError
from worklink.keyring import Seal, Unopenable
from worklink_notifications import signing
from worklink_notifications.config import DEVELOPMENT_WEBHOOK_SECRET_KEY, webhook_secret_seal
from worklink_notifications.models import Delivery, WebhookSubscriber
from tests.services.notifications.support import make_worker
from tests.services.notifications.test_delivery import REFERRER, add, all_deliveries, event, route, subscriber_for

pytestmark = pytest.mark.timeout(120)

KEY = "NOTIFICATIONS_WEBHOOK_SECRET_KEY"
OLD, NEW = "retired-webhook-secret-key-" + "o" * 20, "current-webhook-secret-key-" + "n" * 20


def stored(database) -> dict[str, tuple[str, str | None]]:
    """Each subscriber's secret columns as a copy of the database holds them (SQL, not the model)."""
    with database.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT organisation_id, secret, previous_secret FROM webhook_subscriber"))
        return {row.organisation_id: (row.secret, row.previous_secret) for row in rows}


def assert_sealed(value: str, secret: str, seal: Seal) -> None:
    key_text = secret.removeprefix(signing.PREFIX)
    assert not value.startswith(signing.PREFIX) and key_text not in value and secret not in value
    assert seal.open(value) == secret  # recoverable: the worker signs with it


def send_one(database, clock, event_type: str = "referrals.referral.accepted", **overrides) -> Delivery:
    clock.now = datetime.now(timezone.utc)  # the receiver checks the signature's timestamp against its own clock
    sent = event(event_type)
    route(database, sent)
    make_worker(database, None, clock, **overrides).run_once()
    [delivery] = all_deliveries(database, Delivery.channel == "webhook", Delivery.event_id == sent.id)
    return delivery


def test_a_registered_and_a_rotated_secret_are_stored_sealed_and_sign_end_to_end(app, token, notifications_db,
                                                                                webhook_receiver, clock):
    client = app.test_client()
    admin = token("org_admin", org=REFERRER)
    created = client.post("/webhook-subscribers", json={"url": webhook_receiver.url}, headers=admin)
    assert created.status_code == 201, created.get_json()
    first = created.get_json()["secret"]
    assert first.startswith(signing.PREFIX)  # shown in clear, once
    [(secret, previous)] = stored(notifications_db).values()
    assert previous is None
    assert_sealed(secret, first, webhook_secret_seal())

    webhook_receiver.secret = first
    assert send_one(notifications_db, clock).status == "sent"
    assert len(webhook_receiver.accepted) == 1 and not webhook_receiver.rejected

    rotated = client.post(f"/webhook-subscribers/{created.get_json()['id']}/rotate-secret", json={"grace_hours": 1},
                          headers=admin).get_json()
    second = rotated["secret"]
    [(secret, previous)] = stored(notifications_db).values()
    assert_sealed(secret, second, webhook_secret_seal())
    assert_sealed(previous, first, webhook_secret_seal())
    assert send_one(notifications_db, clock).status == "sent"  # the receiver has not switched yet: the old one signs
    webhook_receiver.secret = second
    assert send_one(notifications_db, clock).status == "sent"
    assert len(webhook_receiver.accepted) == 3 and not webhook_receiver.rejected


def test_a_key_rotation_reseals_every_secret_and_webhooks_are_signed_throughout(notifications_db, webhook_receiver,
                                                                                clock, monkeypatch):
    monkeypatch.setenv(KEY, OLD)
    subscriber_for(notifications_db, webhook_receiver)  # sealed under OLD
    other = str(uuid.uuid4())
    left_in_clear = signing.new_secret()  # stored by an older replica during a rolling deploy
    add(notifications_db, WebhookSubscriber(organisation_id=other, url="http://127.0.0.1:9/hook", secret=left_in_clear))

    monkeypatch.setenv(KEY, NEW)
    monkeypatch.setenv(f"{KEY}_PREVIOUS", OLD)
    assert send_one(notifications_db, clock).status == "sent"  # opened under the retired key meanwhile
    worker = make_worker(notifications_db, None, clock)
    assert worker.apply_retention_when_due()["webhook_secrets_resealed"] == 2
    new_only = Seal(NEW)
    secrets = stored(notifications_db)
    assert_sealed(secrets[REFERRER][0], webhook_receiver.secret, new_only)
    assert_sealed(secrets[other][0], left_in_clear, new_only)
    assert make_worker(notifications_db, None, clock).apply_retention_when_due()["webhook_secrets_resealed"] == 0

    monkeypatch.delenv(f"{KEY}_PREVIOUS")  # the operator drops the retired key
    assert send_one(notifications_db, clock).status == "sent"
    assert len(webhook_receiver.accepted) == 2 and not webhook_receiver.rejected

    monkeypatch.setenv(KEY, OLD)  # a key that did not seal it: not sent, and never signed with anything else
    refused = send_one(notifications_db, clock)
    assert refused.status == "dead" and "cannot be opened with NOTIFICATIONS_WEBHOOK_SECRET_KEY" in refused.last_error
    assert len(webhook_receiver.accepted) == 2


def test_production_needs_its_own_key_and_development_has_one():
    production = {"WORKLINK_ENV": "production"}
    for refused in ({}, {KEY: DEVELOPMENT_WEBHOOK_SECRET_KEY}, {KEY: "too-short"},
                    {KEY: NEW, f"{KEY}_PREVIOUS": "too-short"}):
        with pytest.raises(ConfigError, match=KEY):
            webhook_secret_seal({**production, **refused})
    sealed = webhook_secret_seal({**production, KEY: NEW}).seal("whsec_AAAA")
    assert Seal(NEW).open(sealed) == "whsec_AAAA"
    with pytest.raises(Unopenable):
        webhook_secret_seal({}).open(sealed)  # development's own key opens nothing production sealed
    assert webhook_secret_seal({}).open(Seal(DEVELOPMENT_WEBHOOK_SECRET_KEY).seal("whsec_BBBB")) == "whsec_BBBB"
