"""A resident's private status link (status_link on referral_received): only with that code, rendered
into the email on the referrals site, never shown to an administrator, erased with the address."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from worklink.events.catalogue import EventSchemaError
from worklink.events.contracts import CATALOGUE
from worklink_notifications import routing
from worklink_notifications.events import PERSON_MESSAGE
from worklink_notifications.models import Delivery
from tests.services.notifications.support import make_worker

LINK = "/my-referral/abcdefghijklmnopqrstuvwxyz012345"


def received(**overrides) -> dict:
    return {"message_id": uuid.uuid4(), "person_id": uuid.uuid4(), "consent_id": uuid.uuid4(),
            "message_code": "referral_received", "contact": {"channel": "email", "address": "ada@example.org"},
            "referral_id": uuid.uuid4(), "requested_at": datetime.now(timezone.utc), "status_link": LINK,
            **overrides}


def test_the_contract_carries_only_a_path_to_the_persons_page():
    CATALOGUE.build(PERSON_MESSAGE, received(), source="urn:worklink:referrals")
    for bad in ("https://evil.example/my-referral/abcdefghijklmnopqrstuvwxyz", "/status/abcdefghijklmnopqrstu",
                "/my-referral/short", "/my-referral/abcdefghijklmnopqrstu/../x"):
        with pytest.raises(EventSchemaError):
            CATALOGUE.build(PERSON_MESSAGE, received(status_link=bad), source="urn:worklink:referrals")


def test_the_link_reaches_the_person_only_and_is_erased_once_sent(notifications_db, smtp_server, clock, app, token):
    with notifications_db.transaction() as session:
        with pytest.raises(routing.InvalidPersonMessage):
            routing.request_person_message(session, SimpleNamespace(
                id="e0", type=PERSON_MESSAGE, data=received(message_code="referral_accepted")))
    with notifications_db.transaction() as session:
        routing.request_person_message(session, SimpleNamespace(id="e1", type=PERSON_MESSAGE, data=received()))
        routing.request_person_message(session, SimpleNamespace(
            id="e2", type=PERSON_MESSAGE, data=received(status_link=None, contact={
                "channel": "email", "address": "bea@example.org"})))
    with notifications_db.transaction() as session:
        [delivery_id] = session.scalars(sa.select(Delivery.id).where(Delivery.status_link == LINK)).all()
    client, admin = app.test_client(), token("alliance_admin", org="alliance")
    shown = client.get(f"/deliveries/{delivery_id}", headers=admin)
    assert shown.status_code == 200 and "abcdefghijkl" not in shown.get_data(as_text=True)

    make_worker(notifications_db, smtp_server, clock).run_once()
    [mail] = smtp_server.to("ada@example.org")
    text, html = mail.get_body(("plain",)).get_content(), mail.get_body(("html",)).get_content()
    assert f"http://127.0.0.1:8083{LINK}" in text and f'href="http://127.0.0.1:8083{LINK}"' in html
    [plain] = smtp_server.to("bea@example.org")
    assert "my-referral" not in plain.get_body(("plain",)).get_content()
    with notifications_db.transaction() as session:
        sent = session.get(Delivery, delivery_id)
        assert (sent.status, sent.address, sent.status_link) == ("sent", None, None)



def test_the_link_names_the_port_worklink_up_serves_referrals_on(notifications_db, smtp_server, clock):
    """A copy of `worklink up` on other ports (REFERRALS_PORT): the person's link reaches their page there,
    not the default port another copy, or nothing, answers on."""
    from worklink_notifications.delivery import DeliverySettings, DeliveryWorker

    with notifications_db.transaction() as session:
        routing.request_person_message(session, SimpleNamespace(id="e1", type=PERSON_MESSAGE, data=received()))
    settings = DeliverySettings.from_env({"WORKLINK_ENV": "development", "REFERRALS_PORT": "18083",
                                          "NOTIFICATIONS_SMTP_PORT": str(smtp_server.port)})
    DeliveryWorker(notifications_db, settings, clock=clock).run_once()
    [mail] = smtp_server.to("ada@example.org")
    assert f"http://127.0.0.1:18083{LINK}" in mail.get_body(("plain",)).get_content()

def test_a_held_referrals_first_email_says_the_alliance_is_matching_it_and_carries_the_link(
        notifications_db, smtp_server, clock):
    """No adviser service could take the referral (referrals holds it): its first email has no service to link,
    so it says the alliance has it and is matching it to a service - with the person's private link."""
    with notifications_db.transaction() as session:
        routing.request_person_message(session, SimpleNamespace(id="e1", type=PERSON_MESSAGE, data=received(
            message_code="referral_being_matched")))
    make_worker(notifications_db, smtp_server, clock).run_once()
    [mail] = smtp_server.to("ada@example.org")
    text = " ".join(mail.get_body(("plain",)).get_content().split())
    assert mail["Subject"] == "We have your referral"
    assert "It is with the WorkLink alliance, who are matching it to a local employment support service" in text
    assert "Your referral is with this employment support service" not in text
    assert f"http://127.0.0.1:8083{LINK}" in text
