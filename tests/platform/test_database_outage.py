"""A database outage delays an event, it never drops it; a database error that is a bug is dead-lettered.

On the real PostgreSQL: an outage is a TCP proxy (tests/platform/tcp_proxy.py) cut in front of it, since
the server is everyone's; an error PostgreSQL reports is raised by the server itself (RAISE ... USING
ERRCODE), so the driver classifies it as it would the real thing.
"""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from worklink.db import Database
from worklink.messaging.consumer import Outcome
from tests.events import consume as consume_until
from tests.platform import support
from tests.platform.support import make_consumer
from tests.platform.tcp_proxy import proxied
from tests.platform.test_consumer import send, thing_event

pytestmark = pytest.mark.timeout(300)


def raise_sqlstate(session, sqlstate: str) -> None:
    session.execute(sa.text(f"DO $$ BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = '{sqlstate}'; END $$"))


def database_for(kind: str, url: str):
    """The test's tables; for the batching consumer, notifications' own too (it reads its routing rules)."""
    if kind == "batching":
        from worklink.migrations import upgrade
        from worklink.service import get_service

        upgrade(get_service("notifications").migrations_dir, url)
    return support.make_database(url)


def shared_or_batching(kind: str):
    """A consumer factory: the shared EventConsumer, or notifications' BatchingConsumer (its own error path)."""
    if kind == "shared":
        return make_consumer

    def make_batching(database, bootstrap, topic, group, handler, **kwargs):
        from worklink_notifications.consumer import BatchingConsumer

        shared = make_consumer(database, bootstrap, topic, group, handler, **kwargs)
        return BatchingConsumer(group_id=group, database=database, tables=support.TABLES, catalogue=shared.catalogue,
                                handlers=shared.handlers, consumer_factory=shared.consumer_factory,
                                producer_factory=shared.producer_factory, backoff_base=shared.backoff_base,
                                backoff_max=shared.backoff_max)
    return make_batching


CONSUMERS = pytest.mark.parametrize("kind", ["shared", "batching"])


def dead_letters(bootstrap: str, topic: str, expected: int) -> list:
    return support.read_topic(bootstrap, topic + ".dlt", expected=expected, timeout=2 if not expected else 30)


def test_the_database_going_away_mid_event_delays_it_and_it_is_handled_once(postgres_url, kafka_broker, new_topic):
    topic, bootstrap = new_topic(), kafka_broker.bootstrap_servers
    support.make_database(postgres_url).dispose()
    with proxied(postgres_url) as (proxy, url):
        database = support.make_database(url)
        calls = []

        def handler(session, event):
            calls.append(event.id)
            support.record_effect(session, event)
            if len(calls) == 1:  # the server goes away while the handler works; back two seconds later
                proxy.cut()
                threading.Timer(2.0, proxy.restore).start()
                session.execute(sa.text("SELECT 1"))

        event = thing_event(topic)
        send(bootstrap, topic, event.to_json().encode())
        consumer = make_consumer(database, bootstrap, topic, f"g-{uuid.uuid4().hex}", handler)
        try:
            assert consume_until(consumer, 1, timeout=90) == [Outcome.HANDLED]
        finally:
            consumer.close()
        assert len(calls) >= 2
        assert support.handled_seqs(database) == [1]
        database.dispose()
    assert dead_letters(bootstrap, topic, 0) == []


@CONSUMERS
@pytest.mark.parametrize("sqlstate", ["40001", "40P01", "25006", "57P01", "53300", "42P01", "42501"],
                         ids=["serialization", "deadlock", "read-only-after-failover", "admin-shutdown",
                              "too-many-connections", "table-not-migrated-yet", "not-granted-yet"])
def test_a_transient_database_error_outlasting_the_retries_is_never_dead_lettered(
        postgres_url, kafka_broker, new_topic, sqlstate, kind):
    topic, bootstrap = new_topic(), kafka_broker.bootstrap_servers
    database = database_for(kind, postgres_url)
    calls = []

    def handler(session, event):
        calls.append(event.id)
        if len(calls) <= 6:  # more failures than the consumer's 4 attempts at a handler bug
            raise_sqlstate(session, sqlstate)
        support.record_effect(session, event)

    send(bootstrap, topic, thing_event(topic).to_json().encode())
    consumer = shared_or_batching(kind)(database, bootstrap, topic, f"g-{uuid.uuid4().hex}", handler, backoff_max=0.2)
    try:
        assert consume_until(consumer, 1, timeout=90) == [Outcome.HANDLED]
    finally:
        consumer.close()
    assert len(calls) == 7
    assert support.handled_seqs(database) == [1]
    assert dead_letters(bootstrap, topic, 0) == []
    database.dispose()


