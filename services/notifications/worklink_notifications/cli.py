"""`worklink-notifications`: the service's own background job.

    worklink-notifications deliver          # the delivery worker: email, webhooks, daily digests
    worklink-notifications deliver --once   # one pass (cron-style, retention included), then exit
    worklink-notifications smtp-sink        # development: print mail sent to 127.0.0.1:1025

It reads the same environment as the other processes (NOTIFICATIONS_DATABASE_URL,
WORKLINK_VAR) plus NOTIFICATIONS_SMTP_HOST/PORT, NOTIFICATIONS_MAIL_FROM,
NOTIFICATIONS_PUBLIC_URL, NOTIFICATIONS_MAX_ATTEMPTS, NOTIFICATIONS_BACKOFF_BASE and
NOTIFICATIONS_DIGEST_HOUR (see delivery.DeliverySettings) and NOTIFICATIONS_RETENTION_*
(retention.RetentionSchedule).
"""

from __future__ import annotations

import click

from worklink.config import Settings
from worklink.db import Database
from worklink.logs import configure_logging


@click.group()
def main() -> None:
    """WorkLink notifications background jobs."""


@main.command()
@click.option("--once", is_flag=True, help="Send what is due, then exit.")
@click.option("--metrics-port", type=int, default=None, help="Serve Prometheus metrics on this port.")
def deliver(once: bool, metrics_port: int | None) -> None:
    """Run the delivery worker."""
    run_worker(once=once, metrics_port=metrics_port)


@main.command("smtp-sink")
@click.option("--port", type=int, default=1025, show_default=True)
def smtp_sink(port: int) -> None:
    """Development only: an SMTP server on loopback that prints what it receives."""
    import time

    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Debugging

    controller = Controller(Debugging(), hostname="127.0.0.1", port=port)
    controller.start()
    click.echo(f"SMTP sink on 127.0.0.1:{port}; Ctrl-C stops it")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        controller.stop()


def run_worker(once: bool = False, metrics_port: int | None = None) -> None:
    """The delivery worker as a process (the same job `worklink job -s notifications deliver` runs)."""
    from worklink.service import get_service
    from worklink.workers import run_job
    from worklink_notifications.delivery import DeliverySettings, DeliveryWorker
    from worklink_notifications.retention import RetentionSchedule

    if not once:
        run_job(get_service("notifications"), "deliver", metrics_port)
        return
    settings = Settings.from_env("notifications")
    configure_logging("notifications.deliver", settings.log_level)
    worker = DeliveryWorker(Database(settings.database_url), DeliverySettings.from_env(),
                            retention=RetentionSchedule.from_env())
    click.echo(f"sent {worker.run_once()} deliveries and {worker.run_digests()} digests")
    # A cron-run worker erases and applies the retention schedule too (counts only, never content).
    click.echo(", ".join(f"{name.replace('_', ' ')}: {count}" for name, count in worker.tidy().items()))
