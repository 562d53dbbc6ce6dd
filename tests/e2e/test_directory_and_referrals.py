"""Two real services talking only through Kafka: the directory's listing events build the referrals
service's routing model (area and age), and the referrals service's capacity events come back into
the directory's ORUK `service_capacity`. No test-made events: each side publishes through its own
outbox and reads through its own consumer, as in production."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timezone

import pytest

from tests.e2e.support import consume_until, consumer, drain
from tests.services.directory.conftest import ORG_A, make_app as make_directory_app, service_body, token_for
from worklink.config import KafkaSettings
from worklink.events.catalogue import Catalogue
from worklink.events.contracts import CATALOGUE
from worklink.messaging.consumer import Outcome
from worklink.messaging.outbox import Outbox
from worklink.messaging.topics import ensure_topics, load_topics
from worklink_directory import demo
from worklink_directory import events as directory_events
from worklink_directory.models import PLATFORM as DIRECTORY_TABLES
from worklink_referrals import events as referrals_events
from worklink_referrals import services as referrals_services
from worklink_referrals.models import PLATFORM as REFERRALS_TABLES

pytestmark = pytest.mark.timeout(300)


@pytest.fixture()
def catalogue(new_topic) -> Catalogue:
    """The real catalogue with the topics this test watches moved to fresh ones: every topic the
    referrals consumer reads (left as they were, events other tests put on them would be consumed
    too) and the capacity topic."""
    watched = {CATALOGUE.latest(t).topic for t in (*referrals_events.HANDLERS, "referrals.capacity.changed")}
    moved = {topic: new_topic() for topic in watched}
    return Catalogue([dataclasses.replace(e, topic=moved.get(e.topic, e.topic)) for e in CATALOGUE])


def test_listings_route_referrals_and_capacity_flows_back(tmp_path, kafka_broker, catalogue, make_harness):
    settings = KafkaSettings(kafka_broker.bootstrap_servers)
    ensure_topics(settings, [s for s in load_topics() if s.name.startswith("referrals.")])
    directory = make_directory_app(f"sqlite:///{tmp_path / 'directory.db'}", tmp_path, catalogue=catalogue)
    referrals = make_harness(f"sqlite:///{tmp_path / 'referrals.db'}")
    directory_db, referrals_db = directory.extensions["worklink"].database, referrals.ctx.database

    # A partner lists an employment adviser service for Taunton postcodes, ages 18 to 64.
    client, admin = directory.test_client(), token_for(directory, "alliance_admin")
    with directory_db.transaction() as session:
        demo.ensure_taxonomy(session)
    assert client.post("/manage/organizations", json={"id": str(ORG_A), "name": "Working Well", "description": "WW"},
                       headers=admin).status_code == 201
    body = {**service_body(ORG_A, "Working Well adviser, Taunton", ["employment-advice"], ages=(18, 64)),
            "service_areas": [{"name": "Taunton", "postcode_districts": ["TA1", "TA2"]}]}
    created = client.post("/manage/services", json=body, headers=token_for(directory, "org_admin", ORG_A))
    assert created.status_code == 201, created.get_json()
    listed = uuid.UUID(created.get_json()["id"])
    drain("directory", directory_db, DIRECTORY_TABLES, settings)

    routing = consumer("referrals", referrals_db, REFERRALS_TABLES, referrals_events.HANDLERS, catalogue, settings)
    try:
        assert consume_until(routing, lambda o: Outcome.HANDLED in o) == [Outcome.HANDLED]
    finally:
        routing.close()

    # The referrals service now routes by what the directory published: a Taunton adult goes to the
    # listing; someone in Bristol, or aged 70 in Taunton, is held for the alliance, not dropped.
    taunton = referrals.refer({"postcode": "TA1 1AA", "birth_date": "1986-01-01", "nhs_number": "9434765919"})
    assert taunton.status_code == 201, taunton.get_json()
    assert (taunton.get_json()["service_id"], taunton.get_json()["routing"]) == (str(listed), "routed")
    bristol = referrals.refer({"postcode": "BS1 1AA", "birth_date": "1986-01-01", "nhs_number": "9434765870",
                               "given_name": "Bea"})
    older = referrals.refer({"postcode": "TA2 7AA", "birth_date": "1956-01-01", "nhs_number": "9434765889",
                             "given_name": "Cy"})
    assert [r.get_json()["routing"] for r in (bristol, older)] == ["held", "held"]

    # The referrals service's capacity summary for that listing reaches the directory's ORUK output.
    with referrals_db.transaction() as session:
        outbox = Outbox("referrals", REFERRALS_TABLES, catalogue)
        assert referrals_services.publish_capacity_changes(session, outbox, datetime.now(timezone.utc)) == 1
    drain("referrals", referrals_db, REFERRALS_TABLES, settings)
    capacity = consumer("directory", directory_db, DIRECTORY_TABLES, directory_events.HANDLERS, catalogue, settings)
    try:
        consume_until(capacity, lambda o: Outcome.HANDLED in o)
    finally:
        capacity.close()
    [summary] = client.get(f"/services/{listed}").get_json()["service_capacity"]
    assert summary["accepting_referrals"] is True and summary["service_id"] == str(listed)

