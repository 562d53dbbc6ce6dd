"""Least-privilege Kafka ACLs (worklink.messaging.acls): the plan from the real services' roles, and a
real Apache Kafka broker with SASL and the StandardAuthorizer enforcing it - a restricted topic is
read by its one reader and nobody else, and the real relay and consumer need nothing more."""

from __future__ import annotations

import secrets
import uuid

import pytest
from click.testing import CliRunner
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

from worklink.cli import main
from worklink.config import KafkaSettings
from worklink.devstack.apache_kafka import LocalKafka
from worklink.events.contracts import CATALOGUE
from worklink.messaging import acls, deadletters, kafka
from worklink.messaging.acls import AclPlanError, Grant, Role
from worklink.messaging.consumer import EventConsumer, Outcome, dlt_topic
from worklink.messaging.outbox import Outbox, OutboxRelay, wait_until_drained
from worklink.messaging.topics import TopicSpec, ensure_topics, load_topics
from tests.events import consume as consume_until
from tests.platform import support

pytestmark = pytest.mark.timeout(300)
REQUESTS = "adjustments.referral-requests"  # restricted: a person's details, read by referrals alone
PERSON_MESSAGES = "notifications.person-messages"
PARTITIONS = {spec.name: spec.partitions for spec in load_topics()}
USERS = ("admin", "adjustments", "referrals", "notifications", "directory", "worklink-operator", "producer",
         "consumer", "stranger")


def real_plan() -> list[Grant]:
    return acls.plan(CATALOGUE, load_topics(), acls.roles_of_installed_services())


def readers(grants: list[Grant], topic: str) -> set[str]:
    return {g.principal for g in grants if g.resource == "topic" and g.name == topic and g.operation == "read"}


def writers(grants: list[Grant], topic: str) -> set[str]:
    return {g.principal for g in grants if g.resource == "topic" and g.name == topic and g.operation == "write"}


# --- the plan -------------------------------------------------------------------------------------


def test_a_restricted_topic_is_read_by_its_one_declared_reader_and_written_by_its_publisher():
    grants = real_plan()
    assert readers(grants, REQUESTS) == {"User:referrals"}
    assert writers(grants, REQUESTS) == {"User:adjustments"}
    assert readers(grants, PERSON_MESSAGES) == {"User:notifications"}
    assert writers(grants, PERSON_MESSAGES) == {"User:referrals"}
    # A restricted topic's dead letters hold the same details: only the super user reads them back.
    assert readers(grants, dlt_topic(REQUESTS)) == set() and readers(grants, dlt_topic(PERSON_MESSAGES)) == set()
    assert writers(grants, dlt_topic(REQUESTS)) == {"User:referrals"}


def test_each_service_writes_exactly_what_it_publishes_and_reads_exactly_what_it_handles():
    grants = real_plan()
    for name, role in acls.roles_of_installed_services().items():
        who = f"User:{name}"
        published = {CATALOGUE.latest(t).topic for t in role.publishes}
        handled = {CATALOGUE.latest(t).topic for t in role.handles}
        mine = [g for g in grants if g.principal == who]
        assert {g.name for g in mine if g.operation == "write"} == published | {dlt_topic(t) for t in handled}, name
        assert {g.name for g in mine if g.operation == "read" and g.resource == "topic"} == handled, name
        assert {g.name for g in mine if g.resource == "group"} == ({role.group} if handled else set()), name


def test_the_operator_redrives_broadcast_dead_letters_only():
    operator = [g for g in real_plan() if g.principal == acls.DEFAULT_OPERATOR]
    restricted = {s.name for s in load_topics() if s.restricted}
    broadcast = {s.name for s in load_topics() if not s.restricted and not s.name.endswith(".dlt")}
    assert {g.name for g in operator if g.operation == "read"} == broadcast | {dlt_topic(t) for t in broadcast}
    assert {g.name for g in operator if g.operation == "write"} == broadcast | {dlt_topic(t) for t in broadcast}
    assert not {g.name for g in operator} & restricted


def test_a_second_reader_of_a_restricted_topic_is_refused():
    roles = acls.roles_of_installed_services()
    roles["notifications"] = Role(roles["notifications"].publishes,
                                  (*roles["notifications"].handles, "adjustments.referral.requested"),
                                  roles["notifications"].group)
    with pytest.raises(AclPlanError, match=REQUESTS):
        acls.plan(CATALOGUE, load_topics(), roles)


