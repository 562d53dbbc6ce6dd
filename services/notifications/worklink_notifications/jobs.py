"""Background jobs (`worklink job -s notifications deliver`, run by `worklink up`).

deliver: the delivery worker - sends due email and webhook deliveries with retries,
dead-letters what cannot be sent, sends daily digests, erases residents'
addresses when their time is up, forgets withdrawn consents once no message under
them can still be sent (see delivery.py), and runs the retention schedule hourly (retention.py).

mail-sink (development only, DEV_JOBS): `worklink up` runs a mail server on the loopback
address the worker sends to, and keeps each message as an .eml file under
$WORKLINK_VAR/mail, so the whole system on one machine really sends its email.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time

from worklink.config import Settings
from worklink.db import Database
from worklink.devstack import port_open
from worklink.workers import idle

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def deliver(settings: Settings, stop: threading.Event) -> None:
    from worklink_notifications.delivery import DeliverySettings, DeliveryWorker
    from worklink_notifications.retention import RetentionSchedule

    DeliveryWorker(Database(settings.database_url), DeliverySettings.from_env(),
                   retention=RetentionSchedule.from_env()).run(stop)


def mail_sink(settings: Settings, stop: threading.Event) -> None:
    from aiosmtpd.controller import Controller

    from worklink_notifications.delivery import DeliverySettings

    mail = DeliverySettings.from_env()
    reason = _why_no_sink(settings, mail.smtp_host, mail.smtp_port)
    if reason:
        log.info("no development mail server started: %s", reason)
        idle(stop)
        return
    folder = settings.var_dir / "mail"
    folder.mkdir(parents=True, exist_ok=True)
    # aiosmtpd logs every SMTP command (RCPT TO:<resident@...>) at INFO: a resident's address must not
    # outlive the address the worker erases, so only its warnings are kept ("mail kept" below counts recipients).
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    controller = Controller(_KeepMessages(folder), hostname="127.0.0.1", port=mail.smtp_port)
    controller.start()
    log.info("development mail server on 127.0.0.1:%s; messages kept in %s", mail.smtp_port, folder)
    idle(stop)
    controller.stop()


def _why_no_sink(settings: Settings, host: str, port: int) -> str | None:
    if settings.env == "production":
        return "WORKLINK_ENV is production"
    if host not in LOOPBACK:
        return f"mail goes to {host}:{port}"
    if port_open(port):
        return f"something already listens on {host}:{port}"
    return None


class _KeepMessages:
    """aiosmtpd handler: each message becomes <time>-<n>.eml in `folder`."""

    def __init__(self, folder):
        self.folder, self.numbers = folder, itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{next(self.numbers):04d}.eml"
        (self.folder / name).write_bytes(envelope.content)
        log.info("mail kept", extra={"file": name, "recipients": len(envelope.rcpt_tos)})
        return "250 Message accepted"


JOBS = {"deliver": deliver}
DEV_JOBS = {"mail-sink": mail_sink}
