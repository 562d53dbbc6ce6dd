"""`worklink up`: the whole system on one machine, on embedded defaults.

Starts a broker (in-memory tansu by default, a local Apache Kafka with
`--broker kafka`, or KAFKA_BOOTSTRAP_SERVERS), creates the topics, migrates each
service's SQLite database, then runs every service's gunicorn, outbox relay and
consumer, and each service's jobs and development jobs (DEV_JOBS, such as a local
mail server), as child processes. Ctrl-C (or SIGTERM) stops them all, in reverse order.

The development jobs start first, and the rest once each is ready, so a worker's first message finds the
local mail server listening. Every child, and the broker `up` started, is restarted with backoff when it
exits; a worker (relay, consumer, job) also when it is stuck: each serves its /healthz (worklink.heartbeat) on a
loopback port of its own, which `up` asks every HEALTH_CHECK_SECONDS. The logs under var/logs are rotated by size
and the development mail is pruned (devstack.housekeeping).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from worklink.config import Settings
from worklink.devstack import free_port, housekeeping, port_open
from worklink.service import ServiceSpec, installed_services

RESTART_LIMIT = 5  # exits in a row, each soon after its start: a crash loop, so `up` stops
HEALTHY_SECONDS = 60.0  # a child that ran this long before exiting starts a fresh count
DEV_READY_SECONDS = 30.0  # the longest `up` waits for a development job to say it is ready
HOUSEKEEPING_SECONDS = 30.0  # how often the logs are rotated and the development mail pruned
BROKER_CHECK_SECONDS = 2.0  # how often `up` checks that the broker it started is still running
HEALTH_CHECK_SECONDS = 10.0  # how often `up` asks each worker's /healthz
HEALTH_TIMEOUT_SECONDS = 2.0  # a /healthz that takes longer counts as unanswered
STUCK_SECONDS = 20.0  # a worker whose /healthz is a 503, or unanswered, this long (3 checks in a row) is restarted
START_GRACE_SECONDS = 60.0  # a worker not answering yet this soon after its start is still starting
STOP_GRACE_SECONDS = 10.0  # a stuck worker's time to stop on SIGTERM before it is killed
_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a developer's HTTP proxy


@dataclass(kw_only=True)
class Restarts:
    """A watched process's exits, counted to tell a crash loop from an exit after a healthy run."""

    restarts: int = 0
    started_at: float = field(default=0.0)

    def backoff_seconds(self) -> float:
        return min(2 ** self.restarts, 10)

    def exited_in_a_crash_loop(self, now: float | None = None) -> bool:
        """Count this exit; True once it has exited RESTART_LIMIT times in a row soon after starting.

        An exit after a healthy run (an outage that outlasted a process's patience, one bad
        night) starts the count afresh, so outages spread over days never add up to a stop."""
        ran = (time.monotonic() if now is None else now) - self.started_at
        if ran >= HEALTHY_SECONDS:
            self.restarts = 0
        return self.restarts >= RESTART_LIMIT