# --- enforced by a real broker ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def secured_kafka(tmp_path_factory):
    broker = LocalKafka(tmp_path_factory.mktemp("secured-kafka"),
                        sasl_users={user: secrets.token_hex(8) for user in USERS})
    broker.start()
    yield broker
    broker.stop()


def as_user(broker: LocalKafka, user: str) -> KafkaSettings:
    return KafkaSettings(broker.bootstrap_servers, security=broker.security(user))


@pytest.fixture(scope="module")
def planned(secured_kafka):
    admin = kafka.admin(as_user(secured_kafka, "admin"))
    ensure_topics(as_user(secured_kafka, "admin"), load_topics())
    created, removed = acls.apply(admin, real_plan())
    yield admin, created, removed
    admin.close()


def test_applying_the_plan_is_idempotent_and_prune_removes_what_it_no_longer_has(secured_kafka, planned):
    admin, created, removed = planned
    assert set(created) == set(real_plan()) and removed == []
    assert acls.apply(admin, real_plan()) == ([], [])
    stray = Grant("User:notifications", "topic", REQUESTS, "read")  # granted by hand, by mistake
    assert acls.apply(admin, [*real_plan(), stray]) == ([stray], [])
    assert stray in acls.existing(admin, {"User:notifications"})
    assert acls.apply(admin, real_plan()) == ([], [])  # without --prune a stray grant stays
    assert acls.apply(admin, real_plan(), prune=True) == ([], [stray])
    assert acls.existing(admin, {"User:notifications"}) == {g for g in real_plan() if g.principal ==
                                                             "User:notifications"}


def test_the_restricted_topic_reaches_its_reader_and_nobody_else(secured_kafka, planned):
    body = uuid.uuid4().hex.encode()
    producer = kafka.producer(as_user(secured_kafka, "adjustments"), "adjustments-relay")
    producer.send(REQUESTS, value=body, key=b"k").get(30)
    producer.close()

    assert body in read_as(secured_kafka, "referrals", REQUESTS, "worklink.referrals")
    with pytest.raises(TopicAuthorizationFailedError):
        read_as(secured_kafka, "notifications", REQUESTS, "worklink.notifications")
    with pytest.raises(GroupAuthorizationFailedError):  # borrowing the reader's group
        read_as(secured_kafka, "notifications", PERSON_MESSAGES, "worklink.referrals")
    with pytest.raises(TopicAuthorizationFailedError):
        read_as(secured_kafka, "worklink-operator", dlt_topic(REQUESTS))
    assert read_as(secured_kafka, "worklink-operator", dlt_topic("referrals.referral")) == []  # broadcast: allowed


@pytest.mark.parametrize("user, topic", [("referrals", REQUESTS), ("directory", "referrals.referral"),
                                         ("stranger", "directory.service")])
def test_a_service_cannot_publish_on_another_services_topic(secured_kafka, planned, user, topic):
    producer = kafka.producer(as_user(secured_kafka, user), f"{user}-relay", max_block_ms=5_000)
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            producer.send(topic, value=b"forged", key=b"k").get(30)
    finally:
        producer.close(timeout=5)


