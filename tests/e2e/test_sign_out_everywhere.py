"""Three real services on real Kafka: a GP who signs out on every computer at the referrals service is
signed out of the adjustments service too - referrals ends its own sessions and announces it through its
outbox and relay; the adjustments consumer, with its real handlers, ends the GP's page sessions there.
A token issued before the sign-out then starts no session at adjustments, nor at the directory, which the
GP had never visited, once its consumer has heard; a token issued since does. No test-made events."""

from __future__ import annotations

import dataclasses
import time
import uuid

import pytest

from tests.browser import sealed
from tests.e2e.support import consume_until, consumer, drain
from tests.services.adjustments.conftest import PRACTICE, build_app, make_settings
from tests.services.directory.conftest import make_app as make_directory_app
from worklink.auth import mint_token
from worklink.config import KafkaSettings
from worklink.events.catalogue import Catalogue
from worklink.events.contracts import CATALOGUE
from worklink.messaging.consumer import Outcome
from worklink.messaging.topics import ensure_topics, load_topics
from worklink_adjustments import events as adjustments_events
from worklink_adjustments.models import PLATFORM as ADJUSTMENTS_TABLES
from worklink_directory import events as directory_events
from worklink_directory.models import PLATFORM as DIRECTORY_TABLES
from worklink_referrals.models import PLATFORM as REFERRALS_TABLES

pytestmark = pytest.mark.timeout(300)

GP = "dr.ada@practice.example"  # a login id that is an e-mail address


@pytest.fixture()
def catalogue(new_topic) -> Catalogue:
    """The real catalogue with every topic the adjustments and directory consumers read moved to a fresh
    one (left as they were, events other tests put there would be consumed too)."""
    handled = {*adjustments_events.HANDLERS, *directory_events.HANDLERS}
    moved = {topic: new_topic() for topic in {CATALOGUE.latest(t).topic for t in handled}}
    return Catalogue([dataclasses.replace(e, topic=moved.get(e.topic, e.topic)) for e in CATALOGUE])


def _signing_in(app, token: str):
    """A browser that sent `token` to /signin: it, its CSRF token and the answer's status."""
    client = app.test_client()
    form = client.get("/signin").get_data(as_text=True)
    csrf = form.split('name="csrf_token" value="')[1].split('"')[0]
    return client, csrf, client.post("/signin", data={"csrf_token": csrf, "token": token}).status_code


def _sign_in(app, token: str):
    client, csrf, status = _signing_in(app, token)
    assert status == 302
    return client, csrf


def _signs_in(app, token: str) -> int:
    return _signing_in(app, token)[2]


def _hears(name: str, app, tables, handlers, catalogue, kafka) -> None:
    """Run `name`'s consumer, with its real handlers, until it has handled the announcement."""
    sessions = consumer(name, app.extensions["worklink"].database, tables, handlers, catalogue, kafka)
    try:
        assert consume_until(sessions, lambda o: Outcome.HANDLED in o) == [Outcome.HANDLED]
    finally:
        sessions.close()


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
    other_computer = token(GP)  # issued before the sign-out, used at neither adjustments nor the directory
    in_between = token(GP)  # issued before the sign-out, first used at adjustments after it
    assert [c.get("/").status_code for c in (suggestions, colleague)] == [200, 200]
    assert sent.get("/sent").status_code == 200

    assert sent.post("/signout/everywhere", data={"csrf_token": csrf}).status_code == 302
    assert sent.get("/sent").status_code == 302  # ended at referrals at once
    assert suggestions.get("/").status_code == 200  # adjustments has not heard yet
    begun_since, _ = _sign_in(adjustments, in_between)  # so it starts a session there
    drain("referrals", referrals.ctx.database, REFERRALS_TABLES, kafka)

    _hears("adjustments", adjustments, ADJUSTMENTS_TABLES, adjustments_events.HANDLERS, catalogue, kafka)

    refused = suggestions.get("/")
    assert refused.status_code == 302 and refused.headers["Location"].startswith("/signin")
    assert colleague.get("/").status_code == 200  # nobody else is signed out
    assert begun_since.get("/").status_code == 302  # begun after the sign-out, but with a token from before
    copied = adjustments.test_client()  # a token adjustments never saw, issued before the sign-out
    copied.set_cookie("worklink_session", sealed(adjustments, other_computer))
    assert copied.get("/").status_code == 302 and _signs_in(adjustments, other_computer) == 401

    # The directory, which the GP never visited, refuses that token once it has heard too.
    directory = make_directory_app(f"sqlite:///{tmp_path / 'directory.db'}", tmp_path, catalogue=catalogue)
    _hears("directory", directory, DIRECTORY_TABLES, directory_events.HANDLERS, catalogue, kafka)
    assert _signs_in(directory, other_computer) == 401
    time.sleep(1 - time.time() % 1)  # iat is whole seconds: a token of the sign-out's second counts as from before
    assert _signs_in(directory, token(GP)) == _signs_in(adjustments, token(GP)) == 302  # a new sign-in works
