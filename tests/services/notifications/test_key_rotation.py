"""Rotating WORKLINK_CLINICIAN_REFERENCE_KEY: a clinician's inbox still holds what was addressed to their
reference under the retired key, and the delivery worker re-keys the references users' saved settings keep,
so an event naming a clinician under the new key reaches their e-mail (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timezone

import pytest

from tests.services.notifications.support import SPEC
from tests.services.notifications.test_api import PRACTICE, route
from worklink.auth import mint_token
from worklink.config import Settings
from worklink.pseudonyms import clinician_reference
from worklink_notifications import routing
from worklink_notifications.delivery import DeliverySettings, DeliveryWorker
from worklink_notifications.models import UserChannelSettings

OLD, NEW = "retired-reference-key-" + "o" * 20, "current-reference-key-" + "n" * 20
ADA = "ada@practice.example"


@pytest.fixture()
def make_app(notifications_db, tmp_path):
    def make(*keys: str):
        settings = dataclasses.replace(Settings.from_env("notifications", {"WORKLINK_VAR": str(tmp_path),
                                                                           "WORKLINK_ENV": "test"}),
                                       database_url=notifications_db.url)
        app = SPEC.create_app(settings=settings, config={"CLINICIAN_REFERENCE_KEY": keys[0],
                                                        "CLINICIAN_REFERENCE_KEYS": keys})
        jwt = app.extensions["worklink"].settings.jwt
        return app.test_client(), {"Authorization": "Bearer " + mint_token(jwt, role="gp", org=PRACTICE, subject=ADA)}
    return make


def answered(notifications_db, reference: str) -> str:
    return route(notifications_db, "adjustments.employer_response.recorded", clinician_id=reference,
                 response_id=uuid.uuid4(), suggestion_id=uuid.uuid4(), practice_id=uuid.UUID(PRACTICE),
                 outcome="agreed", items=[], recorded_at=datetime.now(timezone.utc))


def test_the_inbox_holds_what_was_addressed_under_the_retired_key_while_it_is_kept(make_app, notifications_db):
    answered(notifications_db, clinician_reference(ADA, OLD))  # before the rotation, or in flight during it
    answered(notifications_db, clinician_reference(ADA, NEW))

    client, ada = make_app(NEW, OLD)
    assert client.get("/inbox", headers=ada).get_json()["total"] == 2
    assert client.get("/inbox/unread-counts", headers=ada).get_json()["user"] == 2
    client, ada = make_app(NEW)  # the retired key dropped: only what was addressed under the current one
    assert client.get("/inbox", headers=ada).get_json()["total"] == 1


def test_the_delivery_worker_rekeys_saved_settings_so_e_mail_follows_the_new_key(make_app, notifications_db,
                                                                                  monkeypatch):
    client, ada = make_app(OLD)
    saved = client.put("/me/channels", json={"email": ADA, "email_enabled": True}, headers=ada)
    assert saved.status_code == 200, saved.get_json()

    monkeypatch.setenv("WORKLINK_CLINICIAN_REFERENCE_KEY", NEW)
    monkeypatch.setenv("WORKLINK_CLINICIAN_REFERENCE_KEY_PREVIOUS", OLD)
    with notifications_db.sessions() as session:
        assert [r.channel for r in routing.user_recipients(session, clinician_reference(ADA, NEW), ["email"])] == []
    worker = DeliveryWorker(notifications_db, DeliverySettings(smtp_port=1))
    assert worker.apply_retention_when_due()["user_references_rekeyed"] == 1
    with notifications_db.sessions() as session:
        assert session.get(UserChannelSettings, ADA).clinician_reference == clinician_reference(ADA, NEW)
        found = routing.user_recipients(session, clinician_reference(ADA, NEW), ["email"])
    assert [(r.id, r.channel, r.address) for r in found] == [(ADA, "email", ADA)]
    assert DeliveryWorker(notifications_db, DeliverySettings(smtp_port=1)).apply_retention_when_due()[
        "user_references_rekeyed"] == 0