def test_the_real_relay_and_consumer_need_nothing_beyond_their_grants(secured_kafka, planned, tmp_path):
    """A publisher's outbox relay, and a reader's consumer dead-lettering what it cannot read, each
    connected as its own principal with only the plan's grants."""
    admin, topic = planned[0], f"acl-test-{uuid.uuid4().hex[:8]}"
    spec = TopicSpec(topic, 1, 1, 3_600_000)  # broadcast: the operator may re-drive its dead letters
    admin.create_topics([NewTopic(topic, 1, 1), NewTopic(dlt_topic(topic), 1, 1)])
    catalogue = support.catalogue(topic)
    grants = acls.plan(catalogue, [spec], {
        "producer": Role(("test.thing.happened",), (), "g.producer"),
        "consumer": Role((), ("test.thing.happened",), f"g.consumer.{topic}")})
    acls.apply(admin, grants)

    database = support.make_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with database.transaction() as session:
        Outbox("test", support.TABLES, catalogue).publish(
            session, "test.thing.happened", {"thing_id": support.new_id(), "seq": 1})
    relay = OutboxRelay("test", database, support.TABLES,
                        lambda: kafka.producer(as_user(secured_kafka, "producer"), "producer-relay"),
                        batch_size=10, flush_timeout=30)
    wait_until_drained(relay)
    relay.close()
    forged = kafka.producer(as_user(secured_kafka, "admin"), "admin")  # a malformed record, by someone else
    forged.send(topic, value=b"{not json", key=b"k").get(30)
    forged.close()

    handled = []
    consumer = EventConsumer(
        group_id=f"g.consumer.{topic}", database=database, tables=support.TABLES, catalogue=catalogue,
        handlers={"test.thing.happened": lambda session, event: handled.append(event.data["seq"])},
        consumer_factory=lambda: kafka.consumer(as_user(secured_kafka, "consumer"), f"g.consumer.{topic}",
                                                "consumer", session_timeout_ms=6000, heartbeat_interval_ms=1000),
        producer_factory=lambda: kafka.producer(as_user(secured_kafka, "consumer"), "consumer-dlt"),
        backoff_base=0.05)
    try:
        assert consume_until(consumer, 2) == [Outcome.HANDLED, Outcome.DEAD_LETTERED]
    finally:
        consumer.close()
    assert handled == [1]
    assert read_as(secured_kafka, "admin", dlt_topic(topic)) == [b"{not json"]

    # The operator lists the dead letters and puts them back (`worklink dlt`), with the plan's grants alone.
    operator = as_user(secured_kafka, "worklink-operator")
    found = deadletters.inspect(operator, dlt_topic(topic))
    assert [(letter.reason, found.is_redriven(letter)) for letter in found.letters] == [("malformed", False)]
    env = {"KAFKA_BOOTSTRAP_SERVERS": secured_kafka.bootstrap_servers, "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
           "KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "worklink-operator",
           "KAFKA_SASL_PASSWORD": secured_kafka.sasl_users["worklink-operator"], "WORKLINK_OPERATOR": "ops-1"}
    result = CliRunner().invoke(main, ["dlt", "redrive", dlt_topic(topic), "--yes"], env=env)
    assert result.exit_code == 0, result.output
    again = deadletters.inspect(operator, dlt_topic(topic))
    assert [again.is_redriven(letter) for letter in again.letters] == [True]  # it reads the copy on the topic
    assert [receipt.get("operator") for receipt in again.receipts] == ["ops-1"]  # and wrote the receipt


def read_as(broker: LocalKafka, user: str, topic: str, group: str | None = None) -> list[bytes]:
    """Every record of `topic` as `user` (committing in `group`, if given: that needs the group's READ).
    kafka-python raises the broker's authorization errors when a group is used; without one an
    unauthorized topic just has no partitions (the broker hides it)."""
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS.get(topic, 1))]
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap_servers, group_id=group, enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=3000, **broker.security(user))
    try:
        if group is None and not consumer.partitions_for_topic(topic):
            raise TopicAuthorizationFailedError(f"{user} cannot see {topic}")
        consumer.assign(partitions)
        values = [record.value for record in consumer]
        if group is not None:
            consumer.commit()
        return values
    finally:
        consumer.close()


def test_the_command_applies_the_plan_as_the_super_user_from_the_environment(secured_kafka, planned):
    admin = planned[0]
    acls.apply(admin, [Grant("User:directory", "topic", REQUESTS, "read")])  # a stray grant to prune
    env = {"KAFKA_BOOTSTRAP_SERVERS": secured_kafka.bootstrap_servers, "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
           "KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "admin",
           "KAFKA_SASL_PASSWORD": secured_kafka.sasl_users["admin"]}
    result = CliRunner().invoke(main, ["kafka-acls", "--apply", "--prune"], env=env)
    assert result.exit_code == 0, result.output
    assert f"removed  {Grant('User:directory', 'topic', REQUESTS, 'read')}" in result.output
    assert f"{len(real_plan())} grants planned: 0 created" in result.output  # (other tests' operator grants are pruned too)
    refused = CliRunner().invoke(main, ["kafka-acls", "--apply"], env={**env, "KAFKA_SASL_USERNAME": "directory",
                                                                       "KAFKA_SASL_PASSWORD":
                                                                           secured_kafka.sasl_users["directory"]})
    assert refused.exit_code == 1, refused.output
    assert "ClusterAuthorizationFailed" in refused.output  # only the super user manages ACLs
