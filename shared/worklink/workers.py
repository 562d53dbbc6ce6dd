"""The background processes of a service: its outbox relay and its event consumer.

Each runs as its own OS process (`worklink relay --service X`, `worklink consume
--service X`), never inside a web worker, and builds its Kafka clients only once
running, after any fork.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from worklink.config import Settings
from worklink.db import Database
from worklink.events.contracts import CATALOGUE
from worklink.heartbeat import HEARTBEAT, Heartbeat, healthz, stale_after
from worklink.logs import configure_logging
from worklink.messaging import kafka
from worklink.messaging.consumer import DEFAULT_DEDUP_WINDOW, EventConsumer
from worklink.messaging.outbox import OutboxRelay
from worklink.messaging.topics import dedup_window
from worklink.service import ServiceSpec

log = logging.getLogger(__name__)


def stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def build_relay(spec: ServiceSpec, settings: Settings) -> OutboxRelay:
    return OutboxRelay(spec.name, Database(settings.database_url), spec.tables,
                       lambda: kafka.producer(settings.kafka, client_id=f"{spec.group_id}.relay"))


def build_consumer(spec: ServiceSpec, settings: Settings) -> EventConsumer:
    # A service may name an EventConsumer subclass (e.g. one that batches) in events.CONSUMER_CLASS.
    consumer_class = getattr(spec.module("events"), "CONSUMER_CLASS", EventConsumer)
    topics = sorted({CATALOGUE.latest(t).topic for t in spec.handlers})
    return consumer_class(
        group_id=spec.group_id,
        database=Database(settings.database_url),
        tables=spec.tables,
        catalogue=CATALOGUE,
        handlers=spec.handlers,
        consumer_factory=lambda: kafka.consumer(settings.kafka, spec.group_id, f"{spec.group_id}.consumer"),
        producer_factory=lambda: kafka.producer(settings.kafka, client_id=f"{spec.group_id}.dlt"),
        dedup_window=dedup_window(topics) or DEFAULT_DEDUP_WINDOW,
    )


def process_settings(spec: ServiceSpec) -> Settings:
    """What every deployed process of a service starts with: its settings, refused at once when missing or
    unsafe (a ConfigError naming the variable)."""
    settings = Settings.for_process(spec.name)
    spec.check_settings(settings)
    return settings


def run_relay(spec: ServiceSpec, metrics_port: int | None = None) -> None:
    settings = process_settings(spec)
    configure_logging(f"{spec.name}.relay", settings.log_level)
    _serve_metrics(metrics_port, f"{spec.name}.relay")
    build_relay(spec, settings).run(stop_on_signals())


def run_consumer(spec: ServiceSpec, metrics_port: int | None = None) -> None:
    settings = process_settings(spec)
    configure_logging(f"{spec.name}.consumer", settings.log_level)
    _serve_metrics(metrics_port, f"{spec.name}.consumer")  # idle too: the image's health check asks for them
    if not spec.handlers:
        log.info("this service consumes no events yet; consumer idle", extra={"service": spec.name})
        idle(stop_on_signals())
        return
    build_consumer(spec, settings).run(stop_on_signals())


def run_job(spec: ServiceSpec, name: str, metrics_port: int | None = None) -> None:
    """Run one of a service's background jobs (or development jobs) until SIGTERM/SIGINT."""
    jobs = {**spec.dev_jobs, **spec.jobs}
    if name not in jobs:
        raise LookupError(f"{spec.name} has no job {name!r} (has: {', '.join(jobs) or 'none'})")
    settings = process_settings(spec)
    configure_logging(f"{spec.name}.{name}", settings.log_level)
    _serve_metrics(metrics_port, f"{spec.name}.{name}")
    jobs[name](settings, stop_on_signals())


RETRY_FAILED_RUN_SECONDS = 5.0


