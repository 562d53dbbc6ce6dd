"""A service's web process as deployed (gunicorn with worklink.gunicorn_conf, production settings): its log is
JSON lines with no query string in them, and SIGTERM lets a request in flight finish before it exits."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NHS_NUMBER = "9434765919"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(port: int, path: str, timeout: float = 10) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@pytest.fixture()
def served(tmp_path):
    port, log = free_port(), tmp_path / "stderr.log"
    env = {**os.environ, "WORKLINK_ENV": "production", "WORKLINK_VAR": str(tmp_path), "HOME": str(tmp_path),
           "WORKLINK_JWT_SECRET": "s" * 40, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
           "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT", "DIRECTORY_GEOCODER_URL": "https://127.0.0.1:1",
           "DIRECTORY_DATABASE_URL": f"sqlite:///{tmp_path / 'directory.db'}", "TMPDIR": str(tmp_path)}
    with log.open("w") as stderr:
        env.pop("XDG_RUNTIME_DIR", None)
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:worklink.gunicorn_conf",
                                   "--bind", f"127.0.0.1:{port}", "tests.platform.deployed_app:app"],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                get(port, "/healthz")
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, log.read_text()[-2000:]
                time.sleep(0.2)
        yield server, port, log
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_the_log_is_json_lines_without_the_query_string(served):
    server, port, log = served
    get(port, f"/services?nhs_number={NHS_NUMBER}")
    server.send_signal(signal.SIGTERM)
    server.wait(30)
    lines = log.read_text().splitlines()
    assert lines and all(json.loads(line) for line in lines)
    assert any(json.loads(line).get("path") == "/services" for line in lines)
    assert not [line for line in lines if NHS_NUMBER in line], "a URL's query string reached the log"
    assert not (log.parent / ".gunicorn").exists(), "a control socket every service on the machine shares"


def test_the_metrics_directory_it_made_goes_when_it_stops(served):
    server, port, log = served
    get(port, "/healthz")
    [made] = log.parent.glob("worklink-metrics-*")  # TMPDIR is the test's own directory
    assert any(made.iterdir())  # the workers' metrics files
    server.send_signal(signal.SIGTERM)
    server.wait(30)
    assert not made.exists(), "each start left a worklink-metrics-* directory behind"


def test_sigterm_lets_a_request_in_flight_finish(served):
    server, port, log = served
    answered: list[int] = []
    request = threading.Thread(target=lambda: answered.append(get(port, "/slow", timeout=30)))
    request.start()
    time.sleep(1)  # the request is being handled
    stopped_at = time.monotonic()
    server.send_signal(signal.SIGTERM)
    request.join(30)
    assert answered == [200]
    assert server.wait(30) == 0
    assert time.monotonic() - stopped_at < 20  # worklink.gunicorn_conf's graceful_timeout
    with pytest.raises(OSError):
        get(port, "/healthz", timeout=2)


def test_gunicorn_started_on_the_app_directly_refuses_a_missing_setting_as_worklink_serve_does(tmp_path):
    env = {**os.environ, "WORKLINK_ENV": "production", "WORKLINK_VAR": str(tmp_path),
           "WORKLINK_JWT_SECRET": "s" * 40, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
           "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT", "DIRECTORY_DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"}
    env.pop("DIRECTORY_GEOCODER_URL", None)
    result = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "python:worklink.gunicorn_conf", "--bind",
                             f"127.0.0.1:{free_port()}", "worklink_directory.app:create_app()"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "DIRECTORY_GEOCODER_URL" in result.stderr, result.stderr[-2000:]


def test_kafka_clients_repeating_themselves_do_not_flood_the_log():
    """A consumer waiting for a topic another service has not created yet: kafka-python says so twice a second."""
    script = """
import logging
from worklink.logs import configure_logging
configure_logging("directory.consumer")
for _ in range(20):
    logging.getLogger("kafka.cluster").error("Topic referrals.capacity not found in cluster metadata")
for _ in range(3):
    logging.getLogger("worklink.messaging.consumer").warning("broker unavailable; consumer waiting")
"""
    lines = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                           cwd=ROOT).stderr.splitlines()
    messages = [json.loads(line)["msg"] for line in lines]
    assert messages.count("Topic referrals.capacity not found in cluster metadata") == 1
    assert messages.count("broker unavailable; consumer waiting") == 3  # ours are never thinned