@CONSUMERS
def test_a_database_error_no_retry_can_mend_is_dead_lettered_and_the_next_event_handled(
        postgres_url, kafka_broker, new_topic, kind):
    """PostgreSQL's program_limit_exceeded (54xxx: an index row too big, a statement too complex) is an
    OperationalError to the driver, but the same event fails the same way for ever."""
    topic, bootstrap = new_topic(), kafka_broker.bootstrap_servers
    database = database_for(kind, postgres_url)

    def handler(session, event):
        if event.data["seq"] == 1:
            raise_sqlstate(session, "54000")
        support.record_effect(session, event)

    send(bootstrap, topic, *(thing_event(topic, seq).to_json().encode() for seq in (1, 2)))
    consumer = shared_or_batching(kind)(database, bootstrap, topic, f"g-{uuid.uuid4().hex}", handler, backoff_max=0.2)
    try:
        assert consume_until(consumer, 2, timeout=60) == [Outcome.DEAD_LETTERED, Outcome.HANDLED]
    finally:
        consumer.close()
    [dead] = dead_letters(bootstrap, topic, 1)
    headers = dict(dead.headers)
    assert headers["dlt-reason"] == b"handler-failed"
    assert b"54000" in headers["dlt-error"]
    assert support.handled_seqs(database) == [2]
    database.dispose()


# --- requests ----------------------------------------------------------------------------------------------


def database_app(tmp_path, url: str):
    """A service app on `url` with /things (a count, read in a transaction) and /raise/<sqlstate> (an error the
    server reports)."""
    from flask.views import MethodView
    from flask_smorest import Blueprint

    from worklink.config import Settings
    from worklink.db import NAMING_CONVENTION, platform_tables
    from worklink.web import create_service_app, service_context

    blp = Blueprint("things", __name__)

    @blp.route("/things")
    class Things(MethodView):
        @blp.response(200)
        def get(self):
            with service_context().database.transaction() as session:
                return {"count": session.execute(sa.select(sa.func.count()).select_from(support.things)).scalar()}

    @blp.route("/raise/<sqlstate>")
    class Raise(MethodView):
        @blp.response(200)
        def get(self, sqlstate):
            with service_context().database.transaction() as session:
                raise_sqlstate(session, sqlstate)

    settings = Settings.from_env("testsvc", {"WORKLINK_VAR": str(tmp_path), "TESTSVC_DATABASE_URL": url})
    app, api = create_service_app("testsvc", __name__, tables=platform_tables(
        sa.MetaData(naming_convention=NAMING_CONVENTION)), title="Test", description="Test", settings=settings)
    api.register_blueprint(blp)
    return app


def assert_unavailable(response) -> None:
    assert response.status_code == 503, response.data
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"] == "5"
    assert b"Traceback" not in response.data


def test_requests_while_the_database_is_away_are_503s_and_work_again_once_it_is_back(postgres_url, tmp_path):
    support.make_database(postgres_url).dispose()
    with proxied(postgres_url) as (proxy, url):
        client = database_app(tmp_path, url).test_client()
        assert client.get("/things").json == {"count": 0}  # the pool holds a connection
        with proxy.outage():
            assert_unavailable(client.get("/things"))  # the pooled connection is gone
            assert_unavailable(client.get("/things"))  # a new one is refused
        assert client.get("/things").json == {"count": 0}  # no restart


@pytest.mark.parametrize("sqlstate", ["25006", "40001", "42P01", "42703"])
def test_a_transient_database_error_is_a_503_to_try_again(postgres_url, tmp_path, sqlstate):
    assert_unavailable(database_app(tmp_path, postgres_url).test_client().get(f"/raise/{sqlstate}"))


def test_a_database_error_no_retry_mends_is_a_500_not_an_invitation_to_try_again(postgres_url, tmp_path):
    response = database_app(tmp_path, postgres_url).test_client().get("/raise/54000")
    assert response.status_code == 500, response.data
    assert response.mimetype == "application/problem+json"
    assert "Retry-After" not in response.headers


# --- the outbox relay ----------------------------------------------------------------------------------------


def relay_for(database, bootstrap: str):
    from worklink.config import KafkaSettings
    from worklink.messaging import kafka
    from worklink.messaging.outbox import OutboxRelay

    settings = KafkaSettings(bootstrap_servers=bootstrap)
    relay = OutboxRelay("test", database, support.TABLES, lambda: kafka.producer(settings, "test-relay"),
                        batch_size=50, flush_timeout=30)
    relay.max_backoff = 0.5
    return relay


def first_seqs_by_key(bootstrap: str, topic: str, expected: int) -> tuple[set[str], dict[str, list[int]]]:
    """The event ids on `topic`, and each key's seqs in the order they first arrived (as a consumer dropping
    copies sees them)."""
    seen, by_key = set(), {}
    for record in sorted(support.read_topic(bootstrap, topic, expected=expected), key=lambda r: r.offset):
        event = json.loads(record.value)
        if event["id"] not in seen:
            seen.add(event["id"])
            by_key.setdefault(event["data"]["thing_id"], []).append(event["data"]["seq"])
    return seen, by_key