def run_periodically(stop: threading.Event, interval_seconds: float, task, *args,
                     retry_after: float = RETRY_FAILED_RUN_SECONDS) -> None:
    """Call task(*args) every interval until stopped; a failing run is logged, not fatal.

    A failed run is tried again after `retry_after` seconds, doubling while runs fail, up to the interval:
    an hourly sweep that met a database restart catches up once the database is back, not an hour later
    (the sweeps work from the state they find, so a late run does what the missed one would have)."""
    retry = retry_after
    # A run is allowed the loop's cadence (3 intervals, at least a minute), and the wait after it is announced.
    HEARTBEAT.expect(interval_seconds)
    while not stop.is_set():
        HEARTBEAT.beat()
        try:
            task(*args)
        except Exception:  # noqa: BLE001 - the next run retries; a crash loop helps nobody
            log.exception("periodic job failed", extra={"task": getattr(task, "__name__", str(task)),
                                                        "retry_in_s": min(retry, interval_seconds)})
            wait, retry = min(retry, interval_seconds), retry * 2
        else:
            wait, retry = interval_seconds, retry_after
        HEARTBEAT.beat(waiting=wait)
        stop.wait(wait)


IDLE_BEAT_SECONDS = 10.0


def idle(stop: threading.Event) -> None:
    """Wait until stopped, beating: a process with nothing to do (an idle consumer, the development mail server,
    whose SMTP server runs in threads of its own) is alive while it waits."""
    HEARTBEAT.expect(0)
    while True:
        HEARTBEAT.beat(waiting=IDLE_BEAT_SECONDS)
        if stop.wait(IDLE_BEAT_SECONDS):
            return


def _serve_metrics(port: int | None, process: str) -> None:
    """A worker's Prometheus metrics (counts and timings, nothing about anyone) and its /healthz (whether its loop
    still beats: worklink.heartbeat), on loopback unless METRICS_BIND says otherwise: a scraper outside the
    container needs it to be the container's address (or 0.0.0.0) on a network only the monitoring reaches; the
    image's health check asks where it says (loopback for 0.0.0.0)."""
    stale_after(0)  # a bad WORKLINK_HEARTBEAT_STALE_SECONDS stops the worker at start, by name
    HEARTBEAT.beat()  # starting: the loop has its allowance to begin
    if port:
        serve_worker_http(port, os.environ.get("METRICS_BIND") or "127.0.0.1", process, HEARTBEAT)


def worker_app(process: str, heartbeat: Heartbeat):
    """WSGI: GET /healthz answers from the heartbeat; any other path, the metrics (as prometheus_client's server)."""
    from prometheus_client import make_wsgi_app

    metrics = make_wsgi_app()
    _watch(heartbeat)

    def app(environ, start_response):
        if environ.get("PATH_INFO") != "/healthz":
            return metrics(environ, start_response)
        status, content_type, body = healthz(heartbeat, process)
        start_response(f"{status} {'OK' if status == 200 else 'Service Unavailable'}",
                       [("Content-Type", content_type), ("Content-Length", str(len(body))),
                        ("Cache-Control", "no-store")])
        return [body] if environ["REQUEST_METHOD"] != "HEAD" else []
    return app


def serve_worker_http(port: int, addr: str, process: str, heartbeat: Heartbeat) -> WSGIServer:
    """Serve worker_app on a daemon thread, as prometheus_client.start_http_server serves metrics alone."""
    family, _, _, _, sockaddr = socket.getaddrinfo(addr, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        address_family = family

    server = make_server(sockaddr[0], port, worker_app(process, heartbeat), Server, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="worker-http", daemon=True).start()
    return server


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the scraper and health check ask every few seconds
        pass


_watched: list[Heartbeat] = []


def _watch(heartbeat: Heartbeat) -> None:
    """The heartbeat as gauges, read at each scrape: alert on age > limit (as /healthz's 503)."""
    from prometheus_client import Gauge

    if not _watched:
        Gauge("worklink_worker_heartbeat_age_seconds", "Seconds since the worker's loop last showed progress"
              ).set_function(lambda: _watched[0].age())
        Gauge("worklink_worker_heartbeat_limit_seconds", "Seconds the last beat may age before /healthz answers 503"
              ).set_function(lambda: _watched[0].limit())
    _watched[:] = [heartbeat]