@dataclass
class Child(Restarts):
    name: str
    argv: list[str]
    log_path: Path
    health_port: int | None = None  # a worker's metrics port, where it answers /healthz
    process: subprocess.Popen | None = None
    log_size_at_start: int = 0
    unhealthy_since: float | None = None  # the first of the checks in a row its /healthz failed
    progress_at: float | None = None  # when its loop last beat, as its failing /healthz tells it

    def start(self, env: dict[str, str]) -> None:
        # Appending (O_APPEND), so that the rotation may empty the file under the child (housekeeping.rotate_log).
        with self.log_path.open("ab") as log:
            self.log_size_at_start = self.log_path.stat().st_size
            self.process = subprocess.Popen(self.argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        self.started_at = time.monotonic()
        self.unhealthy_since = self.progress_at = None

    def has_logged_or_exited(self) -> bool:
        return self.process.poll() is not None or self.log_path.stat().st_size > self.log_size_at_start

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()

    def terminate(self, grace: float) -> bool:
        """SIGTERM, then SIGKILL once `grace` seconds have passed; True when it had to be killed."""
        self.process.terminate()
        try:
            self.process.wait(grace)
            return False
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return True

    def wait(self, timeout: float) -> None:
        if not self.process:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class AlreadyRunning(RuntimeError):
    pass


class Supervisor:
    def __init__(self, broker: str | None = None, only: list[str] | None = None, seed: bool = True):
        self.seed = seed
        self.var = Path(os.environ.get("WORKLINK_VAR", "var")).resolve()
        self.broker_mode = broker or ("external" if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") else "embedded")
        services = installed_services()
        unknown = set(only or []) - set(services)
        if unknown:
            raise SystemExit(f"unknown services: {', '.join(sorted(unknown))} (have: {', '.join(services)})")
        self.services = [spec for name, spec in services.items() if not only or name in only]
        self.children: list[Child] = []
        self.broker = None
        self.broker_restarts = Restarts()
        self._next_broker_check = self._next_housekeeping = self._next_health_check = 0.0
        self._stopping = False
        self._lock_file = None
        self._health_ports: set[int] = set()

    # --- entry point -------------------------------------------------------------

    def run(self) -> int:
        self.var.mkdir(parents=True, exist_ok=True)
        (self.var / "logs").mkdir(exist_ok=True)
        try:
            self._take_lock()
        except AlreadyRunning as exc:
            print(exc, file=sys.stderr)
            return 1
        signal.signal(signal.SIGINT, self._request_stop)
        signal.signal(signal.SIGTERM, self._request_stop)
        try:
            self._check_ports()
            self._keep_var_bounded()  # what earlier runs left
            bootstrap = self._start_broker()
            env = self._child_env(bootstrap)
            self._prepare(env)
            self._start_children(env)
            self._wait_healthy()
            self._print_summary(bootstrap)
            return self._watch(env)
        except SystemExit as exc:
            print(f"worklink up: {exc}", file=sys.stderr)
            return 1
        finally:
            self._shutdown()

    # --- steps ---------------------------------------------------------------------

    def _take_lock(self) -> None:
        pid_path = self.var / "worklink-up.pid"
        self._lock_file = (self.var / "worklink-up.lock").open("a")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = pid_path.read_text().strip() if pid_path.exists() else "unknown"
            raise AlreadyRunning(
                f"WorkLink is already running from {self.var} (pid {pid}). "
                f"Stop it with Ctrl-C in its terminal or `kill {pid}`, or set WORKLINK_VAR to run another copy."
            ) from None
        pid_path.write_text(str(os.getpid()))

    def port(self, spec: ServiceSpec) -> int:
        return int(os.environ.get(f"{spec.name.upper()}_PORT", spec.default_port))

    @property
    def broker_port(self) -> int:
        return int(os.environ.get("KAFKA_PORT", 9092))

    def _check_ports(self) -> None:
        wanted = {spec.name: self.port(spec) for spec in self.services}
        if self.broker_mode != "external":
            wanted["broker"] = self.broker_port
        busy = [f"{name} (:{port})" for name, port in wanted.items() if port_open(port)]
        if busy:
            raise SystemExit(f"ports already in use: {', '.join(busy)}. Free them or set "
                             "<SERVICE>_PORT / KAFKA_PORT to other ports.")

    def _start_broker(self) -> str:
        if self.broker_mode == "external":
            return os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
        if self.broker_mode == "kafka":
            from worklink.devstack.apache_kafka import LocalKafka
            self.broker = LocalKafka(self.var / "kafka", port=self.broker_port,
                                     log_path=self.var / "logs" / "broker.log")  # rotated with the others
        else:
            from worklink.devstack.tansu import EmbeddedBroker
            self.broker = EmbeddedBroker(port=self.broker_port, log_path=self.var / "logs" / "broker.log")
        print(f"starting {self.broker_mode} broker on 127.0.0.1:{self.broker_port} ...", flush=True)
        self.broker.start()
        self.broker_restarts.started_at = time.monotonic()
        return self.broker.bootstrap_servers

    def _child_env(self, bootstrap: str) -> dict[str, str]:
        env = dict(os.environ)
        env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
        env["WORKLINK_VAR"] = str(self.var)
        env["METRICS_BIND"] = "127.0.0.1"  # the workers' metrics and /healthz: for `up` (and the developer) alone
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        if self.seed:  # the demo data hangs together: e.g. referrals route to the demo's employment advisers
            for spec in installed_services().values():
                for name, value in spec.demo_settings.items():
                    env.setdefault(name, value)
        return env

    def _prepare(self, env: dict[str, str]) -> None:
        from worklink.migrations import upgrade_service_database

        self._create_topics(env)
        for spec in self.services:
            upgrade_service_database(spec.migrations_dir, Settings.from_env(spec.name, env))
            if self.seed:  # idempotent: a second `up` adds nothing
                print(f"  {spec.name:14} {spec.seed(Settings.from_env(spec.name, env)) or 'no demo data'}", flush=True)

    def _create_topics(self, env: dict[str, str]) -> None:
        from worklink.events.contracts import CATALOGUE
        from worklink.messaging.topics import check_catalogue, ensure_topics, load_topics

        specs = load_topics()
        problems = check_catalogue(CATALOGUE, specs)
        if problems:
            raise SystemExit("; ".join(problems))
        ensure_topics(Settings.from_env("platform", env).kafka, specs)

    def _start_children(self, env: dict[str, str]) -> None:
        """The development jobs (a local mail server) first, and the rest once each is ready: a delivery worker
        started alongside sent the demo's first e-mails before the mail server listened, and waited out a retry."""
        infrastructure = [self._job(spec, job) for spec in self.services for job in spec.dev_jobs]
        self.children += infrastructure  # stopped last, after everything that uses them
        for child in infrastructure:
            child.start(env)
        self._wait_until_ready(infrastructure)
        workers = [child for spec in self.services for child in self._service_children(spec)]
        self.children += workers
        for child in workers:
            child.start(env)

    def _service_children(self, spec: ServiceSpec) -> list[Child]:
        cli, logs = [sys.executable, "-m", "worklink.cli"], self.var / "logs"
        return [
            self._worker(f"{spec.name}-relay", ["relay", "-s", spec.name]),
            self._worker(f"{spec.name}-consumer", ["consume", "-s", spec.name]),
            Child(f"{spec.name}-web", cli + ["serve", "-s", spec.name, "-b", f"127.0.0.1:{self.port(spec)}"],
                  logs / f"{spec.name}-web.log"),
            *[self._job(spec, job) for job in spec.jobs],
        ]

    def _job(self, spec: ServiceSpec, job: str) -> Child:
        return self._worker(f"{spec.name}-{job}", ["job", "-s", spec.name], job)

    def _worker(self, name: str, command: list[str], *arguments: str) -> Child:
        """A relay, consumer or job, serving its /healthz on a free loopback port (kept across its restarts)."""
        port = self._free_port()
        return Child(name, [sys.executable, "-m", "worklink.cli", *command, "--metrics-port", str(port), *arguments],
                     self.var / "logs" / f"{name}.log", health_port=port)

    def _free_port(self) -> int:
        """A free port that none of the ports `up` was told to use (free until their processes start) could be."""
        taken = {self.port(spec) for spec in installed_services().values()} | {self.broker_port}
        taken |= self._health_ports
        taken |= {int(value) for name, value in os.environ.items() if name.endswith("_PORT") and value.isdigit()}
        while (port := free_port()) in taken:
            pass
        self._health_ports.add(port)
        return port

    def _wait_until_ready(self, children: list[Child], timeout: float = DEV_READY_SECONDS) -> None:
        """Until each development job has logged a line since it started - it does once it serves (the mail
        server once it listens), or to say why it serves nothing - or has exited (the watch restarts it)."""
        deadline = time.monotonic() + timeout
        pending = list(children)
        while pending and time.monotonic() < deadline and not self._stopping:
            pending = [child for child in pending if not child.has_logged_or_exited()]
            time.sleep(0.1)
        if pending:
            print(f"not ready after {timeout:.0f}s, starting the rest anyway: "
                  f"{', '.join(child.name for child in pending)}", file=sys.stderr, flush=True)

    def _wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        pending = {spec.name: self.port(spec) for spec in self.services}
        while pending and time.monotonic() < deadline and not self._stopping:
            for name, port in list(pending.items()):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                        if response.status == 200:
                            del pending[name]
                except OSError:
                    pass
            self._reap()
            time.sleep(0.3)
        if pending and not self._stopping:
            raise SystemExit(f"not healthy after {timeout}s: {', '.join(pending)}; see {self.var / 'logs'}")

    def _print_summary(self, bootstrap: str) -> None:
        print("\nWorkLink is running:\n")
        for spec in self.services:
            base = f"http://127.0.0.1:{self.port(spec)}"
            print(f"  {spec.name:14} {base}   (API docs {base}/docs)")
        print(f"  {'broker':14} {bootstrap}   ({self.broker_mode})")
        workers = [child for child in self.children if child.health_port]
        width = max((len(child.name) for child in workers), default=0)
        print("\n  workers' health (one found stuck is restarted):")
        for child in workers:
            print(f"  {child.name:{width}} http://127.0.0.1:{child.health_port}/healthz")
        print(f"\n  databases and logs in {self.var}")
        print("  development token: worklink token --role gp --org <organisation-id>")
        print("\nPress Ctrl-C to stop.\n", flush=True)

    def _watch(self, env: dict[str, str]) -> int:
        while not self._stopping:
            for child in self._reap():
                self._restart(child, env, f"exited with {child.process.returncode}", "keeps exiting")
            self._watch_broker(env)
            self._watch_health(env)
            if time.monotonic() >= self._next_housekeeping:
                self._keep_var_bounded()
            time.sleep(0.5)
        return 0

    def _restart(self, child: Child, env: dict[str, str], what: str, again: str,
                 healthy_until: float | None = None) -> None:
        """Start a child that exited, or was stopped as stuck, again: with backoff, unless in a crash loop (exits,
        or hangs, each soon after a start: its run counts until `healthy_until`, else until now)."""
        if child.exited_in_a_crash_loop(now=healthy_until):
            raise SystemExit(f"{child.name} {again}; see {child.log_path}")
        child.restarts += 1
        print(f"{child.name} {what}; restarting ({child.restarts}/{RESTART_LIMIT}), log: {child.log_path}",
              file=sys.stderr, flush=True)
        time.sleep(child.backoff_seconds())
        child.start(env)

    def _watch_health(self, env: dict[str, str]) -> None:
        """Restart a worker whose /healthz has been a 503 (its loop stuck) or unanswered for STUCK_SECONDS: a
        worker stuck for good never exits, so watching for exits alone left it hung, silently."""
        if self._stopping or time.monotonic() < self._next_health_check:
            return
        running = [child for child in self.children if child.health_port and child.process.poll() is None]
        with ThreadPoolExecutor(max_workers=max(len(running), 1)) as pool:  # one hung worker delays no other
            answers = list(pool.map(lambda child: worker_health(child.health_port), running))
        now = time.monotonic()
        for child, (answered, problem, stalled_for) in zip(running, answers):
            if problem is None or (not answered and now - child.started_at < START_GRACE_SECONDS):
                child.unhealthy_since = None  # healthy, or still starting
                continue
            if child.unhealthy_since is None:
                child.unhealthy_since = now
            if stalled_for is not None:
                child.progress_at = now - stalled_for
            if now - child.unhealthy_since >= STUCK_SECONDS and not self._stopping:
                self._restart_stuck(child, problem, env)
        self._next_health_check = time.monotonic() + HEALTH_CHECK_SECONDS

    def _restart_stuck(self, child: Child, problem: str, env: dict[str, str]) -> None:
        print(f"{child.name} is stuck, its /healthz failing for {time.monotonic() - child.unhealthy_since:.0f} s: "
              f"{problem}. Stopping it (SIGTERM, then SIGKILL after {STOP_GRACE_SECONDS:.0f} s)",
              file=sys.stderr, flush=True)
        if child.terminate(STOP_GRACE_SECONDS):
            print(f"{child.name} did not stop within {STOP_GRACE_SECONDS:.0f} s; killed", file=sys.stderr, flush=True)
        # Its run was healthy until its loop stopped beating, not until now: one that hangs straight after every
        # start (on the same record, say) is a crash loop, though each hang takes over a minute to show.
        self._restart(child, env, "was stuck", "keeps getting stuck", healthy_until=child.progress_at)

    def _watch_broker(self, env: dict[str, str]) -> None:
        """Restart the broker `up` started if it exited, with the children's backoff and crash-loop limit."""
        if self.broker is None or self._stopping or time.monotonic() < self._next_broker_check:
            return
        if not self.broker.is_running():
            self._restart_broker(env)
        self._next_broker_check = time.monotonic() + BROKER_CHECK_SECONDS

    def _restart_broker(self, env: dict[str, str]) -> None:
        watch, log = self.broker_restarts, self.broker.log_file
        if watch.exited_in_a_crash_loop():
            raise SystemExit(f"the broker keeps exiting; see {log}")
        watch.restarts += 1
        print(f"the {self.broker_mode} broker exited; restarting it ({watch.restarts}/{RESTART_LIMIT}), log: {log}. "
              "Events published meanwhile wait in each service's outbox.", file=sys.stderr, flush=True)
        time.sleep(watch.backoff_seconds())
        try:
            self.broker.restart()
            self._create_topics(env)
        except Exception as exc:  # noqa: BLE001 - counted as an exit: the next check tries again
            print(f"the broker did not start again: {exc}", file=sys.stderr, flush=True)
            return
        finally:
            watch.started_at = time.monotonic()
        # The relays and consumers keep running: against an empty broker (the in-memory one) a relay replaces the
        # idempotent producer it no longer knows, a consumer rejoins its group, unknown there, and reads the topics
        # made again from their earliest offset, and retries a dead letter through a fresh producer
        # (tests/platform/test_broker_lost_state.py). Restarting them only added a pause.
        print(f"the broker is back on {self.broker.bootstrap_servers}{self._what_the_broker_lost()}; what was "
              "published while it was down stayed in the outboxes and is relayed now.", file=sys.stderr, flush=True)

    def _what_the_broker_lost(self) -> str:
        if self.broker_mode == "embedded":
            return (" (in memory, it came back empty: topics made again, and the relays and consumers resume on "
                    "them; events relayed before it stopped that a consumer had not read are lost)")
        return f" with its data ({self.var / 'kafka'})"

    def _keep_var_bounded(self) -> None:
        for log in (self.var / "logs").glob("*.log"):
            housekeeping.rotate_log(log)
        housekeeping.prune_mail(self.var / "mail")  # where notifications' development mail server keeps them
        self._next_housekeeping = time.monotonic() + HOUSEKEEPING_SECONDS

    def _reap(self) -> list[Child]:
        """Children that exited unexpectedly."""
        if self._stopping:
            return []
        return [c for c in self.children if c.process and c.process.poll() is not None]

    def _request_stop(self, *_):
        self._stopping = True

    def _shutdown(self) -> None:
        if self.children:
            print("stopping WorkLink ...", flush=True)
        self._stopping = True
        for child in reversed(self.children):
            child.stop()
        for child in reversed(self.children):
            child.wait(timeout=25)
        if self.broker is not None:
            self.broker.stop()
        if self._lock_file is not None:
            (self.var / "worklink-up.pid").unlink(missing_ok=True)
            self._lock_file.close()
        if self.children:
            print("stopped.", flush=True)


def worker_health(port: int) -> tuple[bool, str | None, float | None]:
    """Whether a worker's /healthz answered, what is wrong (None: nothing), and for how long its loop has made no
    progress (when its 503 says)."""
    try:
        with _LOOPBACK.open(f"http://127.0.0.1:{port}/healthz", timeout=HEALTH_TIMEOUT_SECONDS):
            return True, None, None
    except urllib.error.HTTPError as exc:  # its 503 says for how long its loop has made no progress
        try:
            body = json.loads(exc.read())
        except (OSError, ValueError):
            body = {}
        detail, stalled_for = body.get("detail"), body.get("last_beat_seconds_ago")
        return (True, f"{exc.code}" + (f", {detail.rstrip('.')}" if detail else ""),
                float(stalled_for) if isinstance(stalled_for, (int, float)) else None)
    except OSError as exc:  # refused, or no answer within the time-out: hung, or not serving yet
        return False, f"no answer ({getattr(exc, 'reason', exc)})", None
