"""`worklink up`: the whole system on embedded defaults, started and stopped as a user would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from worklink.devstack import free_port, port_open
from worklink_directory import demo
from tests.platform.support import read_topic

SERVICES = ("directory", "adjustments", "referrals", "notifications")
pytestmark = pytest.mark.timeout(300)


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def start_up(env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "worklink.cli", "up"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def wait_for_line(process: subprocess.Popen, marker: str, timeout: float = 120) -> str:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"{marker!r} not printed; output:\n{''.join(seen)}")


def test_up_runs_everything_and_ctrl_c_stops_it(tmp_path):
    ports = {name: free_port() for name in SERVICES}
    broker_port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "PROMETHEUS_MULTIPROC_DIR")}
    env.update({f"{name.upper()}_PORT": str(port) for name, port in ports.items()})
    env.update({"KAFKA_PORT": str(broker_port), "WORKLINK_VAR": str(tmp_path / "var"), "WEB_CONCURRENCY": "1",
                "WORKLINK_ENV": "development"})
    first = start_up(env)
    try:
        banner = wait_for_line(first, "Press Ctrl-C")
        for name, port in ports.items():
            assert f"http://127.0.0.1:{port}" in banner
            assert get(f"http://127.0.0.1:{port}/healthz") == (200, {"status": "ok", "service": name})
            status, body = get(f"http://127.0.0.1:{port}/readyz")
            assert status == 200, body

        # Demo data was loaded: the directory lists its invented services.
        status, listing = get(f"http://127.0.0.1:{ports['directory']}/services?per_page=1")
        assert status == 200 and listing["total_items"] >= 200

        # The demo hangs together: the GP's demo referral reaches referrals through Kafka and is routed to one
        # of the demo directory's specialist employment adviser listings, whose advisers the seed names.
        routed_to, org, terms = _demo_referral_routing(env)
        assert terms == {uuid.UUID(demo.term_id("employment-advice")), uuid.UUID(demo.term_id("ips"))}, routed_to
        assert org == demo.organisation_id(demo.STAFF_DEMO_ORGANISATION)
        assert f"--role adviser --org {org}" in banner

        # The directory's outbox relay is running: an event staged in its database reaches the broker.
        published = _stage_directory_event(env)
        records = read_topic(f"127.0.0.1:{broker_port}", "directory.service", expected=1, timeout=60)
        assert published in [json.loads(r.value)["id"] for r in records]

        second = subprocess.run([sys.executable, "-m", "worklink.cli", "up"], env=env, capture_output=True,
                                text=True, timeout=60)
        assert second.returncode == 1
        assert "already running" in second.stderr

        first.send_signal(signal.SIGINT)
        assert first.wait(timeout=60) == 0
        rest = first.stdout.read()
        assert "stopped." in rest
        assert not any(port_open(port) for port in [*ports.values(), broker_port])
    finally:
        if first.poll() is None:
            first.kill()


def _demo_referral_routing(env: dict, timeout: float = 120) -> tuple[uuid.UUID | None, str | None, set[uuid.UUID]]:
    """The service the GP's demo referral (from adjustments) was routed to, once it is, its organisation and
    its taxonomy terms."""
    import sqlalchemy as sa

    from worklink.config import Settings
    from worklink.db import Database
    from worklink_referrals.models import Referral, RoutingServiceTerm

    database = Database(Settings.from_env("referrals", env).database_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            with database.transaction() as session:
                routed = session.execute(sa.select(Referral.service_id, Referral.assigned_org_id).where(
                    Referral.source == "adjustments", Referral.routing == "routed")).first()
                if routed is not None or time.monotonic() > deadline:
                    service_id, org = routed or (None, None)
                    return service_id, org and str(org), set(session.scalars(
                        sa.select(RoutingServiceTerm.term_id).where(RoutingServiceTerm.service_id == service_id)))
            time.sleep(1)
    finally:
        database.dispose()


def _stage_directory_event(env: dict) -> str:
    from worklink.config import Settings
    from worklink.db import Database
    from worklink.messaging.outbox import Outbox
    from worklink.events.contracts import CATALOGUE
    from worklink_directory.models import PLATFORM

    database = Database(Settings.from_env("directory", env).database_url)
    with database.transaction() as session:
        event_id = Outbox("directory", PLATFORM, CATALOGUE).publish(session, "directory.service.published", {
            "service_id": uuid.uuid4(), "organization_id": uuid.uuid4(),
            "published_at": datetime.now(timezone.utc)})
    database.dispose()
    return str(event_id)
