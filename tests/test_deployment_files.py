"""docker-compose.yml and the Dockerfile stay in step with the services (CI has no Docker engine to run them)."""

from __future__ import annotations

from pathlib import Path

import yaml

from worklink.service import installed_services

ROOT = Path(__file__).resolve().parents[1]


def test_compose_runs_web_relay_and_consumer_per_service_each_with_only_its_own_database():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name, spec in installed_services().items():
        for role, command in ((name, None), (f"{name}-relay", ["relay"]), (f"{name}-consumer", ["consume"])):
            container = compose[role]
            assert container.get("command") == command, role
            assert container["build"]["args"]["SERVICE"] == name
            urls = {k for k in container["environment"] if k.endswith("_DATABASE_URL")}
            assert urls == {f"{name.upper()}_DATABASE_URL"}, f"{role} can see another service's database"
            assert container["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert compose[name]["ports"] == [f"{spec.default_port}:8000"]
        for job in spec.jobs:
            assert compose[f"{name}-{job}"]["command"] == ["job", job], f"no container runs {name}'s {job} job"
    assert compose["topics"]["command"] == ["worklink", "topics"]
    mail_host = compose["notifications-deliver"]["environment"]["NOTIFICATIONS_SMTP_HOST"]
    assert mail_host in compose, "notifications sends email to a server compose does not run"
    init = (ROOT / "deploy/postgres/init-databases.sql").read_text()
    assert all(f"worklink_{name}" in init for name in installed_services())


def test_dockerfile_installs_the_shared_library_and_one_service():
    dockerfile = (ROOT / "deploy/docker/Dockerfile").read_text()
    assert "COPY shared /app/shared" in dockerfile
    assert "COPY services/${SERVICE}" in dockerfile
    assert "deploy/topics.toml" in dockerfile


def test_compose_gives_each_service_its_own_database_role():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    init = (ROOT / "deploy/postgres/init-databases.sql").read_text()
    for name in installed_services():
        url = compose[name]["environment"][f"{name.upper()}_DATABASE_URL"]
        assert url.startswith(f"postgresql+psycopg://worklink_{name}:"), url
        assert url.endswith(f"/worklink_{name}")
        assert f"CREATE DATABASE worklink_{name} OWNER worklink_{name};" in init
        assert f"REVOKE CONNECT, TEMPORARY ON DATABASE worklink_{name} FROM PUBLIC;" in init


def test_compose_runs_the_kafka_version_the_tests_run():
    """The broker a user starts with Docker is the release CI tests against (deploy/kafka/pom.xml)."""
    import re
    pom_version = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", (ROOT / "deploy/kafka/pom.xml").read_text())
    image = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["kafka"]["image"]
    assert image == f"apache/kafka:{pom_version.group(1)}"
