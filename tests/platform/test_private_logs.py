"""A failing statement's parameters - a person's record - never reach a log line or a
dead-letter header: a database outage (503), an unexpected database error (500) and a handler
that keeps failing (dead-lettered) each leave the stack and the SQL, never the values."""

from __future__ import annotations

import logging
import time
import uuid

import pytest
import sqlalchemy as sa
from flask.views import MethodView
from flask_smorest import Blueprint
from kafka import KafkaProducer

from worklink.config import KafkaSettings, Settings
from worklink.db import NAMING_CONVENTION, Database, platform_tables
from worklink.logs import JsonFormatter
from worklink.messaging import kafka
from worklink.messaging.consumer import EventConsumer, Outcome
from worklink.web import create_service_app, service_context
from tests.platform import support

pytestmark = pytest.mark.timeout(300)

# Personal details, as an intake would bind them to its INSERT.
PERSON = {"nhs_number": "9434765919", "given_name": "Zebedee", "family_name": "Quixotic",
          "reason": "Bipolar disorder, recently discharged"}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
TABLES = platform_tables(metadata)
people = sa.Table(
    "people", metadata,
    sa.Column("nhs_number", sa.String(10), primary_key=True),
    sa.Column("given_name", sa.String(50), nullable=False),
    sa.Column("family_name", sa.String(50), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
)

blp = Blueprint("people", __name__)


@blp.route("/lookup")
class Lookup(MethodView):
    @blp.response(200)
    def post(self):  # a bug no test foresaw: an error whose text quotes the person's details
        contacts: dict[str, str] = {}
        return {"contact": contacts[f"{PERSON['given_name'].lower()}@example.org"]}  # KeyError: the address


@blp.route("/people")
class People(MethodView):
    @blp.response(201)
    def post(self):
        with service_context().database.transaction() as session:
            if session.bind.dialect.name == "postgresql":
                session.execute(sa.text("SET LOCAL lock_timeout = '300ms'"))  # an outage, made quickly
            session.execute(people.insert().values(**PERSON))
        return {}


def assert_no_personal_data(lines: list[str]) -> None:
    text = "\n".join(lines)
    leaked = [value for value in PERSON.values() if value in text]
    assert not leaked, f"personal data in the log: {leaked}"


def formatted(caplog) -> list[str]:
    formatter = JsonFormatter("testsvc")
    return [formatter.format(record) for record in caplog.records]


@pytest.fixture()
def client(postgres_url, tmp_path):
    settings = Settings.from_env("testsvc", {"WORKLINK_VAR": str(tmp_path), "TESTSVC_DATABASE_URL": postgres_url})
    app, api = create_service_app("testsvc", __name__, tables=TABLES, title="Test", description="Test",
                                  settings=settings)
    api.register_blueprint(blp)
    metadata.create_all(app.extensions["worklink"].database.engine)
    return app.test_client()


def test_a_database_outage_logs_no_statement_parameters(client, postgres_url, caplog):
    holder = Database(postgres_url)
    with holder.engine.connect() as conn, conn.begin():
        conn.execute(sa.text("LOCK TABLE people IN ACCESS EXCLUSIVE MODE"))  # the insert cannot proceed
        with caplog.at_level(logging.INFO):
            response = client.post("/people", json={})
    assert response.status_code == 503, response.data
    lines = formatted(caplog)
    assert any("database unavailable" in line and "INSERT INTO people" in line for line in lines), lines
    assert_no_personal_data(lines)


def test_an_unexpected_database_error_logs_no_statement_parameters(client, caplog):
    assert client.post("/people", json={}).status_code == 201
    with caplog.at_level(logging.INFO):
        response = client.post("/people", json={})  # the same NHS number again: IntegrityError
    assert response.status_code == 500, response.data
    lines = formatted(caplog)
    assert any("unhandled error" in line and "IntegrityError" in line for line in lines), lines
    assert_no_personal_data(lines)


def test_a_dead_lettered_handler_error_carries_no_statement_parameters(database_url, kafka_broker, new_topic,
                                                                       caplog):
    database = support.make_database(database_url)
    people.create(database.engine)
    with database.transaction() as session:
        session.execute(people.insert().values(**PERSON))

    def intake(session, event):  # a handler whose insert keeps failing on the person's record
        session.execute(people.insert().values(**PERSON))

    error = dead_lettered_error(database, kafka_broker.bootstrap_servers, new_topic(), intake, caplog)
    assert error.startswith("IntegrityError") and "INSERT INTO people" in error, error
    assert_no_personal_data([error, *formatted(caplog)])


def test_a_dead_lettered_error_quoting_a_persons_details_carries_them_to_no_header(database_url, kafka_broker,
                                                                                   new_topic, caplog):
    """The dead-letter record's dlt-error header held the handler's exception text as it was: an error quoting
    what the handler read (a KeyError of an address, a lookup naming the NHS number) put it on the DLT."""
    database = support.make_database(database_url)

    def intake(session, event):
        raise LookupError(f"no open referral for {PERSON['nhs_number']} (zebedee.quixotic@example.org)")

    error = dead_lettered_error(database, kafka_broker.bootstrap_servers, new_topic(), intake, caplog)
    assert error.startswith("LookupError: no open referral for <redacted> (<email>)") and "zebedee" not in error, error
    assert_no_personal_data([error, *formatted(caplog)])


def dead_lettered_error(database, bootstrap: str, topic: str, handler, caplog) -> str:
    """The dlt-error header of the one event `handler` fails on, dead-lettered after its retries."""
    group = f"g-{uuid.uuid4().hex}"
    event, _ = support.catalogue(topic).build("test.thing.happened", {"thing_id": uuid.uuid4(), "seq": 1},
                                              source="urn:worklink:test")
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    producer.send(topic, key=b"k", value=event.to_json().encode()).get(30)
    producer.close()
    settings = KafkaSettings(bootstrap)
    consumer = EventConsumer(
        group_id=group, database=database, tables=support.TABLES, catalogue=support.catalogue(topic),
        handlers={"test.thing.happened": handler}, max_attempts=2, backoff_base=0.05,
        consumer_factory=lambda: kafka.consumer(settings, group, "test", session_timeout_ms=6000,
                                                heartbeat_interval_ms=1000),
        producer_factory=lambda: kafka.producer(settings, "test-dlt"))
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + 60
    try:
        with caplog.at_level(logging.INFO):
            while not outcomes and time.monotonic() < deadline:
                outcomes += consumer.poll_once(timeout_ms=500)
    finally:
        consumer.close()
    assert outcomes == [Outcome.DEAD_LETTERED]
    [dead] = support.read_topic(bootstrap, topic + ".dlt", expected=1)
    return dict(dead.headers)["dlt-error"].decode()


@pytest.mark.parametrize("detail", ["jo.bloggs@example.org", "9434765919", "943 476 5919", "TA1 1AA", "1984-02-29",
                                    "AB 12 34 56 C", "07700 900123"])
def test_an_exception_quoting_a_persons_details_is_logged_without_them(detail, caplog):
    """A failed request's traceback is logged with the exception's text: an error no code foresaw (a KeyError of an
    e-mail address, a library quoting its input) carried a person's details into the log, at any level."""
    log = logging.getLogger("worklink.problems")
    try:
        raise KeyError(f"no contact {detail} for the referral")
    except KeyError:
        with caplog.at_level(logging.INFO):
            log.exception("unhandled error")
            log.warning("handler failed; retrying", extra={"error": f"KeyError: no contact {detail}"})
    lines = formatted(caplog)
    assert len(lines) == 2 and "KeyError" in lines[0] and "no contact" in lines[1], lines
    assert not [line for line in lines if detail in line or detail.lower() in line], lines


def test_a_failed_requests_traceback_names_nobody(client, caplog):
    with caplog.at_level(logging.INFO):
        response = client.post("/lookup", json={})
    assert response.status_code == 500
    lines = formatted(caplog)
    assert any("unhandled error" in line and "KeyError" in line and "<email>" in line for line in lines), lines
    assert "zebedee@example.org" not in "\n".join(lines)
