"""Test fixtures: a real Apache Kafka broker and a real PostgreSQL server.

Where they come from, in order:
1. KAFKA_BOOTSTRAP_SERVERS / WORKLINK_TEST_POSTGRES_URL when set (an external cluster);
2. testcontainers' Kafka and Postgres containers when a Docker engine answers;
3. otherwise local processes: Apache Kafka from Maven Central jars
   (deploy/kafka/kafka.sh) and Debian's PostgreSQL (deploy/postgres/ensure-postgres.sh).
CI has no Docker engine, so it always takes path 3.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("WORKLINK_DEPLOY_DIR", str(ROOT / "deploy"))
os.environ.setdefault("WORKLINK_TOPICS_FILE", str(ROOT / "deploy" / "topics.toml"))
os.environ.setdefault("WORKLINK_ENV", "test")


def docker_available() -> bool:
    if os.environ.get("WORKLINK_TEST_NO_DOCKER"):
        return False
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:  # noqa: BLE001 - no engine, no socket, no permission: all mean "no"
        return False


@dataclass
class Broker:
    bootstrap_servers: str
    kind: str  # external | container | local
    stop: Callable[[], None] | None = None
    start: Callable[[], None] | None = None


def _start_broker(data_dir: Path) -> tuple[Broker, Callable[[], None]]:
    if docker_available():
        from testcontainers.kafka import KafkaContainer

        container = KafkaContainer("confluentinc/cp-kafka:7.6.0").with_kraft().start()
        wrapped = container.get_wrapped_container()
        return (Broker(container.get_bootstrap_server(), "container", stop=wrapped.pause, start=wrapped.unpause),
                container.stop)
    from worklink.devstack.apache_kafka import LocalKafka

    kafka = LocalKafka(data_dir).start()
    return Broker(kafka.bootstrap_servers, "local", stop=kafka.stop, start=kafka.start), kafka.stop


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory) -> Broker:
    """The session's real Kafka broker (never stopped by tests)."""
    if servers := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield Broker(servers, "external")
        return
    broker, teardown = _start_broker(tmp_path_factory.mktemp("kafka"))
    yield broker
    teardown()


@pytest.fixture()
def restartable_kafka(tmp_path) -> Broker:
    """A broker of the test's own, which it may stop and start again."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        pytest.skip("cannot stop an external cluster; unset KAFKA_BOOTSTRAP_SERVERS to run this test")
    broker, teardown = _start_broker(tmp_path / "kafka")
    yield broker
    teardown()


@pytest.fixture(scope="session")
def kafka_settings(kafka_broker):
    from worklink.config import KafkaSettings

    return KafkaSettings(bootstrap_servers=kafka_broker.bootstrap_servers)


@pytest.fixture(scope="session")
def postgres_base_url() -> str:
    """Base URL (ending in '/') of a real PostgreSQL server we may create databases on."""
    if url := os.environ.get("WORKLINK_TEST_POSTGRES_URL"):
        yield url.rstrip("/") + "/"
        return
    if docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16", driver="psycopg") as pg:
            yield pg.get_connection_url().rsplit("/", 1)[0] + "/"
        return
    from worklink.devstack.postgres import ensure_local_postgres

    yield ensure_local_postgres()


@pytest.fixture()
def postgres_url(postgres_base_url) -> str:
    """A fresh, empty PostgreSQL database for one test."""
    from worklink.devstack.postgres import create_database, drop_database

    name = f"wl_test_{uuid.uuid4().hex[:12]}"
    yield create_database(postgres_base_url, name)
    drop_database(postgres_base_url, name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """Each test using this runs twice: on SQLite and on real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'service.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture()
def new_topic(kafka_settings) -> Callable[..., str]:
    """Create a uniquely named topic (and its .dlt) for one test."""
    from worklink.messaging.topics import TopicSpec, ensure_topics

    def create(partitions: int = 1, settings=None) -> str:
        name = f"test.{uuid.uuid4().hex[:10]}"
        spec = TopicSpec(name, partitions, 1, 3_600_000)
        dlt = TopicSpec(name + ".dlt", partitions, 1, 3_600_000)
        ensure_topics(settings or kafka_settings, [spec, dlt])
        return name

    return create


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (Debian's package; Playwright's own download does not work here)."""
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("WORKLINK_CHROMIUM", "/usr/bin/chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def _tab(browser, **context_options):
    context = browser.new_context(**context_options)
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    return context, tab


@pytest.fixture()
def page(browser):
    context, tab = _tab(browser)
    yield tab
    context.close()


@pytest.fixture()
def no_js_page(browser):
    """A tab with JavaScript off: every page must work without it (axe-core cannot run here)."""
    context, tab = _tab(browser, java_script_enabled=False)
    yield tab
    context.close()
