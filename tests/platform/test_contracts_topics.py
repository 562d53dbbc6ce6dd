"""Topics against the catalogue and the services: one key per topic, one reader per restricted topic."""

from __future__ import annotations

import re

from marshmallow import Schema, fields

from worklink.events.catalogue import Catalogue, EventType
from worklink.events.contracts import CATALOGUE
from worklink.messaging.topics import TopicSpec, check_catalogue, check_readers, find_topics_file, load_topics
from worklink.service import installed_services


def _handlers() -> dict[str, list[str]]:
    return {spec.group_id: list(spec.handlers) for spec in installed_services().values()}


def test_each_restricted_topic_is_read_by_its_declared_reader_alone():
    assert check_readers(CATALOGUE, load_topics(), _handlers()) == []


def test_a_second_reader_of_a_restricted_topic_is_caught():
    handlers = _handlers() | {"worklink.directory": ["notifications.person_messages.revoked"]}
    assert check_readers(CATALOGUE, load_topics(), handlers) == [
        "restricted topic 'notifications.person-messages' is read by ['worklink.directory', "
        "'worklink.notifications'], declared reader 'worklink.notifications'"]
    unread = {group: types for group, types in _handlers().items() if group != "worklink.referrals"}
    assert check_readers(CATALOGUE, load_topics(), unread) == [
        "restricted topic 'adjustments.referral-requests' is read by no group, declared reader 'worklink.referrals'"]


class A(Schema):
    a_id = fields.UUID(required=True)
    b_id = fields.UUID(required=True)


def test_events_on_one_topic_share_their_key():
    """A withdrawal keyed otherwise than its request could overtake it on another partition."""
    mixed = Catalogue([EventType("x.a.requested", 1, A, "x.a", "a_id", ""),
                       EventType("x.a.withdrawn", 1, A, "x.a", "b_id", "")])
    assert check_catalogue(mixed, [TopicSpec("x.a", 1, 1, 1000)]) == [
        "topic 'x.a' carries events keyed by different fields (a_id, b_id): "
        "one aggregate's events must share a key to stay in order"]
    assert check_catalogue(CATALOGUE, load_topics()) == []


def test_topics_are_named_for_their_owner_and_every_declared_topic_is_used():
    services = set(installed_services())
    used = {entry.topic for entry in CATALOGUE}
    for spec in load_topics():
        base = spec.name.removesuffix(".dlt")
        owner, _, rest = base.partition(".")
        assert owner in services and rest and rest.replace("-", "").isalpha(), spec.name
        assert base in used, f"{spec.name} is declared but no event travels on it"
        for entry in CATALOGUE:
            if entry.topic == base:
                assert entry.type.startswith(owner + "."), (entry.type, base)


def test_a_restricted_topic_and_its_dead_letters_keep_a_person_briefly(tmp_path):
    """A restricted topic's dead letters hold the same details as the topic: one that left dlt_retention_ms out
    kept them the default 30 days, and only the topic itself was checked (by a test, never by `worklink topics`)."""
    declared = find_topics_file().read_text()
    restricted = [spec.name for spec in load_topics() if spec.restricted and not spec.name.endswith(".dlt")]
    assert restricted == ["adjustments.referral-requests", "notifications.person-messages"]
    topics = tmp_path / "topics.toml"
    topics.write_text(re.sub(r"^dlt_retention_ms = 604800000 .*$", "", declared, flags=re.M))  # their 7 days
    assert check_catalogue(CATALOGUE, load_topics(topics)) == [
        f"restricted topic '{name}.dlt' keeps records 2592000000 ms: a person's details are kept at most 7 days "
        "(dlt_retention_ms too)" for name in restricted]
    assert check_catalogue(CATALOGUE, load_topics()) == []
