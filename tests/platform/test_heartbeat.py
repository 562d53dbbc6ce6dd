"""Worker liveness: a relay, consumer or job whose loop is stuck answers 503 on /healthz (worklink.heartbeat).

A stuck loop (a hung socket, a deadlock, a database call with no timeout) still served /metrics from its own thread,
and the image's HEALTHCHECK asked only that: it looked healthy, and nothing restarted it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa

from worklink.config import ConfigError
from worklink.db import Database
from worklink.heartbeat import HEARTBEAT, STALE_AFTER_SETTING, Heartbeat, healthz, stale_after
from worklink.retention import erase_in_batches
from worklink.workers import run_periodically, serve_worker_http

from tests.platform import support

ROOT = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(port: int) -> tuple[int, str, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status, response.headers["Content-Type"], json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], json.loads(exc.read())


def wait_for_status(port: int, status: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while (answer := get(port))[0] != status:
        assert time.monotonic() < deadline, f"/healthz still {answer} after {timeout} s, not {status}"
        time.sleep(0.05)
    return answer[2]


# --- the threshold ------------------------------------------------------------------------------------------------

def test_a_loop_is_stale_after_three_of_its_iterations_and_never_sooner_than_a_minute_unless_told():
    assert stale_after(0.1, {}) == 60  # a relay polling ten times a second is not stuck after 0.3 s
    assert stale_after(65, {}) == 195  # a relay's pass may take its flush time-out
    assert stale_after(3600, {}) == 10800  # an hourly sweep's run
    assert stale_after(3600, {STALE_AFTER_SETTING: "90"}) == 90  # the operator's word
    assert stale_after(0.1, {STALE_AFTER_SETTING: " "}) == 60
    for bad in ("0", "-5", "soon", "nan", "inf"):
        with pytest.raises(ConfigError, match=STALE_AFTER_SETTING):
            stale_after(1, {STALE_AFTER_SETTING: bad})


def test_a_beat_is_fresh_until_the_allowance_and_a_wait_it_announces_are_over(monkeypatch):
    monkeypatch.delenv(STALE_AFTER_SETTING, raising=False)
    clock = Clock()
    heartbeat = Heartbeat(clock)
    heartbeat.expect(30)  # iterations of up to 30 s: stuck after 90 s without a beat
    clock.now += 90
    assert heartbeat.alive() and heartbeat.age() == 90
    clock.now += 0.1
    assert not heartbeat.alive()
    heartbeat.beat()
    assert heartbeat.alive() and heartbeat.age() == 0
    heartbeat.beat(waiting=300)  # backing off through an outage, on purpose: alive while it waits
    clock.now += 389
    assert heartbeat.alive() and heartbeat.limit() == 390
    clock.now += 2
    assert not heartbeat.alive()
    heartbeat.beat()  # the wait is over: the next beat allows the loop's own cadence again
    assert heartbeat.limit() == 90


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_a_long_batched_pass_beats_as_each_batch_commits(dialect, tmp_path, request, monkeypatch):
    """A first retention pass over years of rows (or a clock pass over thousands of referrals) outlasts a job's
    allowance while doing exactly its work: each committed batch counts as progress, so it is not restarted."""
    monkeypatch.delenv(STALE_AFTER_SETTING, raising=False)
    clock = Clock()
    monkeypatch.setattr(HEARTBEAT, "clock", clock)
    HEARTBEAT.expect(10)  # stuck after 60 s without a beat
    database = Database(f"sqlite:///{tmp_path / 'jobs.db'}" if dialect == "sqlite" else
                        request.getfixturevalue("postgres_url"))
    left, ages = [5], []

    def erase_batch(session, limit: int) -> int:  # each batch takes 50 s of the fake clock
        ages.append(HEARTBEAT.age())
        session.execute(sa.text("SELECT 1"))
        clock.now += 50
        left[0] -= 1
        return limit if left[0] > 0 else 0

    try:
        assert erase_in_batches(database, erase_batch, limit=10) == 40
    finally:
        database.dispose()
    assert ages == [0] * 5 and HEARTBEAT.age() == 0 and HEARTBEAT.alive()  # 250 s in all, never 50 s unbeaten


def test_healthz_answers_as_the_web_healthz_does_ok_or_a_problem(monkeypatch):
    monkeypatch.delenv(STALE_AFTER_SETTING, raising=False)
    clock = Clock()
    heartbeat = Heartbeat(clock)
    heartbeat.expect(1)
    status, content_type, body = healthz(heartbeat, "directory.relay")
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body) == {"status": "ok", "process": "directory.relay", "last_beat_seconds_ago": 0,
                                "stale_after_seconds": 60}
    clock.now += 61
    status, content_type, body = healthz(heartbeat, "directory.relay")
    assert (status, content_type) == (503, "application/problem+json")
    problem = json.loads(body)
    assert problem["type"].endswith("/unavailable") and problem["status"] == 503 and problem["instance"] == "/healthz"
    assert problem["last_beat_seconds_ago"] == 61 and "directory.relay" in problem["detail"]


# --- a loop that stops beating, in this process -------------------------------------------------------------------

@pytest.fixture
def worker_http(monkeypatch):
    """The worker's metrics server for HEARTBEAT, stale after 1 s without a beat."""
    monkeypatch.setenv(STALE_AFTER_SETTING, "1")
    port = free_port()
    server = serve_worker_http(port, "127.0.0.1", "test.worker", HEARTBEAT)
    yield port
    server.shutdown()
    server.server_close()


