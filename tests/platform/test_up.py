"""`worklink up`, what the README's run command (`./dev up`) starts: every service's web app,
relay, consumer and jobs on the embedded broker and SQLite, with demo data. Started, checked
and stopped as a user would, so the run command stays true after every change."""

from __future__ import annotations

import os
import shutil
import signal
import smtplib
import subprocess
import sys
import threading
import time
import urllib.request
from email.message import EmailMessage
from pathlib import Path

import pytest

from worklink.devstack import free_port
from worklink.service import installed_services

pytestmark = pytest.mark.timeout(420)

WORKLINK = shutil.which("worklink", path=str(Path(sys.executable).parent)) or "worklink"


def _environment(tmp_path: Path, ports: dict[str, int]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()  # a fresh machine: no test broker, databases or metrics dir
           if not k.endswith("_DATABASE_URL") and k not in ("KAFKA_BOOTSTRAP_SERVERS", "PROMETHEUS_MULTIPROC_DIR")}
    env.update({f"{name.upper()}_PORT": str(port) for name, port in ports.items()})
    env.update({
        "WORKLINK_VAR": str(tmp_path / "var"), "WORKLINK_ENV": "development", "KAFKA_PORT": str(free_port()),
        "NOTIFICATIONS_DIGEST_HOUR": "0",  # digests are due at once, whatever the time of day
        "NOTIFICATIONS_SMTP_PORT": str(free_port()),  # where `up` runs its development mail server
    })
    return env


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status


def _send_mail(port: int) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@worklink.invalid", "b@worklink.invalid", "hello"
    message.set_content("kept by the development mail server")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(message)


def test_up_runs_every_service_healthy_on_embedded_defaults_with_a_mail_server_and_stops_cleanly(tmp_path):
    ports = {name: free_port() for name in installed_services()}
    env = _environment(tmp_path, ports)
    process = subprocess.Popen([WORKLINK, "up"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 300
        while not any("Press Ctrl-C to stop." in line for line in lines):
            assert process.poll() is None, "".join(lines)[-4000:]
            assert time.monotonic() < deadline, "not running after 300 s:\n" + "".join(lines)[-4000:]
            time.sleep(0.5)
        for name, port in ports.items():
            assert _get(f"http://127.0.0.1:{port}/healthz") == 200, name
            assert _get(f"http://127.0.0.1:{port}/readyz") == 200, name  # its database and the broker
        assert _get(f"http://127.0.0.1:{ports['directory']}/services?search=debt") == 200  # demo data, searched
        _send_mail(int(env["NOTIFICATIONS_SMTP_PORT"]))
        kept = [p.read_bytes() for p in (tmp_path / "var" / "mail").glob("*.eml")]  # the demo's own emails too
        assert sum(b"Subject: hello" in message for message in kept) == 1
        settle = time.monotonic() + 15  # the relays, consumers and jobs keep running: none exits
        while time.monotonic() < settle:
            assert process.poll() is None and not [line for line in lines if "exited with" in line], \
                "".join(lines)[-4000:]
            time.sleep(0.5)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        returncode = process.wait(120)
        reader.join(10)
    output = "".join(lines)
    assert returncode == 0, output[-4000:]
    assert "stopped." in output
