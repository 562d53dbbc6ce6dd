"""Events on a real Kafka broker: what issuing publishes, the consent-gated restricted referral
hand-over, and the referral-status read model fed by the referrals service's lifecycle events."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from kafka import KafkaProducer

from worklink.events.catalogue import broadcast_violations
from worklink.events.contracts import CATALOGUE
from worklink.events.contracts.adjustments import clinician_reference
from worklink.events.envelope import kafka_headers
from worklink.messaging import kafka
from worklink.messaging.consumer import EventConsumer, Outcome
from worklink.messaging.outbox import wait_until_drained
from worklink.messaging.topics import ensure_topics, load_topics
from worklink.service import get_service
from worklink.workers import build_relay
from worklink_adjustments import services
from worklink_adjustments.domain import uk_today
from worklink_adjustments.events import HANDLERS, PUBLISHES
from worklink_adjustments.models import PLATFORM
from tests.platform.support import read_topic
from tests.services.adjustments.conftest import LIBRARY_VERSION, Tokens, build_app, make_settings, suggestion_body

pytestmark = pytest.mark.timeout(240)
OTHER_ORG = uuid.UUID("5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a")
TOPICS = ("adjustments.suggestion", "adjustments.referral-requests", "referrals.referral")


@pytest.fixture()
def live(tmp_path, database_url, kafka_broker):
    settings = make_settings(tmp_path, database_url, kafka_broker.bootstrap_servers)
    ensure_topics(settings.kafka, [s for s in load_topics() if s.name.removesuffix(".dlt") in TOPICS])
    app = build_app(settings)
    relay = build_relay(get_service("adjustments"), settings)
    yield app, app.test_client(), Tokens(settings), relay, settings
    relay.close()
    app.extensions["worklink"].database.dispose()


def issue(client, tokens, **overrides) -> dict:
    created = client.post("/suggestions", json=suggestion_body(**overrides), headers=tokens.header()).get_json()
    response = client.post(f"/suggestions/{created['id']}/issue", json={"version": 1}, headers=tokens.header())
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def events_for(bootstrap: str, topic: str, suggestion_id: str, expected: int) -> list[dict]:
    deadline = time.monotonic() + 60
    while True:
        records = read_topic(bootstrap, topic, expected=0, timeout=5)
        mine = [json.loads(r.value) for r in records if json.loads(r.value)["data"].get("suggestion_id") == suggestion_id]
        if len(mine) >= expected or time.monotonic() > deadline:
            return mine


def test_every_published_type_is_declared_and_broadcasts_carry_no_free_text():
    for event_type in PUBLISHES:
        entry = CATALOGUE.latest(event_type)
        assert broadcast_violations(entry) == []
        assert entry.restricted == (event_type in ("adjustments.referral.requested",
                                                   "adjustments.referral.consent_withdrawn"))


def test_issuing_with_referral_consent_publishes_the_broadcast_and_the_restricted_hand_over(live, kafka_broker):
    app, client, tokens, relay, _ = live
    s = issue(client, tokens, **{"consent.refer_to_employment_adviser": True})
    wait_until_drained(relay)
    broadcast = events_for(kafka_broker.bootstrap_servers, "adjustments.suggestion", s["id"], 1)
    assert [e["type"] for e in broadcast] == ["adjustments.suggestion.issued"]
    data = broadcast[0]["data"]
    assert data["adjustment_ids"] == ["phased_return_4wk", "quiet_workspace"]
    assert data["free_text_recommendations"] == 1 and data["guidance_version"] == LIBRARY_VERSION
    assert data["categories"] == ["phased_return", "altered_hours", "workplace_adaptations"]
    raw = json.dumps(broadcast)
    for private in ("Sam", "Patel", "9434765919", "Depression", "Tires quickly", "Start at 10am"):
        assert private not in raw

    handed_over = events_for(kafka_broker.bootstrap_servers, "adjustments.referral-requests", s["id"], 1)
    assert len(handed_over) == 1
    request = handed_over[0]
    assert request["type"] == "adjustments.referral.requested"
    assert request["data"]["person"] == {"nhs_number": "9434765919", "given_name": "Sam", "family_name": "Patel",
                                         "birth_date": "1985-04-12", "postcode": "GL1 2AB",
                                         "email": "sam@example.org", "phone": "07700900123"}
    assert request["data"]["practice_id"] == s["practice_id"] and request["data"]["fit_note_decision"] == "may_be_fit"
    assert "Depression" not in json.dumps(request)  # the adviser gets contact details, not the diagnosis
    # Who referred, as the letter names them (the token here names no practice), never the login id.
    assert request["data"]["referrer"] == {"name": "Dr Ada Lovelace", "profession": "doctor"}
    referrals = client.get(f"/suggestions/{s['id']}", headers=tokens.header()).get_json()["referrals"]
    assert [r["request_id"] for r in referrals] == [request["data"]["request_id"]]
    assert referrals[0]["status"] == "requested"


def test_no_referral_event_without_consent(live, kafka_broker):
    app, client, tokens, relay, _ = live
    s = issue(client, tokens)
    refused = client.post(f"/suggestions/{s['id']}/referral-requests", json={"version": s["version"]},
                          headers=tokens.header())
    assert refused.status_code == 409 and refused.get_json()["missing_consent"] == "refer_to_employment_adviser"
    # Consent recorded by amending: the referral is requested then, once.
    amended = client.post(f"/suggestions/{s['id']}/amend", headers=tokens.header(), json={
        **suggestion_body(**{"consent.refer_to_employment_adviser": True}), "version": s["version"]}).get_json()
    duplicate = client.post(f"/suggestions/{s['id']}/referral-requests", json={"version": amended["version"]},
                            headers=tokens.header())
    assert duplicate.status_code == 409
    withheld = issue(client, tokens)
    wait_until_drained(relay)
    assert len(events_for(kafka_broker.bootstrap_servers, "adjustments.referral-requests", s["id"], 1)) == 1
    assert events_for(kafka_broker.bootstrap_servers, "adjustments.referral-requests", withheld["id"], 0) == []
    types = [e["type"] for e in events_for(kafka_broker.bootstrap_servers, "adjustments.suggestion", s["id"], 2)]
    assert types == ["adjustments.suggestion.issued", "adjustments.suggestion.amended"]


def test_the_rest_of_the_lifecycle_reaches_kafka_as_ids_and_codes(live, kafka_broker):
    app, client, tokens, relay, _ = live
    h, today = tokens.header(), uk_today()
    first = issue(client, tokens, review_date=(today + timedelta(days=3)).isoformat())
    html = client.get(f"/suggestions/{first['id']}/letter", headers=h).get_data(as_text=True)
    token = re.search(r'/respond/([0-9a-f]{32}\.[0-9a-f]{32})"', html).group(1)
    answer = {"responder_name": "Jo Manager", "items": [
        {"index": 0, "outcome": "agreed"}, {"index": 1, "outcome": "not_possible", "reason": "Open-plan floor only"},
        {"index": 2, "outcome": "agreed"}]}
    assert client.post(f"/employer-links/{token}/response", json=answer).status_code == 201
    database, outbox = app.extensions["worklink"].database, app.extensions["worklink"].outbox
    with database.transaction() as session:
        assert services.sweep(session, outbox, today + timedelta(days=3)) == {"expired": 0, "review_due": 1}
    with database.transaction() as session:
        assert services.sweep(session, outbox, today + timedelta(days=29))["expired"] >= 1
    replaced = issue(client, tokens)
    replacement = issue(client, tokens, supersedes_id=replaced["id"])
    assert client.post(f"/suggestions/{replacement['id']}/withdraw", json={"version": 2, "reason": "patient_request"},
                       headers=h).status_code == 200
    wait_until_drained(relay)

    bootstrap = kafka_broker.bootstrap_servers
    lived = events_for(bootstrap, "adjustments.suggestion", first["id"], 4)
    assert [e["type"] for e in lived] == ["adjustments.suggestion.issued", "adjustments.employer_response.recorded",
                                          "adjustments.suggestion.review_due", "adjustments.suggestion.expired"]
    answered = lived[1]["data"]
    assert answered["outcome"] == "partially_agreed"
    # who advised, as a pseudonymous reference of their user id (never the login id itself)
    assert answered["clinician_id"] == clinician_reference("dr-ada", app.config["CLINICIAN_REFERENCE_KEY"])
    assert [i["outcome"] for i in answered["items"]] == ["agreed", "not_possible", "agreed"]
    assert lived[2]["data"]["review_date"] == (today + timedelta(days=3)).isoformat()
    assert lived[3]["data"]["period_end"] == (today + timedelta(days=28)).isoformat()
    ended = events_for(bootstrap, "adjustments.suggestion", replaced["id"], 2)
    assert [(e["type"], e["data"].get("reason"), e["data"].get("superseded_by_id")) for e in ended] == [
        ("adjustments.suggestion.issued", None, None), ("adjustments.suggestion.withdrawn", "replaced", replacement["id"])]
    withdrawn = events_for(bootstrap, "adjustments.suggestion", replacement["id"], 2)
    assert [(e["type"], e["data"].get("reason")) for e in withdrawn] == [
        ("adjustments.suggestion.issued", None), ("adjustments.suggestion.withdrawn", "patient_request")]
    raw = json.dumps(lived + ended + withdrawn)
    for private in ("Sam", "Patel", "9434765919", "Depression", "Open-plan", "Jo Manager", "Tires quickly", "dr-ada"):
        assert private not in raw


def lifecycle_event(step: str, *, referral_id, request_id, suggestion_id, practice_id, version: int, **extra):
    data = {"referral_id": referral_id, "status": extra.pop("status", "in-progress"), "referrer_org_id": practice_id,
            "request_id": request_id, "suggestion_id": suggestion_id, "version": version,
            "occurred_at": datetime.now(timezone.utc), **extra}
    event, _ = CATALOGUE.build(f"referrals.referral.{step}", data, source="urn:worklink:referrals")
    return event


def deliver_and_handle(app, settings, kafka_broker, events) -> None:
    """Send `events` to referrals.referral on the broker and run the adjustments consumer until it handled each."""
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers, acks="all")
    for event in events:
        producer.send("referrals.referral", key=str(event.data["referral_id"]).encode(),
                      value=event.to_json().encode(), headers=kafka_headers(None, "corr-1")).get(30)
    producer.close()

    group = f"test.adjustments.{uuid.uuid4().hex[:8]}"
    consumer = EventConsumer(
        group_id=group, database=app.extensions["worklink"].database, tables=PLATFORM, catalogue=CATALOGUE,
        handlers=HANDLERS,
        consumer_factory=lambda: kafka.consumer(settings.kafka, group, "test", session_timeout_ms=6000,
                                                heartbeat_interval_ms=1000),
        producer_factory=lambda: kafka.producer(settings.kafka, "test-dlt"))
    ours = {event.id for event in events}
    seen: dict[str, list[Outcome]] = {}
    consumer.on_handled = lambda received: seen.setdefault(received.id, [])
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            consumer.poll_once(timeout_ms=500)
            if ours <= set(seen) and consumer.poll_once(timeout_ms=500) is not None:
                break
    finally:
        consumer.close()
    assert ours <= set(seen), f"handled only {set(seen) & ours}"


def test_referral_lifecycle_events_feed_the_clinicians_read_model(live, kafka_broker):
    app, client, tokens, relay, settings = live
    s = issue(client, tokens, **{"consent.refer_to_employment_adviser": True})
    request_id = client.get(f"/suggestions/{s['id']}", headers=tokens.header()).get_json()["referrals"][0]["request_id"]
    referral_id, assigned = uuid.uuid4(), uuid.uuid4()
    common = dict(referral_id=referral_id, request_id=request_id, suggestion_id=s["id"], practice_id=s["practice_id"])
    submitted = lifecycle_event("submitted", version=1, status="requested", **common)
    accepted = lifecycle_event("accepted", version=3, status="accepted", business_status="awaiting_first_contact",
                               assigned_org_id=assigned, **common)
    late_received = lifecycle_event("received", version=2, status="received", **common)  # arrives after v3
    stranger = lifecycle_event("submitted", version=1, referral_id=uuid.uuid4(), request_id=None, suggestion_id=None,
                               practice_id=s["practice_id"])
    deliver_and_handle(app, settings, kafka_broker, [submitted, accepted, late_received, accepted, stranger])

    referral = client.get(f"/suggestions/{s['id']}", headers=tokens.header()).get_json()["referrals"][0]
    assert referral["referral_id"] == str(referral_id)
    assert referral["status"] == "accepted"  # the older `received` (v2) did not overwrite v3
    assert referral["business_status"] == "awaiting_first_contact"
    assert referral["assigned_org_id"] == str(assigned)
    listing = client.get("/suggestions", headers=tokens.header()).get_json()
    assert listing["items"][0]["referral_status"] == "accepted"


def test_every_referral_lifecycle_type_has_a_handler():
    """Each step the referrals service publishes with the referral's state; one missing left the GP's view stale."""
    lifecycle = {entry.type for entry in CATALOGUE if entry.schema.__name__ == "ReferralLifecycleV1"}
    assert {"referrals.referral.resumed", "referrals.referral.entered_in_error", "referrals.referral.held",
            "referrals.referral.routed"} <= lifecycle
    assert lifecycle <= set(HANDLERS)


def test_resumed_entered_in_error_held_and_routed_reach_the_clinicians_read_model(live, kafka_broker):
    """Resilience audit 2, #4: after `resume` the GP saw "put on hold"; after "entered in error", "submitted"."""
    app, client, tokens, relay, settings = live
    events, expected = [], {}
    for steps, last in (
            ([("submitted", "requested", {}), ("put_on_hold", "on_hold", {"reason": "person_unwell"}),
              ("resumed", "in-progress", {})], ("resumed", "in-progress", None)),
            ([("submitted", "requested", {}), ("entered_in_error", "entered-in-error", {"reason": "entered_in_error"})],
             ("entered_in_error", "entered-in-error", "entered_in_error")),
            ([("submitted", "requested", {}), ("held", "requested", {"reason": "no_service_available"})],
             ("held", "requested", "no_service_available")),
            ([("submitted", "requested", {}), ("held", "requested", {"reason": "no_service_available"}),
              ("routed", "requested", {"assigned_org_id": OTHER_ORG})], ("routed", "requested", None))):
        s = issue(client, tokens, **{"consent.refer_to_employment_adviser": True})
        request_id = client.get(f"/suggestions/{s['id']}", headers=tokens.header()).get_json()["referrals"][0][
            "request_id"]
        common = dict(referral_id=uuid.uuid4(), request_id=request_id, suggestion_id=s["id"],
                      practice_id=s["practice_id"])
        events += [lifecycle_event(step, version=n + 1, status=status, **common, **extra)
                   for n, (step, status, extra) in enumerate(steps)]
        expected[s["id"]] = last
    deliver_and_handle(app, settings, kafka_broker, events)

    for suggestion_id, (step, status, reason) in expected.items():
        referral = client.get(f"/suggestions/{suggestion_id}", headers=tokens.header()).get_json()["referrals"][0]
        assert (referral["status"], referral["business_status"], referral["reason"]) == (step, status, reason)
    # ... and the pages say it in words
    words = {"resumed": "active again (resumed)", "entered_in_error": "withdrawn (entered in error)",
             "held": "waiting for an adviser service", "routed": "sent to an adviser service"}
    home = client.get("/", headers=tokens.header()).get_data(as_text=True)
    for suggestion_id, (step, *_) in expected.items():
        review = client.get(f"/review/{suggestion_id}", headers=tokens.header()).get_data(as_text=True)
        assert re.search(r'id="referral">\s*' + re.escape(words[step].capitalize()), review), step
        assert words[step].capitalize() in home
    routed = [sid for sid, (step, *_) in expected.items() if step == "routed"][0]
    assert client.get(f"/suggestions/{routed}", headers=tokens.header()).get_json()["referrals"][0][
        "assigned_org_id"] == str(OTHER_ORG)


def test_a_referral_entered_in_error_is_over_even_after_consent_was_withdrawn(live, kafka_broker):
    """Like the other ended steps, entered-in-error overrides "consent withdrawn"; an open step does not."""
    app, client, tokens, relay, settings = live
    s = issue(client, tokens, **{"consent.refer_to_employment_adviser": True})
    request_id = client.get(f"/suggestions/{s['id']}", headers=tokens.header()).get_json()["referrals"][0]["request_id"]
    assert client.post(f"/suggestions/{s['id']}/referral-consent-withdrawal", json={"version": s["version"]},
                       headers=tokens.header()).status_code == 200
    common = dict(referral_id=uuid.uuid4(), request_id=request_id, suggestion_id=s["id"], practice_id=s["practice_id"])
    deliver_and_handle(app, settings, kafka_broker, [
        lifecycle_event("resumed", version=2, status="in-progress", **common),
        lifecycle_event("entered_in_error", version=3, status="entered-in-error", reason="entered_in_error", **common)])
    referral = client.get(f"/suggestions/{s['id']}", headers=tokens.header()).get_json()["referrals"][0]
    assert referral["status"] == "entered_in_error"
