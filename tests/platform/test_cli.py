"""The `worklink` command line, run as a user would run it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import jwt
from kafka import KafkaAdminClient

from worklink.config import DEV_JWT_SECRET

WORKLINK = shutil.which("worklink", path=str(Path(sys.executable).parent)) or "worklink"


def run(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([WORKLINK, *args], capture_output=True, text=True, timeout=120,
                            env={**os.environ, **(env or {})})
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_token_mints_a_development_token_with_the_claims_asked_for():
    token = run("token", "--role", "adviser", "--org", "org-42", "--sub", "ada").stdout.strip()
    claims = jwt.decode(token, DEV_JWT_SECRET, algorithms=["HS256"], audience="worklink")
    assert (claims["sub"], claims["role"], claims["org"]) == ("ada", "adviser", "org-42")
    assert "name" not in claims and "org_name" not in claims
    named = run("token", "--role", "gp", "--org", "p1", "--name", "Dr Rosa Wu", "--org-name", "Riverside Surgery")
    claims = jwt.decode(named.stdout.strip(), DEV_JWT_SECRET, algorithms=["HS256"], audience="worklink")
    assert (claims["name"], claims["org_name"]) == ("Dr Rosa Wu", "Riverside Surgery")
    for role in ("gp", "adviser", "org_admin"):  # every service would refuse their token without one (worklink.auth)
        no_org = run("token", "--role", role, check=False)
        assert no_org.returncode != 0 and f"--role {role} needs --org <id>" in no_org.stderr and not no_org.stdout
    for role in ("resident", "alliance_admin"):
        assert "org" not in jwt.decode(run("token", "--role", role).stdout.strip(), DEV_JWT_SECRET,
                                       algorithms=["HS256"], audience="worklink")
    refused = run("token", "--role", "wizard", check=False)
    assert refused.returncode != 0 and "wizard" in refused.stderr
    production = run("token", "--role", "gp", check=False, env={"WORKLINK_ENV": "production"})
    assert production.returncode == 1 and "disabled in production" in production.stderr
    assert "Traceback" not in production.stderr


def test_topics_creates_every_declared_topic_and_its_dead_letter_topic(kafka_broker):
    from worklink.messaging.topics import load_topics

    output = run("topics", env={"KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers}).stdout
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
    described = {(t.get("name") or t.get("topic")): len(t["partitions"]) for t in admin.describe_topics()}
    admin.close()
    for spec in load_topics():
        assert described.get(spec.name) == spec.partitions, spec.name
        assert spec.name in output
    again = run("topics", env={"KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers}).stdout
    assert "created" not in again  # idempotent


def test_asyncapi_writes_the_document(tmp_path):
    out = tmp_path / "asyncapi.json"
    run("asyncapi", "--output", str(out))
    document = json.loads(out.read_text())
    assert document["asyncapi"] == "3.0.0"
    assert "directory_service" in document["channels"]


def test_db_upgrade_migrates_every_service_database(tmp_path):
    output = run("db", "upgrade", env={"WORKLINK_VAR": str(tmp_path)}).stdout
    for name in ("directory", "adjustments", "referrals", "notifications"):
        assert (tmp_path / f"{name}.db").is_file()
        assert name in output


def test_topics_corrects_the_configs_of_a_restricted_topic_that_already_exists(kafka_broker):
    """A restricted topic created elsewhere (auto-created, a platform team's, or declared
    tighter since) with a week's retention, compaction and the default segment age is put
    right by `worklink topics`, which says what it changed; a second run changes nothing."""
    from kafka.admin import ConfigResource, ConfigResourceType

    from worklink.messaging.topics import load_topics

    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers}
    run("topics", env=env)
    declared = {spec.name: spec for spec in load_topics()}["notifications.person-messages"]
    assert declared.restricted and declared.segment_ms <= declared.retention_ms
    topic = ConfigResource(ConfigResourceType.TOPIC, declared.name)
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
    try:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, declared.name, configs={
            "retention.ms": "604800000", "cleanup.policy": "compact", "segment.ms": "604800000"})])
        verify = run("topics", "--verify", env=env, check=False)
        assert verify.returncode == 1 and "differ" in verify.stderr
        assert f"{declared.name} " in verify.stdout and "retention.ms 604800000 -> " in verify.stdout
        output = run("topics", env=env).stdout
        line = next(line for line in output.splitlines() if line.startswith(declared.name + " "))
        assert f"retention.ms 604800000 -> {declared.retention_ms}" in line
        assert "cleanup.policy compact -> delete" in line
        assert f"segment.ms 604800000 -> {declared.segment_ms}" in line
        live = admin.describe_configs([topic], config_filter="all")["topic"][declared.name]
        assert live["retention.ms"]["value"] == str(declared.retention_ms)
        assert live["cleanup.policy"]["value"] == "delete"
        assert live["segment.ms"]["value"] == str(declared.segment_ms)
    finally:
        admin.close()
    assert "->" not in run("topics", env=env).stdout  # nothing left to correct
    assert "as declared" in run("topics", "--verify", env=env).stdout


def test_a_restricted_topic_without_a_short_segment_age_is_refused():
    from worklink.events.contracts import CATALOGUE
    from worklink.messaging.topics import check_catalogue, load_topics

    specs = load_topics()
    assert check_catalogue(CATALOGUE, specs) == []
    loose = [replace(spec, segment_ms=None) if spec.name == "notifications.person-messages" else spec
             for spec in specs]
    assert check_catalogue(CATALOGUE, loose) == [
        "restricted topic 'notifications.person-messages' must declare segment_ms no longer than its retention, "
        "or its records outlive the retention by up to a segment's age"]


def test_topics_grow_partitions_only_when_asked(kafka_broker, new_topic):
    """Growing a keyed topic moves keys to other partitions, where a later event (a consent
    withdrawal) can overtake an earlier one (its request): never done by the way."""
    from worklink.config import KafkaSettings
    from worklink.messaging.topics import TopicSpec, ensure_topics, topic_drift

    settings = KafkaSettings(kafka_broker.bootstrap_servers)
    name = new_topic(partitions=1)
    wider = [TopicSpec(name, 2, 1, 3_600_000)]
    assert "not grown" in ensure_topics(settings, wider)[name]
    assert topic_drift(settings, wider) == {name: "partitions 1 (declared 2)"}
    assert ensure_topics(settings, wider, grow_partitions=True)[name] == "partitions 1 -> 2"
    assert topic_drift(settings, wider) == {}
