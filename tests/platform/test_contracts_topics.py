"""Topics against the catalogue and the services: one key per topic, one reader per restricted topic."""

from __future__ import annotations

from marshmallow import Schema, fields

from worklink.events.catalogue import Catalogue, EventType
from worklink.events.contracts import CATALOGUE
from worklink.messaging.topics import TopicSpec, check_catalogue, check_readers, load_topics
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
