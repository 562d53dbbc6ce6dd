"""`worklink up` watches the embedded broker as it watches its children, and starts the development mail server
before the workers that send to it. Started, disturbed and stopped as a user's machine would."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa

from worklink.config import Settings
from worklink.db import Database
from worklink.devstack import free_port
from tests.platform.support import read_topic
from tests.test_up import _stage_directory_event

pytestmark = pytest.mark.timeout(300)

WORKLINK = shutil.which("worklink", path=str(Path(sys.executable).parent)) or "worklink"


class Up:
    """`worklink up` with its own var/, ports and mail port, its output collected line by line."""

    def __init__(self, tmp_path: Path, *args: str, pythonpath: Path | None = None):
        env = {k: v for k, v in os.environ.items()  # a fresh machine: no test broker, databases or metrics dir
               if not k.endswith("_DATABASE_URL") and k not in ("KAFKA_BOOTSTRAP_SERVERS", "PROMETHEUS_MULTIPROC_DIR")}
        env.update({f"{name}_PORT": str(free_port())
                    for name in ("DIRECTORY", "ADJUSTMENTS", "REFERRALS", "NOTIFICATIONS", "KAFKA")})
        env.update({"WORKLINK_VAR": str(tmp_path / "var"), "WORKLINK_ENV": "development", "WEB_CONCURRENCY": "1",
                    "NOTIFICATIONS_SMTP_PORT": str(free_port())})
        if pythonpath:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
        self.env, self.lines = env, []
        self.process = subprocess.Popen([WORKLINK, "up", *args], env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True)
        self._reader.start()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert self.process.poll() is None, self.output[-4000:]
            assert time.monotonic() < deadline, f"{text!r} not printed:\n{self.output[-4000:]}"
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        returncode = self.process.wait(120)
        self._reader.join(10)
        assert returncode == 0, self.output[-4000:]


def test_up_restarts_the_embedded_broker_and_what_was_published_while_it_was_down_reaches_the_new_one(tmp_path):
    up = Up(tmp_path, "--only", "directory", "--no-seed")
    try:
        up.wait_for("Press Ctrl-C to stop.")
        bootstrap = f"127.0.0.1:{up.env['KAFKA_PORT']}"
        before = _stage_directory_event(up.env)  # the relay's producer is known to the broker that dies
        assert before in _event_ids(read_topic(bootstrap, "directory.service", expected=1, timeout=90))
        [broker] = [p for p in psutil.Process(up.process.pid).children() if "tansu" in p.name()]
        clients = _kafka_clients(up)
        assert set(clients) == {"relay", "consume"}
        broker.kill()
        broker.wait(10)
        published = _stage_directory_event(up.env)  # while it is down: it waits in the outbox
        up.wait_for("the broker is back on", timeout=60)
        assert _event_ids(read_topic(bootstrap, "directory.service", expected=1, timeout=90)) == [published]
        # The same relay and consumer carry on with the empty broker: the consumer handles an event relayed now.
        announced = _stage_sign_out_everywhere(up.env)
        _wait_until_handled(up.env, announced)
        assert _kafka_clients(up) == clients  # not restarted: each renews what the new broker does not know
        assert "the embedded broker exited; restarting it (1/5)" in up.output
        assert "stayed in the outboxes and is relayed now" in up.output
        assert (tmp_path / "var" / "logs" / "broker.log").exists()  # its output outlives it
    finally:
        up.stop()
    assert "stopped." in up.output


def test_up_starts_the_development_mail_server_before_the_worker_so_the_first_emails_need_no_retry(
        tmp_path, monkeypatch):
    monkeypatch.setenv("NOTIFICATIONS_DIGEST_HOUR", "0")  # the digest goes too, whatever the hour the test runs
    # A mail server slow to start (a loaded machine): its process sleeps before it runs the job.
    slow = tmp_path / "slow-mail-sink"
    slow.mkdir()
    (slow / "sitecustomize.py").write_text(
        "import sys, time\nif sys.argv[-1:] == ['mail-sink']:\n    time.sleep(4)\n")
    up = Up(tmp_path, "--only", "notifications", pythonpath=slow)  # the demo queues e-mails, due at once
    try:
        up.wait_for("Press Ctrl-C to stop.")
        attempts = _email_attempts(up.env)
        assert attempts and {outcome for _, outcome, _ in attempts} == {"sent"}, attempts
        assert any(detail and detail.startswith("in digest ") for _, _, detail in attempts), attempts
        # The demo's digest items share one e-mail: count messages, not items.
        messages = {detail if detail and detail.startswith("in digest ") else delivery
                    for delivery, _, detail in attempts}
        assert len(list((tmp_path / "var" / "mail").glob("*.eml"))) == len(messages), attempts
    finally:
        up.stop()


def _kafka_clients(up: Up) -> dict[str, int]:
    """The relay's and the consumer's process ids, by command."""
    children = psutil.Process(up.process.pid).children()
    return {command: child.pid for child in children for command in ("relay", "consume")
            if command in child.cmdline()}


def _stage_sign_out_everywhere(env: dict) -> str:
    """A sign-out everywhere announced by the directory, which its own consumer handles too."""
    from worklink.events.contracts import CATALOGUE
    from worklink.messaging.outbox import Outbox
    from worklink_directory.models import PLATFORM

    reference = uuid.uuid4().hex * 2
    database = Database(Settings.from_env("directory", env).database_url)
    try:
        with database.transaction() as session:
            return str(Outbox("directory", PLATFORM, CATALOGUE).publish(session, "directory.user_sessions.ended", {
                "user_reference": reference, "ended_at": datetime.now(timezone.utc),
                "user_key": uuid.UUID(hex=reference[:32])}))
    finally:
        database.dispose()


def _wait_until_handled(env: dict, event_id: str, timeout: float = 120) -> None:
    from worklink.messaging.consumer import dedup_key
    from worklink_directory.models import PLATFORM

    processed, key = PLATFORM.processed_events, dedup_key("urn:worklink:directory", event_id)
    database = Database(Settings.from_env("directory", env).database_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            with database.transaction() as session:
                if session.scalar(sa.select(processed.c.event_id).where(processed.c.event_id == key)):
                    return
            assert time.monotonic() < deadline, f"the directory's consumer did not handle {event_id}"
            time.sleep(0.5)
    finally:
        database.dispose()


def _event_ids(records) -> list[str]:
    return [json.loads(record.value)["id"] for record in records]


def _email_attempts(env: dict, timeout: float = 60) -> list[tuple]:
    """Every attempt at the demo's e-mails once none is still waiting, digest items included (each one's id,
    outcome and detail)."""
    from worklink_notifications.models import Delivery, DeliveryAttempt

    database = Database(Settings.from_env("notifications", env).database_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            with database.transaction() as session:
                waiting = session.scalar(sa.select(sa.func.count()).select_from(Delivery).where(
                    Delivery.channel == "email", Delivery.status.in_(("pending", "retrying", "digest"))))
                if not waiting or time.monotonic() > deadline:
                    return [tuple(row) for row in session.execute(
                        sa.select(DeliveryAttempt.delivery_id, DeliveryAttempt.outcome, DeliveryAttempt.detail)
                        .join(Delivery).where(Delivery.channel == "email"))]
            time.sleep(0.5)
    finally:
        database.dispose()
