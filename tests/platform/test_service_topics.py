"""`worklink topics -s <service>`: a partner running one service creates only the topics it publishes (and
their dead letters) on the alliance's cluster, and checks that those it reads exist; on a real broker."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from worklink.config import KafkaSettings
from worklink.events.contracts import CATALOGUE
from worklink.messaging import kafka
from worklink.messaging.topics import load_topics, service_topics
from worklink.service import get_service

WORKLINK = shutil.which("worklink", path=str(Path(sys.executable).parent)) or "worklink"


def topics(servers: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([WORKLINK, "topics", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": servers})


def on_broker(servers: str) -> set[str]:
    client = kafka.admin(KafkaSettings(servers))
    try:
        return {name for name in client.list_topics() if not name.startswith("__")}
    finally:
        client.close()


def test_a_service_creates_its_own_topics_only_and_verifies_what_it_reads(restartable_kafka):
    servers = restartable_kafka.bootstrap_servers
    directory = topics(servers, "-s", "directory")
    assert directory.returncode == 0, directory.stderr
    assert on_broker(servers) == {"directory.service", "directory.service.dlt",
                                  "directory.user-sessions", "directory.user-sessions.dlt"}
    assert "referrals.capacity  " in directory.stdout and "read by directory: missing" in directory.stdout

    not_yet = topics(servers, "-s", "directory", "--verify")
    assert not_yet.returncode == 1 and "referrals.capacity " in not_yet.stdout, not_yet.stdout + not_yet.stderr
    for publisher in ("referrals", "adjustments", "notifications"):
        assert topics(servers, "-s", publisher).returncode == 0
    ready = topics(servers, "-s", "directory", "--verify")
    assert ready.returncode == 0, ready.stdout + ready.stderr
    assert on_broker(servers) == {spec.name for spec in load_topics()}


def test_every_declared_topic_has_one_publishing_service_to_create_it():
    owners: dict[str, list[str]] = {}
    for name in ("directory", "adjustments", "referrals", "notifications"):
        spec = get_service(name)
        own, _ = service_topics(CATALOGUE, load_topics(), spec.publishes, spec.handlers)
        for topic in own:
            owners.setdefault(topic.name, []).append(name)
    assert {topic: names for topic, names in owners.items() if len(names) != 1} == {}
    assert set(owners) == {spec.name for spec in load_topics()}


def test_a_partner_plans_its_own_services_acls_alone_and_a_wrong_reader_is_still_refused():
    """A service's image installs it alone: `worklink kafka-acls` there refused, as nobody in its plan read the
    other services' restricted topics."""
    import pytest

    from worklink.messaging import acls

    roles = acls.roles_of_installed_services()
    for name, role in roles.items():
        grants = acls.plan(CATALOGUE, load_topics(), {name: role}, operator=None)
        assert {grant.principal for grant in grants} == {f"User:{name}"}
    referrals = acls.plan(CATALOGUE, load_topics(), {"referrals": roles["referrals"]}, operator=None)
    assert acls.Grant("User:referrals", "topic", "adjustments.referral-requests", "read") in referrals
    nosy = acls.Role(publishes=(), handles=("adjustments.referral.requested",), group="worklink.directory")
    with pytest.raises(acls.AclPlanError, match="adjustments.referral-requests"):
        acls.plan(CATALOGUE, load_topics(), {"directory": nosy}, operator=None)
