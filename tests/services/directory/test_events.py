"""Events on a real Kafka broker: every write's event through the outbox, and the capacity read model."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import datetime, timedelta, timezone

from kafka import KafkaProducer

from tests.platform.support import read_topic
from tests.services.directory.conftest import ORG_A, build_directory, listed_long_ago, make_app, token_for
from tests.events import consume
from worklink.config import KafkaSettings
from worklink.db import Database
from worklink.events.catalogue import Catalogue
from worklink.events.contracts import CATALOGUE
from worklink.events.envelope import kafka_headers
from worklink.messaging import kafka
from worklink.messaging.consumer import EventConsumer, Outcome
from worklink.messaging.outbox import OutboxRelay, wait_until_drained
from worklink_directory import services
from worklink_directory.events import HANDLERS, PUBLISHES
from worklink_directory.models import PLATFORM, ServiceCapacity


def catalogue_on(topic: str) -> Catalogue:
    """The real catalogue with every type moved onto one test topic."""
    return Catalogue([dataclasses.replace(entry, topic=topic) for entry in CATALOGUE])


def relay(app, bootstrap: str) -> None:
    ctx = app.extensions["worklink"]
    outbox_relay = OutboxRelay("directory", ctx.database, PLATFORM,
                               lambda: kafka.producer(KafkaSettings(bootstrap), client_id="directory-test-relay"))
    try:
        wait_until_drained(outbox_relay)
    finally:
        outbox_relay.close()


def test_every_write_publishes_its_event_on_kafka(sqlite_url, tmp_path, kafka_broker, new_topic):
    topic = new_topic()
    app = make_app(sqlite_url, tmp_path, catalogue=catalogue_on(topic))
    known = build_directory(app)
    client = app.test_client()
    owner = token_for(app, "org_admin", ORG_A)
    debt, cafe = known.ids["debt"], known.ids["cafe"]
    assert client.patch(f"/manage/services/{debt}", json={"name": "Debt advice, Bridgwater", "maximum_age": 99},
                        headers=owner).status_code == 200
    assert client.post(f"/manage/services/{cafe}/assure", json={}, headers=owner).status_code == 200
    assert client.post(f"/manage/services/{debt}/withdraw", json={"reason": "duplicate"}, headers=owner).status_code == 200
    # made inactive, then offered again: consumers hear a withdrawal and a new publication
    for status in ("inactive", "active"):
        assert client.patch(f"/manage/services/{cafe}", json={"status": status}, headers=owner).status_code == 200
    ctx = app.extensions["worklink"]
    listed_long_ago(app)
    with ctx.database.transaction() as session:
        flagged = services.flag_review_due(session, ctx.outbox)  # nothing was ever assured but the cafe
    assert flagged == 4
    relay(app, kafka_broker.bootstrap_servers)

    records = read_topic(kafka_broker.bootstrap_servers, topic, expected=6 + 3 + 2 * 2 + 4)
    events = [(r.key.decode(), json.loads(r.value)) for r in records]
    assert len(events) == 17
    assert all(key == event["data"]["service_id"] for key, event in events)  # keyed by service id
    by_type = {}
    for _key, event in events:
        by_type.setdefault(event["type"], []).append(event["data"])
    assert set(by_type) == set(PUBLISHES) - {"directory.user_sessions.ended"}  # a sign-out, not a write
    assert [d["service_id"] for d in by_type["directory.service.published"]].count(cafe) == 2
    assert len(by_type["directory.service.published"]) == 7
    published = {d["service_id"]: d for d in by_type["directory.service.published"]}
    assert set(published[known.ids["counselling"]]["taxonomy_term_ids"]) == {known.terms["counselling"],
                                                                             known.terms["mental-health"]}
    updates = {(d["service_id"], tuple(d["changed"])) for d in by_type["directory.service.updated"]}
    assert updates == {(debt, ("name", "maximum_age")), (cafe, ("assured_date",)), (cafe, ("status",))}
    withdrawn = by_type["directory.service.withdrawn"]
    assert {(d["service_id"], d["organization_id"], d["reason"]) for d in withdrawn} == {
        (debt, str(ORG_A), "duplicate"), (cafe, str(ORG_A), "inactive")}
    assert all(set(d) == {"service_id", "organization_id", "reason", "withdrawn_at"} for d in withdrawn)
    assert {d["service_id"] for d in by_type["directory.service.review_due"]} == \
        {known.ids[k] for k in ("counselling", "jobclub", "refuge", "digital")}
    # broadcast events carry ids, codes and timestamps only: no names, descriptions or addresses
    text = json.dumps([e for _k, e in events])
    for secret in ("Taunton counselling service", "High Street", "TA1 1AA", "01632", "Debt advice"):
        assert secret not in text


def capacity_event(catalogue: Catalogue, service_id: uuid.UUID, recorded_at: datetime, **data) -> bytes:
    event, _ = catalogue.build("referrals.capacity.changed", {
        "service_id": service_id, "organization_id": ORG_A, "accepting_referrals": True, "open_referrals": 3,
        "available_places": 5, "typical_wait_days": 12, "recorded_at": recorded_at, **data},
        source="urn:worklink:referrals")
    return event.to_json().encode()


def test_capacity_events_build_the_service_capacity_read_model(database_url, tmp_path, kafka_broker, new_topic):
    topic = new_topic()
    catalogue = catalogue_on(topic)
    app = make_app(database_url, tmp_path, catalogue=catalogue)
    known = build_directory(app)
    counselling = uuid.UUID(known.ids["counselling"])
    not_yet_listed = uuid.uuid4()
    now = datetime.now(timezone.utc)
    first = capacity_event(catalogue, counselling, now - timedelta(hours=1))
    latest = capacity_event(catalogue, counselling, now, accepting_referrals=False, available_places=0,
                            typical_wait_days=40, open_referrals=12)
    older = capacity_event(catalogue, counselling, now - timedelta(hours=2), typical_wait_days=1)
    early = capacity_event(catalogue, not_yet_listed, now)
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers, acks="all")
    for value in (first, latest, older, early, latest):  # the last one is a redelivery
        producer.send(topic, key=str(counselling).encode(), value=value,
                      headers=kafka_headers(None, "test")).get(30)
    producer.close()

    outcomes = consume_capacity_events(kafka_broker, database_url, catalogue, 5)
    assert outcomes.count(Outcome.HANDLED) == 4 and outcomes.count(Outcome.DUPLICATE) == 1

    body = app.test_client().get(f"/services/{counselling}").get_json()
    capacity = body["service_capacity"]
    assert len(capacity) == 1
    assert capacity[0]["accepting_referrals"] is False  # the latest event won; the older one did not
    assert (capacity[0]["available"], capacity[0]["typical_wait_days"]) == (0, 40)
    assert abs(datetime.fromisoformat(capacity[0]["updated"]) - now) < timedelta(milliseconds=1)
    others = app.test_client().get(f"/services/{known.ids['debt']}").get_json()
    assert "service_capacity" not in others
    # a capacity event that overtook its listing is kept, keyed by the service id, for when it arrives
    with app.extensions["worklink"].database.sessions() as session:
        early_row = session.get(ServiceCapacity, not_yet_listed)
        assert (early_row.accepting_referrals, early_row.typical_wait_days) == (True, 12)


def test_a_capacity_time_without_a_zone_is_read_as_utc_and_negative_counts_are_dead_lettered(
        database_url, tmp_path, kafka_broker, new_topic):
    topic = new_topic()
    catalogue = catalogue_on(topic)
    app = make_app(database_url, tmp_path, catalogue=catalogue)
    counselling = uuid.UUID(build_directory(app).ids["counselling"])
    now = datetime.now(timezone.utc).replace(microsecond=0)
    aware = capacity_event(catalogue, counselling, now - timedelta(hours=1))
    # Our producers send every time with its offset; an older or foreign producer might not.
    naive_later = capacity_event(catalogue, counselling, now, accepting_referrals=False, typical_wait_days=1
                                 ).replace(now.isoformat().replace("+00:00", "Z").encode(),
                                           now.replace(tzinfo=None).isoformat().encode())
    assert b'"recorded_at":"' + now.replace(tzinfo=None).isoformat().encode() + b'"' in naive_later.replace(b" ", b"")
    negative = capacity_event(catalogue, counselling, now + timedelta(hours=1), available_places=-3,
                              typical_wait_days=-7)
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers, acks="all")
    for value in (aware, naive_later, negative):
        producer.send(topic, key=str(counselling).encode(), value=value, headers=kafka_headers(None, "test")).get(30)
    producer.close()

    outcomes = consume_capacity_events(kafka_broker, database_url, catalogue, 3)
    assert outcomes == [Outcome.HANDLED, Outcome.HANDLED, Outcome.DEAD_LETTERED]  # none retried as a handler bug
    [dead] = read_topic(kafka_broker.bootstrap_servers, topic + ".dlt", expected=1)
    headers = {key: value.decode() for key, value in dead.headers}
    assert headers["dlt-reason"] == "rejected"
    assert "available_places, typical_wait_days must not be negative" in headers["dlt-error"]

    capacity = app.test_client().get(f"/services/{counselling}").get_json()["service_capacity"][0]
    assert capacity["accepting_referrals"] is False and capacity["typical_wait_days"] == 1  # the naive time won
    assert datetime.fromisoformat(capacity["updated"]) == now  # read as UTC
    html = app.test_client().get(f"/find/services/{counselling}").get_data(as_text=True)
    shown = html.split('id="maincontent"', 1)[1].split("</main>", 1)[0]  # not the head's random CSP nonce
    assert "Typical wait: 1 day." in shown and "-7" not in shown


def test_negative_counts_already_stored_are_never_shown(app):
    counselling = uuid.UUID(build_directory(app).ids["counselling"])
    with app.extensions["worklink"].database.transaction() as session:  # as a row kept before the check
        session.add(ServiceCapacity(service_id=counselling, organization_id=ORG_A, accepting_referrals=True,
                                    open_referrals=-5, available_places=-3, typical_wait_days=-7,
                                    updated=datetime.now(timezone.utc)))
    client = app.test_client()
    capacity = client.get(f"/services/{counselling}").get_json()["service_capacity"][0]
    assert capacity["available"] == 0 and "typical_wait_days" not in capacity
    html = client.get(f"/find/services/{counselling}").get_data(as_text=True)
    assert "Taking new referrals now." in html and "Typical wait" not in html


def consume_capacity_events(kafka_broker, database_url: str, catalogue, expected: int) -> list:
    """Run the directory's consumer (its real handlers, a fresh group) over `expected` events."""
    settings = KafkaSettings(kafka_broker.bootstrap_servers)
    group = f"worklink.directory.test-{uuid.uuid4().hex[:8]}"
    database = Database(database_url)
    consumer = EventConsumer(
        group_id=group, database=database, tables=PLATFORM, catalogue=catalogue, handlers=HANDLERS,
        consumer_factory=lambda: kafka.consumer(settings, group, "test", session_timeout_ms=6000,
                                                heartbeat_interval_ms=1000),
        producer_factory=lambda: kafka.producer(settings, "test-dlt"), backoff_base=0.05)
    try:
        return consume(consumer, expected)
    finally:
        consumer.close()
        database.dispose()