def test_the_relay_waits_out_its_database_going_away_and_sends_everything_in_order(
        postgres_url, kafka_broker, new_topic):
    from worklink.messaging.outbox import Outbox

    topic, bootstrap = new_topic(), kafka_broker.bootstrap_servers
    direct = support.make_database(postgres_url)
    outbox, keys = Outbox("test", support.TABLES, support.catalogue(topic)), [str(support.new_id()) for _ in range(3)]
    with proxied(postgres_url) as (proxy, url):
        relay_database = Database(url)
        relay = relay_for(relay_database, bootstrap)
        with support.running(relay) as [worker]:
            ids = support.stage(direct, outbox, range(0, 30), keys)
            support.wait_for(lambda: relay.pending() == 0, 60, "the first events sent")
            with proxy.outage():
                ids += support.stage(direct, outbox, range(30, 60), keys)  # written while the relay is cut off
                time.sleep(3)
                assert worker.is_alive()
            support.wait_for(lambda: relay.pending() == 0, 60, "the events written during the outage sent")
            assert worker.is_alive()
        relay_database.dispose()
    sent, by_key = first_seqs_by_key(bootstrap, topic, 60)
    assert sent == set(ids)
    assert by_key == {key: list(range(keys.index(key), 60, 3)) for key in keys}
    direct.dispose()


def test_the_relay_outlasts_a_transient_error_marking_rows_sent(postgres_url, kafka_broker, new_topic):
    """A standby after a failover refuses the relay's UPDATE (25006, an InternalError to the driver): the relay
    retries; it does not stop with its rows sent to Kafka but not marked."""
    from worklink.messaging.outbox import Outbox

    topic, bootstrap = new_topic(), kafka_broker.bootstrap_servers
    database = support.make_database(postgres_url)
    with database.engine.begin() as conn:  # the server refuses the first three updates of the outbox
        conn.exec_driver_sql("CREATE SEQUENCE outbox_updates")
        conn.exec_driver_sql("""CREATE FUNCTION refuse_first_updates() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF nextval('outbox_updates') <= 3 THEN
                RAISE EXCEPTION 'cannot execute UPDATE in a read-only transaction' USING ERRCODE = '25006';
            END IF; RETURN NULL; END $$""")
        conn.exec_driver_sql("CREATE TRIGGER refuse_updates BEFORE UPDATE ON outbox "
                             "FOR EACH STATEMENT EXECUTE FUNCTION refuse_first_updates()")
    ids = support.stage(database, Outbox("test", support.TABLES, support.catalogue(topic)), range(5))
    relay = relay_for(database, bootstrap)
    with support.running(relay) as [worker]:
        support.wait_for(lambda: relay.pending() == 0 or not worker.is_alive(), 60, "the events marked sent")
        assert worker.is_alive(), "the relay stopped"
    sent, _ = first_seqs_by_key(bootstrap, topic, 5)
    assert sent == set(ids)
    database.dispose()


def test_a_batch_rewound_for_an_outage_dead_letters_its_malformed_record_once(postgres_url, kafka_broker, new_topic):
    """notifications' BatchingConsumer rewinds its whole batch for an outage: a malformed record in it is read
    again at every retry, and must not go to the dead-letter topic again each time."""
    topic, bootstrap = new_topic(), kafka_broker.bootstrap_servers
    database_for("batching", postgres_url).dispose()
    send(bootstrap, topic, b'{"specversion": "1.0", "id": ', thing_event(topic).to_json().encode())
    with proxied(postgres_url) as (proxy, url):
        database = Database(url)
        consumer = shared_or_batching("batching")(database, bootstrap, topic, f"g-{uuid.uuid4().hex}",
                                                  support.record_effect, backoff_max=0.2)
        try:
            with proxy.outage():
                deadline = time.monotonic() + 8
                while time.monotonic() < deadline:  # the batch read and rewound again and again
                    assert consumer.poll_once(timeout_ms=500) == []
            assert consume_until(consumer, 2, timeout=60) == [Outcome.DEAD_LETTERED, Outcome.HANDLED]
        finally:
            consumer.close()
        assert support.handled_seqs(database) == [1]
        database.dispose()
    assert len(dead_letters(bootstrap, topic, 1)) == 1


def test_a_postgresql_server_that_takes_the_connection_and_says_nothing_is_an_outage_in_good_time(monkeypatch):
    """libpq has no connect timeout of its own: a hung server (or a path dropping packets) blocked the request,
    consumer or relay connecting to it for as long as TCP kept trying, not a 503 or a retry."""
    import socket
    import time

    import worklink.db

    monkeypatch.setattr(worklink.db, "PG_CONNECT_TIMEOUT", 1)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # connections complete in the backlog; nothing ever answers them
    database = worklink.db.Database(f"postgresql+psycopg://worklink:secret@127.0.0.1:{silent.getsockname()[1]}/db")
    started = time.monotonic()
    try:
        with pytest.raises(sa.exc.OperationalError) as raised:
            with database.engine.connect():
                pass
        assert time.monotonic() - started < 5
        assert worklink.db.is_database_outage(raised.value)  # retried, never dead-lettered
    finally:
        database.dispose()
        silent.close()
