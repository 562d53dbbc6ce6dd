"""The `worklink` command line, run as a user would run it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
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
