"""Real responses of the notifications API's main reads match the schemas its own /openapi.json gives for them
(tests/openapi_responses.py): every field returned is documented with its type, and an inbox item's documented
fields are all returned, its `details` (the facts in words) included."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from types import SimpleNamespace

from tests.openapi_responses import assert_documented, undocumented_fields_never_returned
from worklink_notifications import delivery, routing

ADVISERS, PRACTICE = str(uuid.uuid4()), str(uuid.uuid4())


def missed_target(database) -> None:
    """A missed first-contact target: an inbox item of the advisers' organisation with details in words."""
    with database.transaction() as session:
        data = {"referral_id": uuid.uuid4(), "clock": "first_contact_attempt", "status": "accepted",
                "due_at": datetime(2026, 7, 1, 16, 0, tzinfo=timezone.utc), "assigned_org_id": uuid.UUID(ADVISERS),
                "detected_at": datetime(2026, 7, 2, 9, 0, tzinfo=timezone.utc)}
        routing.route_event(session, SimpleNamespace(id=str(uuid.uuid4()), type="referrals.referral.sla_breached",
                                                     data=data))


def test_an_inbox_page_with_details_matches_its_documented_schema(app, notifications_db, token):
    client = app.test_client()
    missed_target(notifications_db)
    lead = token("org_admin", org=ADVISERS, sub="lee")
    page = client.get("/inbox?scope=organisation", headers=lead)
    schema = assert_documented(client, "get", "/inbox", page)
    assert page.get_json()["items"][0]["details"], "no details to check"
    item_id = page.get_json()["items"][0]["id"]
    assert client.post(f"/inbox/{item_id}/read", headers=lead).status_code == 200
    read = client.get("/inbox?scope=organisation", headers=lead)
    assert undocumented_fields_never_returned(schema, [page.get_json(), read.get_json()],
                                              free_form=("items[].facts.",)) == set()  # every fact: below
    assert_documented(client, "get", "/inbox/unread-counts", client.get("/inbox/unread-counts", headers=lead))


def every_fact(database) -> None:
    """Inbox items between them carrying every fact an item keeps: an event with each of routing.FACT_FIELDS (as
    the publishers' contracts type them) and a failing webhook subscriber's notice."""
    data = {"referral_id": uuid.uuid4(), "service_id": uuid.uuid4(), "organization_id": uuid.uuid4(),
            "suggestion_id": uuid.uuid4(), "request_id": uuid.uuid4(), "practice_id": uuid.uuid4(),
            "response_id": uuid.uuid4(), "status": "rejected", "reason": "out_of_area", "clock": "acknowledge",
            "due_at": datetime(2026, 7, 1, 16, 0, tzinfo=timezone.utc), "changed": ["contact", "schedule"],
            "superseded_by_id": uuid.uuid4()}
    assert set(data) == set(routing.FACT_FIELDS)
    team = routing.Recipient("organisation", ADVISERS, "inbox")
    subscriber = SimpleNamespace(id=uuid.uuid4(), organisation_id=ADVISERS, consecutive_failures=5,
                                 failing_since=datetime(2026, 7, 1, 9, 0, tzinfo=timezone.utc))
    with database.transaction() as session:
        routing.add_delivery(session, event_id=str(uuid.uuid4()), event_type="referrals.referral.rejected",
                             recipient=team, message_code="referral_rejected", facts=routing.facts_of(data),
                             occurred_at=None)
        delivery.report_failing_subscriber(session, subscriber, datetime(2026, 7, 2, 9, 0, tzinfo=timezone.utc))


def test_every_fact_an_inbox_item_keeps_is_documented(app, notifications_db, token):
    """`facts` was any object in the document: each fact is a documented field now, closed to others."""
    client = app.test_client()
    every_fact(notifications_db)
    page = client.get("/inbox?scope=organisation", headers=token("org_admin", org=ADVISERS, sub="lee"))
    schema = assert_documented(client, "get", "/inbox", page)
    facts = {item["message_code"]: item["facts"] for item in page.get_json()["items"]}
    assert facts["webhook_failing"] == {"subscriber_id": facts["webhook_failing"]["subscriber_id"],
                                        "failing_since": "2026-07-01T09:00:00+00:00"}
    assert facts["referral_rejected"]["due_at"] == "2026-07-01T16:00:00+00:00"
    assert facts["referral_rejected"]["changed"] == ["contact", "schedule"]
    assert undocumented_fields_never_returned(schema, [page.get_json()]) == set()


def test_deliveries_match_their_documented_schema(app, notifications_db, token):
    client = app.test_client()
    missed_target(notifications_db)
    admin = token("alliance_admin", sub="admin-9")
    listed = client.get("/deliveries", headers=admin)
    assert_documented(client, "get", "/deliveries", listed)
    delivery = listed.get_json()["items"][0]["id"]
    assert_documented(client, "get", "/deliveries/{delivery_id}", client.get(f"/deliveries/{delivery}", headers=admin))


def test_channel_settings_and_routing_rules_match_their_documented_schemas(app, token):
    client = app.test_client()
    adviser = token("adviser", org=ADVISERS, sub="adviser-1")
    assert_documented(client, "get", "/me/channels", client.get("/me/channels", headers=adviser))
    assert_documented(client, "get", "/routing-rules", client.get("/routing-rules", headers=token("alliance_admin")))


def test_contacts_and_webhook_subscribers_match_their_documented_schemas(app, token):
    client = app.test_client()
    admin = token("org_admin", org=ADVISERS)
    contacts = f"/organisations/{ADVISERS}/contacts"
    added = client.post(contacts, json={"email": "lead@a.example", "purpose": "lead"}, headers=admin)
    assert_documented(client, "post", "/organisations/{organisation_id}/contacts", added, 201)
    assert_documented(client, "get", "/organisations/{organisation_id}/contacts", client.get(contacts, headers=admin))
    created = client.post("/webhook-subscribers", json={"url": "https://crm.advisers.example/hooks",
                                                        "event_types": ["referrals.referral.submitted"]},
                          headers=admin)
    assert_documented(client, "post", "/webhook-subscribers", created, 201)
    one = f"/webhook-subscribers/{created.get_json()['id']}"
    assert_documented(client, "get", "/webhook-subscribers/{subscriber_id}", client.get(one, headers=admin))
    assert_documented(client, "get", "/webhook-subscribers", client.get("/webhook-subscribers", headers=admin))
    rotated = client.post(one + "/rotate-secret", json={"grace_hours": 2}, headers=admin)
    assert_documented(client, "post", "/webhook-subscribers/{subscriber_id}/rotate-secret", rotated)
