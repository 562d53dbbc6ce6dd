"""Every route of the notifications service, against the audit rule: a resident's delivery is part of their
record, so each route that reads or changes one is called on a real one and must leave an audit row naming the
actor, the action and the delivery, and one naming the delivery by id is refused to an organisation's admin (the
alliance's alone), who is audited as denied; every other route says why it reaches no one's record
(tests/audit_walk.py)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Callable

import pytest
import sqlalchemy as sa

from tests.audit_walk import (Access, Call, check_audited, check_refused, names_a_record, recording,
                              unmarked_record_routes, unsorted_routes)
from tests.people_rights import HTML, post_form
from worklink.auth import mint_token
from worklink.config import Settings
from worklink.migrations import upgrade
from worklink.service import get_service
from worklink_notifications import routing
from worklink_notifications.admin import RECORD_TYPE
from worklink_notifications.models import Delivery

STAFF_OWN = "a staff member's own notices, built from broadcast events (ids and codes)"
SETUP = "the alliance's set-up, naming no resident"
CONTACTS = "an organisation's contact addresses for its notices (staff, not residents)"

OTHER_ROUTES = {
    "GET notification_pages.home": "the start page",
    "GET notification_pages.messages": STAFF_OWN,
    "GET notification_pages.settings_page": "the caller's own channel settings",
    "POST notification_pages.save_settings": "the caller's own channel settings",
    "POST notification_pages.mark_read": STAFF_OWN,
    "POST notification_pages.mark_all_read": STAFF_OWN,
    "GET inbox.Inbox": STAFF_OWN,
    "POST inbox.MarkRead": STAFF_OWN,
    "POST inbox.MarkAll": STAFF_OWN,
    "GET inbox.UnreadCountsView": STAFF_OWN,
    "GET settings.MyChannels": "the caller's own channel settings",
    "PUT settings.MyChannels": "the caller's own channel settings",
    "GET settings.Contacts": "an organisation's contact addresses for its notices (staff, not residents)",
    "POST settings.Contacts": "an organisation's contact addresses for its notices (staff, not residents)",
    "DELETE settings.Contact": "an organisation's contact addresses for its notices (staff, not residents)",
    "PUT settings.Contact": CONTACTS,
    **{f"{method} notification_pages.{view}": CONTACTS for method, view in (
        ("GET", "where_told_start"), ("GET", "where_told"), ("GET", "new_contact"), ("POST", "add_contact"),
        ("GET", "edit_contact"), ("POST", "change_contact"), ("GET", "confirm_remove_contact"),
        ("POST", "remove_contact"))},
    **{f"{method} notification_pages.{view}": SETUP for method, view in (
        ("GET", "new_webhook"), ("POST", "add_webhook"), ("GET", "edit_webhook"), ("POST", "change_webhook"),
        ("GET", "confirm_webhook_off"), ("POST", "switch_webhook"),
        ("GET", "confirm_remove_webhook"), ("POST", "remove_webhook"), ("GET", "confirm_rotate"),
        ("POST", "rotate_webhook"), ("GET", "webhook_secret"))},
    "GET admin.RoutingRules": SETUP,
    "POST admin.RoutingRules": SETUP,
    "PATCH admin.RoutingRuleView": SETUP,
    "POST notification_pages.toggle_rule": SETUP,
    "GET notification_pages.confirm_turn_off": SETUP,
    "GET webhooks.Subscribers": SETUP,
    "POST webhooks.Subscribers": SETUP,
    "GET webhooks.Subscriber": SETUP,
    "PATCH webhooks.Subscriber": SETUP,
    "DELETE webhooks.Subscriber": SETUP,
    "POST webhooks.RotateSecret": SETUP,
}

PERSON_ROUTES: dict[str, Callable] = {}


def route(key: str):
    def register(scenario):
        PERSON_ROUTES[key] = scenario
        return scenario
    return register


@pytest.fixture()
def app(tmp_path):
    spec = get_service("notifications")
    settings = Settings.from_env("notifications", {"WORKLINK_VAR": str(tmp_path), "WORKLINK_ENV": "test",
                                                   "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    upgrade(spec.migrations_dir, settings.database_url)
    app = spec.create_app(settings=settings)
    yield app
    app.extensions["worklink"].database.dispose()


def admin(app, role: str = "alliance_admin", subject: str = "admin-1", org: str | None = None) -> dict:
    jwt = app.extensions["worklink"].settings.jwt
    return {"Authorization": "Bearer " + mint_token(jwt, role=role, org=org, subject=subject)}


def residents_delivery(app, *, dead: bool = False) -> str:
    """An email to a resident (a restricted person message), given up on if `dead`."""
    event = SimpleNamespace(id=str(uuid.uuid4()), type="notifications.person_message.requested", data={
        "message_id": uuid.uuid4(), "person_id": uuid.uuid4(), "consent_id": uuid.uuid4(),
        "message_code": "referral_closed", "contact": {"channel": "email", "address": "sam@example.org"},
        "referral_id": None, "requested_at": datetime.now(timezone.utc)})
    database = app.extensions["worklink"].database
    with database.transaction() as session:
        routing.request_person_message(session, event)
    with database.transaction() as session:
        delivery = session.scalar(sa.select(Delivery).where(Delivery.recipient_kind == "person"))
        if dead:
            delivery.status = "dead"
        return str(delivery.id)


def of(delivery: str, action: str):
    return lambda response: Access("admin-1", action, RECORD_TYPE, delivery)


@route("GET admin.Deliveries")
def _(app, client):
    delivery = residents_delivery(app)
    return Call(lambda: client.get("/deliveries", headers=admin(app)), of(delivery, "list"))


@route("GET admin.DeliveryView")
def _(app, client):
    delivery = residents_delivery(app)
    return Call(lambda: client.get(f"/deliveries/{delivery}", headers=admin(app)), of(delivery, "read"))


@route("POST admin.Resend")
def _(app, client):
    delivery = residents_delivery(app, dead=True)
    return Call(lambda: client.post(f"/deliveries/{delivery}/resend", headers=admin(app)), of(delivery, "update"))


@route("GET notification_pages.administration")
def _(app, client):
    delivery = residents_delivery(app, dead=True)
    return Call(lambda: client.get("/admin", headers={**admin(app), **HTML}), of(delivery, "list"))


@route("POST notification_pages.resend")
def _(app, client):
    delivery = residents_delivery(app, dead=True)
    return Call(lambda: post_form(client, f"/admin/deliveries/{delivery}/resend", {}, admin(app)),
                of(delivery, "update"))


def test_every_route_is_sorted_into_person_records_or_not(app):
    assert unsorted_routes(app, PERSON_ROUTES, OTHER_ROUTES) == []
    assert unmarked_record_routes(app, PERSON_ROUTES) == []


@pytest.mark.parametrize("key", sorted(PERSON_ROUTES))
def test_every_access_to_a_residents_delivery_is_audited(app, key):
    client = app.test_client()
    call = PERSON_ROUTES[key](app, client)
    sent = recording(client)
    record = check_audited(app.extensions["worklink"], call)
    if names_a_record(app, key):
        outsider = admin(app, "org_admin", "staff-9", org=str(uuid.uuid4()))
        check_refused(app.extensions["worklink"], client, sent, outsider, "staff-9", record)
