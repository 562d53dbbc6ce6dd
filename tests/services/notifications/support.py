"""Test support for the notifications service: its migrated database, a real SMTP server on
loopback (aiosmtpd), a real HTTP webhook receiver that verifies signatures, a
controllable clock, and helpers to put catalogue events on a test topic."""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from datetime import date, datetime, timedelta, timezone
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from kafka import KafkaProducer
from marshmallow import fields

from worklink.auth import mint_token
from worklink.config import KafkaSettings, Settings
from worklink.db import Database
from worklink.events.catalogue import Catalogue
from worklink.events.contracts import CATALOGUE
from worklink.events.envelope import CloudEvent
from worklink.messaging import kafka
from worklink.messaging.consumer import EventConsumer
from worklink.migrations import upgrade
from worklink.service import get_service
from worklink_notifications import signing
from worklink_notifications.delivery import DeliverySettings, DeliveryWorker
from worklink_notifications.events import CONSUMER_CLASS, HANDLERS

from tests.events import consume  # noqa: F401 - other tests import it from here
from tests.apps import disposed_after

SPEC = get_service("notifications")


@pytest.fixture()
def notifications_db(database_url) -> Database:
    upgrade(SPEC.migrations_dir, database_url)
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture()
def sqlite_db(tmp_path) -> Database:
    url = f"sqlite:///{tmp_path / 'notifications.db'}"
    upgrade(SPEC.migrations_dir, url)
    database = Database(url)
    yield database
    database.dispose()


# --- time ---------------------------------------------------------------------------

class Clock:
    """A clock tests move by hand (the worker's `clock`)."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture()
def clock() -> Clock:
    today = datetime.now(timezone.utc).replace(hour=9, minute=0, second=0, microsecond=0)
    return Clock(today)


# --- SMTP -----------------------------------------------------------------------------

class Mailbox:
    def __init__(self):
        self.messages = []
        self.refuse: set[str] = set()  # recipients answered with 550
        self.busy: dict[str, int] = {}  # recipient -> how many more times to answer 451 (try again later)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such mailbox"
        if self.busy.get(address):
            self.busy[address] -= 1
            return "451 4.3.0 Temporary local problem, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"

    def to(self, address: str) -> list:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture()
def smtp_server():
    from aiosmtpd.controller import Controller

    from worklink.devstack import free_port

    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    mailbox.port = controller.port
    yield mailbox
    controller.stop()


# --- webhooks ---------------------------------------------------------------------------

class Receiver:
    """A partner system: verifies every request's signature with its secret."""

    def __init__(self):
        self.secret: str | None = None
        self.accepted: list[dict] = []
        self.rejected: list[str] = []
        self.fail_next = 0          # answer 503 to this many valid requests
        self.status_when_failing = 503
        self.retry_after: str | None = None  # the Retry-After header sent with those answers, if any
        self.failed: list[float] = []  # the webhook-timestamp of each request answered with a failure
        self.url = ""
        self.clock = None  # the receiver's clock: real time unless a test shares its Clock with it

    def handle(self, headers, body: bytes) -> int:
        try:
            signing.verify(self.secret, headers, body, now=self.clock().timestamp() if self.clock else None)
        except signing.InvalidSignature as exc:
            self.rejected.append(str(exc))
            return 401
        if self.fail_next:
            self.fail_next -= 1
            self.failed.append(float(headers["webhook-timestamp"]))
            return self.status_when_failing
        self.accepted.append({"id": headers["webhook-id"], "body": json.loads(body)})
        return 204


@pytest.fixture()
def webhook_receiver():
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status = receiver.handle(dict(self.headers), body)
            self.send_response(status)
            if status >= 400 and receiver.retry_after is not None:
                self.send_header("Retry-After", receiver.retry_after)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_port}/worklink"
    yield receiver
    server.shutdown()
    thread.join(5)


def make_worker(database: Database, smtp, clock, **overrides) -> DeliveryWorker:
    settings = DeliverySettings(smtp_port=smtp.port if smtp else 1, backoff_base=60, max_attempts=3,
                                webhook_timeout=5, **{"allow_private_webhooks": True, **overrides})
    return DeliveryWorker(database, settings, clock=clock)


# --- the app and tokens -------------------------------------------------------------------

@pytest.fixture()
def app(notifications_db, kafka_broker, tmp_path):
    settings = dataclasses.replace(Settings.from_env("notifications", {"WORKLINK_VAR": str(tmp_path),
                                                                       "WORKLINK_ENV": "test"}),
                                   database_url=notifications_db.url,
                                   kafka=KafkaSettings(kafka_broker.bootstrap_servers))
    yield from disposed_after(SPEC.create_app(settings=settings))


@pytest.fixture()
def token(app):
    jwt = app.extensions["worklink"].settings.jwt

    def mint(role: str, org: str | None = None, sub: str | None = None) -> dict:
        return {"Authorization": "Bearer " + mint_token(jwt, role=role, org=org, subject=sub)}

    return mint


# --- events ------------------------------------------------------------------------------

def sample_data(schema_class, **overrides) -> dict:
    """Valid data for any catalogue schema (ids, codes, timestamps)."""
    data = {}
    for name, field in schema_class().fields.items():
        data[name] = _sample(field)
    data.update(overrides)
    return data


def _sample(field):
    if isinstance(field, fields.Nested):
        return sample_data(type(field.schema))
    if isinstance(field, fields.UUID):
        return uuid.uuid4()
    if isinstance(field, fields.DateTime):
        return datetime.now(timezone.utc)
    if isinstance(field, fields.Date):
        return date.today()
    if isinstance(field, fields.Boolean):
        return True
    if isinstance(field, fields.Integer):
        return 1
    if isinstance(field, fields.List):
        return []
    if isinstance(field, fields.Email):
        return "resident@example.org"
    validators = getattr(field, "validators", [])
    for v in validators:
        if hasattr(v, "choices"):
            return sorted(v.choices)[0]
    if field.load_default is None and field.name in ("verification_code", "status_link"):
        return None  # optional, and only with its own message code
    return "sample_code"


def catalogue_on(topic: str) -> Catalogue:
    """The real catalogue with every type moved onto one test topic."""
    return Catalogue([dataclasses.replace(entry, topic=topic) for entry in CATALOGUE])


def build_event(catalogue: Catalogue, event_type: str, **data) -> CloudEvent:
    entry = catalogue.latest(event_type)
    event, _ = catalogue.build(event_type, sample_data(entry.schema, **data), source="urn:worklink:test")
    return event


def send(bootstrap: str, topic: str, *values: bytes) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for value in values:
        producer.send(topic, value=value, key=b"k").get(30)
    producer.close()


def make_consumer(database: Database, bootstrap: str, catalogue: Catalogue, handlers=None) -> EventConsumer:
    """The consumer `worklink consume -s notifications` runs (events.CONSUMER_CLASS), on a test group."""
    settings = KafkaSettings(bootstrap)
    group = f"worklink.notifications.test-{uuid.uuid4().hex[:8]}"
    return CONSUMER_CLASS(
        group_id=group, database=database, tables=SPEC.tables, catalogue=catalogue,
        handlers=HANDLERS if handlers is None else handlers,
        consumer_factory=lambda: kafka.consumer(settings, group, "test", session_timeout_ms=6000,
                                                heartbeat_interval_ms=1000),
        producer_factory=lambda: kafka.producer(settings, "test-dlt"), backoff_base=0.05)