class HangingKafkaConsumer:
    """Polls as an idle consumer does (nothing, after the poll's time-out) until `hang` is set: then its poll
    blocks, as on a socket that never answers, until `release` is set."""

    def __init__(self):
        self.hang, self.release, self.hung = threading.Event(), threading.Event(), threading.Event()

    def subscribe(self, topics):
        pass

    def poll(self, timeout_ms, **_):
        if self.hang.is_set():
            self.hung.set()
            self.release.wait(30)
            self.hang.clear()
        time.sleep(timeout_ms / 1000)
        return {}

    def assignment(self):
        return set()

    def close(self, autocommit=True):
        pass


def test_a_consumer_whose_poll_hangs_is_unhealthy_until_it_polls_again(worker_http, tmp_path):
    from worklink.messaging.consumer import EventConsumer

    kafka = HangingKafkaConsumer()
    consumer = EventConsumer(group_id="g", database=support.make_database(f"sqlite:///{tmp_path / 'db.sqlite'}"),
                             tables=support.TABLES, catalogue=support.catalogue("t"),
                             handlers={"test.thing.happened": support.record_effect},
                             consumer_factory=lambda: kafka, producer_factory=lambda: None)
    with support.running(consumer):
        time.sleep(2)  # idle polls, each of 0.5 s, past the 1 s allowance: they beat
        assert get(worker_http)[:2] == (200, "application/json")
        kafka.hang.set()
        assert kafka.hung.wait(5)
        problem = wait_for_status(worker_http, 503, timeout=5)
        assert problem["process"] == "test.worker" and problem["last_beat_seconds_ago"] > 1
        with urllib.request.urlopen(f"http://127.0.0.1:{worker_http}/metrics", timeout=5) as metrics:
            text = metrics.read().decode()  # still answered: alone, it said nothing of the loop
        age = next(float(line.split()[-1]) for line in text.splitlines()
                   if line.startswith("worklink_worker_heartbeat_age_seconds "))
        assert age > 1
        kafka.release.set()
        wait_for_status(worker_http, 200, timeout=5)


def test_a_relay_stuck_in_a_pass_is_unhealthy_until_it_goes_round_again(worker_http, tmp_path, monkeypatch):
    from worklink.messaging.outbox import OutboxRelay, RelayStats

    relay = OutboxRelay("test", support.make_database(f"sqlite:///{tmp_path / 'db.sqlite'}"), support.TABLES,
                        producer_factory=lambda: None)
    stuck, passes = threading.Event(), []
    publish_pending = relay.publish_pending

    def a_pass_that_hangs_once() -> RelayStats:  # as a database call with no time-out would
        passes.append(1)
        if len(passes) == 20:
            stuck.wait(30)
        return publish_pending()

    monkeypatch.setattr(relay, "publish_pending", a_pass_that_hangs_once)
    with support.running(relay):
        time.sleep(1.5)  # idle passes, ten a second, each beats: 1.5 s with no rows is healthy
        assert len(passes) >= 10 and get(worker_http)[0] == 200
        problem = wait_for_status(worker_http, 503, timeout=5)
        assert len(passes) == 20 and problem["last_beat_seconds_ago"] > 1
        stuck.set()
        wait_for_status(worker_http, 200, timeout=5)


