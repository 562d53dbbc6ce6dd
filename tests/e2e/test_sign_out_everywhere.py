"""Two real services on real Kafka: a GP who signs out on every computer at the referrals service is
signed out of the adjustments service too - referrals ends its own sessions and announces it through its
outbox and relay; the adjustments consumer, with its real handlers, ends the GP's page sessions there.
No test-made events."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from tests.e2e.test_directory_and_referrals import consume_until, consumer, drain
from tests.services.adjustments.conftest import PRACTICE, build_app, make_settings
from worklink.auth import mint_token
from worklink.config import KafkaSettings
from worklink.events.catalogue import Catalogue
from worklink.events.contracts import CATALOGUE
from worklink.messaging.consumer import Outcome
from worklink.messaging.topics import ensure_topics, load_topics
from worklink_adjustments import events as adjustments_events
from worklink_adjustments.models import PLATFORM as ADJUSTMENTS_TABLES
from worklink_referrals.models import PLATFORM as REFERRALS_TABLES

pytestmark = pytest.mark.timeout(300)

GP = "dr.ada@practice.example"  # a login id that is an e-mail address


@pytest.fixture()
def catalogue(new_topic) -> Catalogue:
    """The real catalogue with every topic the adjustments consumer reads moved to a fresh one (left as
    they were, events other tests put there would be consumed too)."""
    moved = {topic: new_topic() for topic in {CATALOGUE.latest(t).topic for t in adjustments_events.HANDLERS}}
    return Catalogue([dataclasses.replace(e, topic=moved.get(e.topic, e.topic)) for e in CATALOGUE])


def _sign_in(app, token: str):
    client = app.test_client()
    form = client.get("/signin").get_data(as_text=True)
    csrf = form.split('name="csrf_token" value="')[1].split('"')[0]
    assert client.post("/signin", data={"csrf_token": csrf, "token": token}).status_code == 302
    return client, csrf


def test_signing_out_everywhere_at_referrals_signs_the_gp_out_of_adjustments(tmp_path, kafka_broker, catalogue,
                                                                             make_harness):
    kafka = KafkaSettings(kafka_broker.bootstrap_servers)
    ensure_topics(kafka, [s for s in load_topics() if s.name.startswith("referrals.")])
    referrals = make_harness(f"sqlite:///{tmp_path / 'referrals.db'}")
    referrals.app.extensions["worklink"].catalogue = catalogue
    referrals.app.extensions["worklink"].outbox.catalogue = catalogue
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'adjustments.db'}", kafka.bootstrap_servers)
    adjustments = build_app(settings)

    def token(subject: str) -> str:
        return mint_token(settings.jwt, role="gp", org=str(PRACTICE), subject=subject, jti=uuid.uuid4().hex)

    # The GP works at both services, and a colleague at the practice uses adjustments too.
    suggestions, _ = _sign_in(adjustments, token(GP))
    colleague, _ = _sign_in(adjustments, token("dr.bo@practice.example"))
    sent, csrf = _sign_in(referrals.app, token(GP))
    assert [c.get("/").status_code for c in (suggestions, colleague)] == [200, 200]
    assert sent.get("/sent").status_code == 200

    assert sent.post("/signout/everywhere", data={"csrf_token": csrf}).status_code == 302
    assert sent.get("/sent").status_code == 302  # ended at referrals at once
    assert suggestions.get("/").status_code == 200  # adjustments has not heard yet
    drain("referrals", referrals.ctx.database, REFERRALS_TABLES, kafka)

    sessions = consumer("adjustments", adjustments.extensions["worklink"].database, ADJUSTMENTS_TABLES,
                        adjustments_events.HANDLERS, catalogue, kafka)
    try:
        assert consume_until(sessions, lambda o: Outcome.HANDLED in o) == [Outcome.HANDLED]
    finally:
        sessions.close()

    refused = suggestions.get("/")
    assert refused.status_code == 302 and refused.headers["Location"].startswith("/signin")
    assert colleague.get("/").status_code == 200  # nobody else is signed out
