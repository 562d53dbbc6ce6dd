"""`worklink up` restarts a worker that is stuck, not only one that exited: each relay, consumer and job serves its
/healthz (worklink.heartbeat) on a loopback port of its own, which `up` asks; a worker still starting is left be.
Started, disturbed and stopped as a user's machine would."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request

import psutil
import pytest

from worklink import supervisor as supervisor_module
from worklink.supervisor import RESTART_LIMIT, STUCK_SECONDS, Child, Supervisor, worker_health

from tests.platform.support import read_topic
from tests.platform.test_up_watch import Up
from tests.test_up import _stage_directory_event

pytestmark = pytest.mark.timeout(300)


def test_up_restarts_a_relay_whose_loop_is_stuck_and_the_new_one_relays(tmp_path):
    # The first relay hangs in its first pass (a socket with no time-out, say), deaf to SIGTERM; its heartbeat goes
    # stale after 2 s. The one `up` starts instead works.
    hang = tmp_path / "hang-once"
    hang.mkdir()
    (hang / "sitecustomize.py").write_text(f"""
import os, sys, threading
if "relay" in sys.argv and not os.path.exists({str(tmp_path / "hung")!r}):
    os.environ["WORKLINK_HEARTBEAT_STALE_SECONDS"] = "2"
    from worklink.messaging.outbox import OutboxRelay

    def publish_pending(self):
        open({str(tmp_path / "hung")!r}, "w").close()
        threading.Event().wait()

    OutboxRelay.publish_pending = publish_pending
""")
    up = Up(tmp_path, "--only", "directory", "--no-seed", pythonpath=hang)
    try:
        up.wait_for("Press Ctrl-C to stop.")
        ports = _health_ports(up)
        assert set(ports) == {"directory-relay", "directory-consumer", "directory-review-due"}, up.output
        _wait_until(lambda: _health(ports["directory-relay"])[0] == 503, "the hung relay's /healthz is not a 503")
        hung = _worker_pids(up)["relay"]

        up.wait_for("directory-relay was stuck; restarting", timeout=120)
        stuck = next(line for line in up.lines if "directory-relay is stuck" in line)
        assert "its /healthz failing for 2" in stuck and ": 503, directory.relay has made no progress" in stuck, stuck
        assert "directory-relay did not stop within 10 s; killed" in up.output
        assert not psutil.pid_exists(hung) or psutil.Process(hung).status() == psutil.STATUS_ZOMBIE
        _wait_until(lambda: _worker_pids(up).get("relay") not in (None, hung), "no new relay")
        _wait_until(lambda: _health(ports["directory-relay"])[0] == 200, "the new relay is not healthy")

        published = _stage_directory_event(up.env)
        records = read_topic(f"127.0.0.1:{up.env['KAFKA_PORT']}", "directory.service", expected=1, timeout=60)
        assert published in [json.loads(record.value)["id"] for record in records]
        assert "directory-consumer" not in up.output.split("Press Ctrl-C to stop.")[1]  # only the stuck one
    finally:
        up.stop()


def test_up_leaves_healthy_workers_and_one_still_starting_alone(tmp_path):
    # A consumer slow to start (a loaded machine): it serves nothing for its first 30 s, checked meanwhile.
    slow = tmp_path / "slow-consumer"
    slow.mkdir()
    (slow / "sitecustomize.py").write_text("import sys, time\nif 'consume' in sys.argv:\n    time.sleep(30)\n")
    up = Up(tmp_path, "--only", "directory", "--no-seed", pythonpath=slow)
    try:
        up.wait_for("Press Ctrl-C to stop.")
        ports, pids = _health_ports(up), _worker_pids(up)
        assert _health(ports["directory-consumer"])[0] is None  # not answering yet
        _wait_until(lambda: all(_health(port)[0] == 200 for port in ports.values()),
                    "the workers are not all healthy", timeout=60)
        time.sleep(21)  # `up` has asked them twice more
        assert _worker_pids(up) == pids
        assert not up.output.split("Press Ctrl-C to stop.")[1].strip(), up.output[-4000:]  # nothing stuck, restarted
    finally:
        up.stop()


def _health_ports(up: Up) -> dict[str, int]:
    """Each worker's /healthz port, as `up` prints it."""
    return {match[1]: int(match[2]) for line in up.lines
            if (match := re.match(r"\s+(\S+)\s+http://127\.0\.0\.1:(\d+)/healthz$", line))}


def _health(port: int) -> tuple[int | None, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return None, {}


def _worker_pids(up: Up) -> dict[str, int]:
    return {command: child.pid for child in psutil.Process(up.process.pid).children()
            for command in ("relay", "consume") if command in child.cmdline()}


def _wait_until(condition, message: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.5)


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _stuck_again(supervisor: Supervisor, child: Child, clock: FakeClock, healthy_for: float) -> None:
    """`child` started now, beat for `healthy_for` s, then hung; `up` finds it stuck (its 503 says since when)."""
    child.started_at = clock.now
    clock.now += healthy_for
    child.progress_at = clock.now
    clock.now += 60 + STUCK_SECONDS  # its heartbeat's minimum allowance, then up's checks in a row
    child.unhealthy_since = clock.now - STUCK_SECONDS
    supervisor._restart_stuck(child, "503, directory.relay has made no progress", env={})


def test_a_worker_that_hangs_soon_after_every_start_is_a_crash_loop_and_one_that_ran_well_is_not(
        tmp_path, monkeypatch):
    # Each hang takes over a minute to show, so counting its run until `up` stopped it reset the count every time:
    # a relay hanging on the same record straight after each start was restarted every ~90 s, for ever.
    clock, starts = FakeClock(), []
    monkeypatch.setattr(supervisor_module.time, "monotonic", clock)
    monkeypatch.setattr(supervisor_module.time, "sleep", lambda seconds: None)
    supervisor = object.__new__(Supervisor)
    child = Child("directory-relay", ["true"], log_path=tmp_path / "relay.log")
    monkeypatch.setattr(child, "terminate", lambda grace: False)
    monkeypatch.setattr(child, "start", lambda env: starts.append(clock.now))

    for _ in range(RESTART_LIMIT):
        _stuck_again(supervisor, child, clock, healthy_for=5)
    assert len(starts) == RESTART_LIMIT
    with pytest.raises(SystemExit, match="directory-relay keeps getting stuck"):
        _stuck_again(supervisor, child, clock, healthy_for=5)

    # One that relayed for an hour before it hung (a broker gone quiet, say) starts a fresh count, each time.
    child.restarts = 0
    for _ in range(2 * RESTART_LIMIT):
        _stuck_again(supervisor, child, clock, healthy_for=3600)
    assert len(starts) == 3 * RESTART_LIMIT and child.restarts == 1


def test_worker_health_says_how_long_a_stuck_loop_has_made_no_progress(monkeypatch):
    from worklink.heartbeat import STALE_AFTER_SETTING, Heartbeat
    from worklink.workers import serve_worker_http

    monkeypatch.setenv(STALE_AFTER_SETTING, "60")
    clock = FakeClock()
    heartbeat = Heartbeat(clock)
    heartbeat.beat()
    server = serve_worker_http(0, "127.0.0.1", "directory.relay", heartbeat)
    port = server.server_address[1]
    try:
        assert worker_health(port) == (True, None, None)
        clock.now += 75.5
        answered, problem, stalled_for = worker_health(port)
        assert answered and problem.startswith("503, directory.relay has made no progress for 76 s")
        assert stalled_for == 75.5
    finally:
        server.shutdown()
        server.server_close()