def test_a_periodic_job_stuck_in_a_run_is_unhealthy_and_one_waiting_out_failures_is_not(worker_http):
    stop, stuck, runs = threading.Event(), threading.Event(), []

    def task():
        runs.append(time.monotonic())
        if len(runs) <= 2:
            raise RuntimeError("the database is away")  # tried again after 1.5 s, then 3 s
        if len(runs) == 3:
            stuck.wait(30)  # a call that never returns

    job = threading.Thread(target=run_periodically, args=(stop, 5, task), kwargs={"retry_after": 1.5})
    job.start()
    try:
        deadline = time.monotonic() + 10
        while len(runs) < 3:  # the backoff after each failure: announced, so healthy throughout
            assert get(worker_http)[0] == 200, "a job waiting out an outage is reported stuck"
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert runs[2] - runs[1] > 2.5  # 1.5 s, then 3 s: both longer than the 1 s allowance
        wait_for_status(worker_http, 503, timeout=5)
        stuck.set()
        wait_for_status(worker_http, 200, timeout=5)
    finally:
        stuck.set()
        stop.set()
        job.join(10)


def test_the_image_healthcheck_asks_a_workers_healthz_and_fails_a_stuck_one(worker_http):
    """entrypoint.sh health on a worker container (its first process no gunicorn): /metrics answered 200 for a
    worker stuck for good."""
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"],
           "WORKLINK_HEALTH_PID": str(os.getpid()), "METRICS_PORT": str(worker_http)}

    def health() -> int:
        return subprocess.run(["sh", str(ROOT / "deploy/docker/entrypoint.sh"), "health"], capture_output=True,
                              env=env, timeout=30).returncode

    HEARTBEAT.expect(0)
    assert health() == 0
    time.sleep(1.2)  # nothing beats
    assert get(worker_http)[0] == 503
    assert health() != 0, "a worker stuck for good is reported healthy"
    HEARTBEAT.beat()
    assert health() == 0


# --- real worker processes ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def migrated_directory(tmp_path_factory):
    var = tmp_path_factory.mktemp("var")
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"],
           "WORKLINK_ENV": "development", "WORKLINK_VAR": str(var), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
           "DIRECTORY_DATABASE_URL": f"sqlite:///{var / 'directory.db'}"}
    env.pop(STALE_AFTER_SETTING, None)
    subprocess.run([str(Path(sys.executable).parent / "worklink"), "db", "upgrade", "-s", "directory"], env=env,
                   check=True, capture_output=True, timeout=120)
    return env


@pytest.mark.parametrize("command, process, stale_after_seconds", [
    (["relay"], "directory.relay", "2"),  # polls its outbox ten times a second: a beat each time
    (["job", "review-due"], "directory.review-due", "2"),  # ran, and announced the hour it waits for the next run
    # Waits out the broker (127.0.0.1:1 never answers): each try may take its 10 s bootstrap, so its own allowance.
    (["consume"], "directory.consumer", None),
])
def test_a_running_worker_process_answers_healthz_ok_while_its_loop_goes_round(migrated_directory, command, process,
                                                                               stale_after_seconds):
    port = free_port()
    env = {**migrated_directory, **({STALE_AFTER_SETTING: stale_after_seconds} if stale_after_seconds else {})}
    worker = subprocess.Popen([str(Path(sys.executable).parent / "worklink"), *command, "-s", "directory",
                               "--metrics-port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert worker.poll() is None, worker.stderr.read().decode()[-2000:]
            try:
                answer = get(port)
                break
            except OSError:
                assert time.monotonic() < deadline, "the worker never served /healthz"
                time.sleep(0.2)
        seen = [answer]
        until = time.monotonic() + 6  # three times the allowance the first two are given
        while time.monotonic() < until:
            time.sleep(0.25)
            seen.append(get(port))
        assert worker.poll() is None, worker.stderr.read().decode()[-2000:]
        assert {(status, content_type) for status, content_type, _ in seen} == {(200, "application/json")}, seen
        assert {(body["status"], body["process"]) for *_, body in seen} == {("ok", process)}
    finally:
        worker.terminate()
        worker.wait(30)
