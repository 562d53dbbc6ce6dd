"""The delivery worker: sends due email and webhook deliveries, and daily digests.

A background process of its own (`worklink-notifications deliver`), never a web
worker. Each delivery is sent in its own transaction with its row locked
(PostgreSQL: FOR UPDATE SKIP LOCKED, so several workers share the work); the
attempt and the new status commit together after the send. A crash between a
successful send and that commit sends again on restart: external channels are
at-least-once, and webhooks carry a stable `webhook-id` (e-mails a stable Message-ID) so
receivers can dedupe.

An answer that says "try again later" is retried until `give_up_after` (72 h): a webhook receiver's 5xx,
408, 425 or 429 (a partner redeploying, its gateway's 502/503 during its own outage, rate limits) on
`webhook_retry_schedule` (Standard Webhooks' 5 s ... 10 h, its last step repeating), never sooner than its
Retry-After (which holds all of that receiver's webhooks); a mail server's 4xx for a message with
exponential backoff and jitter. Other failures retry with that backoff up to max_attempts. A permanent failure (SMTP 5xx refusing the recipient or the message,
HTTP 4xx other than 408/425/429) or the last attempt moves the delivery to `dead`, where alliance_admin sees
it and can re-send it. An outage - our mail relay or a webhook receiver that cannot be reached, or a relay refusing us
rather than the message - spends none of a delivery's attempts: e-mail pauses as a whole, in every worker
(pause.SharedPause), until the relay answers, and only a delivery still unsent `give_up_after` (72 h) after
it was queued is given up. Our webhook proxy is the same for webhooks (webhook_targets.proxy_failure): while it
cannot be reached or refuses us, every webhook pauses as one; its own answer about one receiver (it could not
reach it, its policy refuses it) holds back that receiver's webhooks. Neither counts against the receiver.

Each webhook subscriber keeps its health (consecutive failed tries, failing since, last error); one failing
for `webhook_alert_after` is reported once to its organisation's inbox. It is never switched off by us.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import re
import smtplib
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr, parsedate_to_datetime
from typing import Callable

import jinja2
import requests
import sqlalchemy as sa
from prometheus_client import Counter
from sqlalchemy.orm import Session

from worklink.config import ConfigError, host_setting, positive_number, whole_number
from worklink.db import Database, utcnow
from worklink.heartbeat import HEARTBEAT
from worklink.keyring import Seal, Unopenable
from worklink.retention import audit_retention_years, prune_audit_log
from worklink.sites import directory_service_page, site_url
from worklink.uktime import uk_day_bounds, uk_time, uk_today
from worklink_notifications import retention, routing, signing, webhook_secrets, webhook_targets
from worklink_notifications.config import webhook_secret_seal
from worklink_notifications.links import NEW_LINK_PAGE, STOP_EMAILS_SECTION
from worklink_notifications.messages import (CODE_MESSAGE, CODE_VALID_FOR, PERSON_SENDER, code_for, details,
                                           person_why, uk_day, wording)
from worklink_notifications.pause import MAIL, WEBHOOK, SharedPause
from worklink_notifications.rekeying import rekey_user_references, reseal_webhook_secrets
from worklink_notifications.models import (PLATFORM, Delivery, DeliveryAttempt, Digest, OrganisationContact,
                                           RevokedConsent, UserChannelSettings, WebhookSubscriber)
from worklink_notifications.retention import (DEAD_PERSON_ADDRESS_KEEP, RETENTION, SYSTEM, RetentionSchedule,
                                              revoked_consent_keep)
from worklink_notifications.utc import as_utc
from worklink_notifications.webhook_targets import ProxyDidNotForward, ProxyFailure, ProxyUnavailable

log = logging.getLogger(__name__)

SENDS = Counter("worklink_notifications_sends_total", "Delivery attempts by channel and outcome",
                ["channel", "outcome"])
RETRYABLE_HTTP = {408, 425, 429}

# How long a withdrawn consent is remembered with the default retry horizon (retention.revoked_consent_keep).
REVOKED_CONSENT_RETENTION = revoked_consent_keep(timedelta(hours=72))
RETENTION_EVERY = timedelta(hours=1)  # how often the worker runs the retention schedule (retention.apply)
RETENTION_BACKLOG_EVERY = timedelta(minutes=1)  # ... while a pass stopped at its limit (a first run, say)

TEMPLATES = jinja2.Environment(loader=jinja2.PackageLoader("worklink_notifications", "emails"),
                               autoescape=jinja2.select_autoescape(["html.j2"]), undefined=jinja2.StrictUndefined)


class PermanentFailure(Exception):
    """Sending can never succeed as things stand (bad address, refused by the receiver)."""


class AddressNotAccepted(PermanentFailure):
    """The mail server cannot take this message's address: a non-ASCII one needs SMTPUTF8, which it does not offer
    (smtplib refuses before sending). Refused for this message alone, never an outage."""


class ReceiverUnreachable(ConnectionError):
    """A webhook receiver could not be reached at all (refused, reset, timed out): an outage."""


class ReceiverRefused(PermanentFailure):
    """A webhook receiver answered with a status that refuses the webhook (4xx but 408, 425, 429)."""


class ReceiverAnswered(Exception):
    """A webhook receiver answered with a status that asks us to try again (5xx, 408, 425, 429)."""

    def __init__(self, detail: str, retry_after: float | None = None):
        super().__init__(detail)
        self.retry_after = retry_after  # seconds the receiver asked us to wait (Retry-After), if it said


@dataclass(frozen=True)
class DeliverySettings:
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    mail_from: str = "WorkLink <no-reply@worklink.invalid>"
    public_url: str = "http://127.0.0.1:8084"
    referrals_url: str = "http://127.0.0.1:8083"  # the referrals site, where a person's status page lives
    directory_url: str = "http://127.0.0.1:8081"  # the directory site: a person's email links their service's page
    max_attempts: int = 6
    backoff_base: float = 30.0   # seconds before the first retry
    backoff_max: float = 3600.0
    webhook_timeout: float = 10.0  # each wait for the receiver (connect, the next bytes of its answer)
    # One webhook request (connect, TLS, the body, the answer's status and headers) ends by then whatever the
    # receiver does: one answering a byte at a time stays within webhook_timeout at every wait. A claim's lease
    # outlasts it (claim_lease), as for smtp_deadline.
    webhook_deadline: float = 20.0
    # One SMTP conversation (connect, STARTTLS, login, the message) ends by then whatever the server does: a
    # claim's lease outlasts it (claim_lease), so a slow server's message is never claimed and sent by a second
    # worker while the first is still sending it.
    smtp_deadline: float = 40.0
    # The hour of a UK clock (Europe/London: GMT in winter, BST in summer) after which the day's digests go out:
    # people read "17:00" as their own clock's, all year. It was UTC, which is 18:00 by a UK clock all summer.
    digest_hour: int = 17
    batch: int = 100
    pause_refresh: float = 1.0   # seconds a worker trusts the shared pause it last read (pause.SharedPause)
    # How long an outage may keep a delivery from going before it is given up (dead): far longer than
    # a mail server or a receiver is normally down, short enough that a message is not sent days late.
    give_up_after: timedelta = timedelta(hours=72)
    # Seconds to wait after a webhook's 1st, 2nd, ... failed try (Standard Webhooks' suggestion, about 27 h
    # for 8 tries); the last step repeats until give_up_after. Each wait varies by +-20% (jitter).
    webhook_retry_schedule: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    # A subscriber whose every try has failed for this long is reported to its organisation (once a streak).
    webhook_alert_after: timedelta = timedelta(hours=1)
    # Webhooks to loopback/private/link-local addresses (webhook_targets); never in production.
    allow_private_webhooks: bool = False
    # Every webhook through this forward proxy (CONNECT for https), credentials in its URL never shown.
    webhook_proxy: webhook_targets.WebhookProxy | None = None
    # Receivers' certificates checked against this CA bundle instead of the system's.
    webhook_ca_file: str | None = None
    # A mail relay off this machine is reached with STARTTLS (verified against the system's CAs, or
    # smtp_ca_file) and, if given, a login; production refuses a remote relay without STARTTLS.
    smtp_starttls: bool = False
    smtp_ca_file: str | None = None
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env=None) -> "DeliverySettings":
        env = os.environ if env is None else env
        environment = env.get("WORKLINK_ENV", "development")
        return cls(
            smtp_host=host_setting(env, "NOTIFICATIONS_SMTP_HOST", cls.smtp_host),
            smtp_port=whole_number(env, "NOTIFICATIONS_SMTP_PORT", cls.smtp_port),
            mail_from=env.get("NOTIFICATIONS_MAIL_FROM", cls.mail_from),
            # Unset outside production: the sites `worklink up` serves, on their <SERVICE>_PORT, so an email's
            # links reach their pages also from a copy run on other ports.
            public_url=site_url(env, "NOTIFICATIONS_PUBLIC_URL", "notifications", environment),
            referrals_url=site_url(env, "NOTIFICATIONS_REFERRALS_URL", "referrals", environment),
            directory_url=site_url(env, "NOTIFICATIONS_DIRECTORY_URL", "directory", environment),
            max_attempts=whole_number(env, "NOTIFICATIONS_MAX_ATTEMPTS", cls.max_attempts, unit="attempts"),
            backoff_base=positive_number(env, "NOTIFICATIONS_BACKOFF_BASE", cls.backoff_base, unit="seconds"),
            digest_hour=hour_of_day(env, "NOTIFICATIONS_DIGEST_HOUR", cls.digest_hour),
            give_up_after=timedelta(hours=positive_number(env, "NOTIFICATIONS_GIVE_UP_HOURS", 72, unit="hours")),
            webhook_retry_schedule=durations(env.get("NOTIFICATIONS_WEBHOOK_RETRY_SCHEDULE"),
                                             cls.webhook_retry_schedule, "NOTIFICATIONS_WEBHOOK_RETRY_SCHEDULE"),
            webhook_alert_after=timedelta(hours=positive_number(env, "NOTIFICATIONS_WEBHOOK_ALERT_HOURS", 1,
                                                                               unit="hours")),
            allow_private_webhooks=webhook_targets.private_targets_allowed(env.get("WORKLINK_ENV", "development"), env),
            webhook_proxy=webhook_targets.WebhookProxy.parse(env["NOTIFICATIONS_WEBHOOK_PROXY"])
            if env.get("NOTIFICATIONS_WEBHOOK_PROXY", "").strip() else None,
            webhook_ca_file=env.get("NOTIFICATIONS_WEBHOOK_CA_FILE") or None,
            smtp_starttls=env.get("NOTIFICATIONS_SMTP_STARTTLS", "0").lower() in ("1", "true", "yes"),
            smtp_ca_file=env.get("NOTIFICATIONS_SMTP_CA_FILE") or None,
            smtp_username=env.get("NOTIFICATIONS_SMTP_USERNAME") or None,
            smtp_password=env.get("NOTIFICATIONS_SMTP_PASSWORD") or None,
        ).checked(production=env.get("WORKLINK_ENV") == "production")

    @property
    def claim_lease(self) -> timedelta:
        """How long a claimed delivery is left to its worker: longer than any send can take (a webhook request's
        deadline, an SMTP conversation's), plus a margin for recording the result."""
        return timedelta(seconds=max(self.webhook_deadline, self.smtp_deadline) + 60)

    def checked(self, production: bool) -> "DeliverySettings":
        """Residents' addresses and codes never cross a network in clear text, nor does a password."""
        remote = self.smtp_host not in ("127.0.0.1", "localhost", "::1")
        if production and remote and not self.smtp_starttls:
            raise ValueError(f"NOTIFICATIONS_SMTP_HOST {self.smtp_host} is not on this machine: set "
                             "NOTIFICATIONS_SMTP_STARTTLS=1 (production never sends mail in clear text)")
        if self.smtp_username and not self.smtp_starttls and remote:
            raise ValueError("NOTIFICATIONS_SMTP_USERNAME needs NOTIFICATIONS_SMTP_STARTTLS=1 "
                             "(no password in clear text)")
        return self


def backoff(attempts: int, settings: DeliverySettings, rng: Callable[[], float] = random.random) -> timedelta:
    """Exponential backoff with 'equal jitter': half fixed, half random, capped."""
    # The exponent capped: a float times 2**1024 overflows, and the mail pause counts failures for as long as the
    # relay refuses us (weeks of a mail server down stopped every worker with an OverflowError).
    delay = min(settings.backoff_base * 2 ** min(attempts - 1, 64), settings.backoff_max)
    return timedelta(seconds=delay / 2 + rng() * delay / 2)


def webhook_retry(attempts: int, settings: DeliverySettings, retry_after: float | None = None,
                  rng: Callable[[], float] = random.random) -> timedelta:
    """The wait after a webhook's `attempts`-th answered failure: the schedule's step (its last one repeating),
    +-20% jitter so a receiver back from an outage is not hit by every delivery at once; never sooner than
    the receiver's Retry-After, which is capped at the schedule's longest step so no receiver parks a
    delivery for ever."""
    schedule = settings.webhook_retry_schedule
    delay = schedule[min(max(attempts, 1), len(schedule)) - 1] * (0.8 + 0.4 * rng())
    if retry_after is not None:
        delay = max(delay, capped(retry_after, settings))
    return timedelta(seconds=delay)


def capped(retry_after: float, settings: DeliverySettings) -> float:
    """A receiver's Retry-After, at most the schedule's longest step."""
    return min(retry_after, max(settings.webhook_retry_schedule))


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A Retry-After header (RFC 9110: delay-seconds or an HTTP-date) as seconds from `now`; None if absent
    or unreadable."""
    value = (value or "").strip()
    if re.fullmatch(r"[0-9]{1,12}", value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max((as_utc(when) - now).total_seconds(), 0.0)


UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def hour_of_day(env, name: str, default: int) -> int:
    """An hour of the day, 0 to 23 (of a UK clock for the digest hour), refused by name."""
    hour = whole_number(env, name, default, minimum=0, unit="hours")
    if hour > 23:
        raise ConfigError(f"{name} must be an hour of the day, 0 to 23, not {hour}")
    return hour


def durations(text: str | None, default: tuple[float, ...], name: str) -> tuple[float, ...]:
    """'5s,5m,30m,2h' (a bare number is seconds) as seconds; `default` when unset."""
    if not text or not text.strip():
        return default
    found = []
    for item in text.split(","):
        match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhd]?)\s*", item)
        if not match or float(match[1]) <= 0:
            raise ValueError(f"{name}: {item.strip()!r} is not a duration such as 30s, 5m, 2h or 1d")
        found.append(float(match[1]) * UNITS[match[2] or "s"])
    return tuple(found)


def outage_backoff(waited: timedelta, settings: DeliverySettings,
                   rng: Callable[[], float] = random.random) -> timedelta:
    """An outage counts no attempts, so the wait grows with how long the delivery has waited already
    (about doubling it each time), from backoff_base up to backoff_max, with equal jitter."""
    delay = min(max(waited.total_seconds(), settings.backoff_base), settings.backoff_max)
    return timedelta(seconds=delay / 2 + rng() * delay / 2)


@dataclass
class DeliveryWorker:
    database: Database
    settings: DeliverySettings = field(default_factory=DeliverySettings)
    clock: Callable[[], datetime] = utcnow
    http: requests.Session | None = None  # default: webhook_targets.webhook_session for the settings
    retention: RetentionSchedule | None = None  # default: the default schedule with settings' retry horizon
    # How a webhook host is resolved, for its check and to connect to it (default: DNS).
    resolve: webhook_targets.Resolver | None = None
    seal: Seal | None = None  # opens webhook signing secrets (default: config.webhook_secret_seal)

    def __post_init__(self) -> None:
        if self.seal is None:
            self.seal = webhook_secret_seal()
        if self.retention is None:
            self.retention = RetentionSchedule(give_up_after=self.settings.give_up_after)
        if self.http is None:
            self.http = webhook_targets.webhook_session(self.settings.allow_private_webhooks,
                                                        self.settings.webhook_proxy, self.settings.webhook_ca_file)
        self.mail_pause = SharedPause(self.database, MAIL, refresh=self.settings.pause_refresh)
        self.webhook_pause = SharedPause(self.database, WEBHOOK, refresh=self.settings.pause_refresh)

    # --- the loop --------------------------------------------------------------

    # Our mail relay (our webhook proxy) cannot be reached: every e-mail and digest (every webhook) would fail
    # alike, so all of them - in every worker - wait (backing off as one) and only the first due one tries again
    # when the pause is over.
    mail_pause: SharedPause = field(init=False)
    webhook_pause: SharedPause = field(init=False)
    _retention_due_at: datetime | None = field(default=None, init=False)

    def run(self, stop: threading.Event, idle_sleep: float = 1.0, max_pause: float = 60.0) -> None:
        log.info("delivery worker starting")
        # Each send and digest beats (worklink.heartbeat): the longest healthy step is one send, cut at its deadline.
        HEARTBEAT.expect(max(self.settings.smtp_deadline, self.settings.webhook_deadline, max_pause))
        failures = 0
        while not stop.is_set():
            HEARTBEAT.beat()
            try:
                done = self.run_once(stop) + self.run_digests(stop)
                self.tidy()
                failures = 0
            except Exception:  # noqa: BLE001 - e.g. a database outage: it delays deliveries, it must not end the worker
                failures += 1
                log.exception("delivery round failed; trying again", extra={"consecutive_failures": failures})
                pause = min(2.0 ** min(failures, 30), max_pause)  # a float power overflows past 1,023
                HEARTBEAT.beat(waiting=pause)
                stop.wait(pause)
                continue
            if not done:
                HEARTBEAT.beat(waiting=idle_sleep)
                stop.wait(idle_sleep)

    def run_once(self, stop: threading.Event | None = None) -> int:
        """Send every due email and webhook delivery (up to a batch); returns how many were tried.

        Claim, send, record: the send happens outside any transaction (a slow receiver must
        not hold SQLite's write lock or a PostgreSQL row lock). The claim pushes
        `next_attempt_at` past the send's timeout, so other workers skip the row meanwhile
        and a worker that dies mid-send leaves it due again after that lease. Once `stop` is set
        (SIGTERM) no other is claimed: the worker ends after the send in hand, recorded, rather than
        going on through its batch until the container is killed between a send and its record.
        """
        tried, failing_receivers = 0, set()
        for delivery_id, channel, recipient in self._due_ids():
            if stop is not None and stop.is_set():
                break
            HEARTBEAT.beat()
            if self._paused(channel) or (channel, recipient) in failing_receivers:
                continue  # it would fail as the last one did; it waits for the next round
            claimed = self._claim(delivery_id)
            if claimed is None:
                continue  # another worker took it
            delivery, subscriber = claimed
            now, started = self.clock(), time.perf_counter()
            try:
                self.send(delivery, subscriber)
                failure = None
            except Exception as exc:  # noqa: BLE001 - every failure is recorded, classified and scheduled
                failure = exc
            if failure is not None and (is_outage(failure) or isinstance(failure, ReceiverAnswered)):
                failing_receivers.add((channel, recipient))  # unreachable, or asked us to try again later
            self._finish(delivery.id, failure, now, int((time.perf_counter() - started) * 1000))
            tried += 1
        return tried

    def _claim(self, delivery_id) -> tuple[Delivery, WebhookSubscriber | None] | None:
        with self.database.transaction() as session:
            delivery = self._lock(session, delivery_id)
            if delivery is None or not self._is_due(delivery):
                return None
            if delivery.recipient_kind == "person" and consent_withdrawn(session, delivery):
                stop_person_message(delivery)  # queued as the withdrawal was recorded, on another partition
                return None
            if delivery.channel == "email" and not self._readdress(session, [delivery]):
                return None  # the recipient no longer wants e-mail: cancelled, never sent
            if delivery.channel == "email":
                delivery.inbox_scope = inbox_scope(session, delivery)  # not stored: for its link only
            delivery.attempts += 1
            delivery.next_attempt_at = self.clock() + self.settings.claim_lease
            subscriber = None
            if delivery.channel == "webhook":
                subscriber = session.get(WebhookSubscriber, _uuid(delivery.recipient_id))
            return delivery, subscriber

    def _due_ids(self) -> list:
        where = [Delivery.status.in_(("pending", "retrying")),
                 sa.or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= self.clock())]
        paused = [channel for channel in ("email", "webhook") if self._paused(channel)]
        if paused:
            where.append(Delivery.channel.not_in(paused))  # so what waits never crowds the rest out of a batch
        with self.database.sessions() as session:
            return list(session.execute(
                sa.select(Delivery.id, Delivery.channel, Delivery.recipient_id)
                .where(*where).order_by(Delivery.created_at).limit(self.settings.batch)).all())

    def _lock(self, session: Session, delivery_id) -> Delivery | None:
        query = sa.select(Delivery).where(Delivery.id == delivery_id)
        if self.database.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return session.scalars(query).first()

    def _is_due(self, delivery: Delivery) -> bool:
        due = delivery.next_attempt_at
        return delivery.status in ("pending", "retrying") and (due is None or as_utc(due) <= self.clock())

    def _readdress(self, session: Session, deliveries: list[Delivery]) -> list[Delivery]:
        """Address queued e-mail (one recipient's) as that recipient wants it now: a removed contact, a
        user who turned e-mail off, or a member's team mail of an organisation they no longer sign in with
        is not written (those deliveries become `cancelled`); a user who changed address is written to at
        the new one. Returns the deliveries to send."""
        wanted = []
        for delivery in deliveries:
            address = current_address(session, delivery)
            if address is CANCELLED:
                delivery.status, delivery.next_attempt_at = "cancelled", None
                delivery.last_error = "not sent: the recipient was removed, turned e-mail off or left the team"
            else:
                delivery.address = address
                wanted.append(delivery)
        return wanted

    # --- one attempt -------------------------------------------------------------

    def send(self, delivery: Delivery, subscriber: WebhookSubscriber | None) -> None:
        if delivery.channel == "email":
            self.send_email(delivery)
        elif delivery.channel == "webhook":
            self.send_webhook(delivery, subscriber)
        else:
            raise PermanentFailure(f"channel {delivery.channel!r} is not sent by the worker")

    def _finish(self, delivery_id, failure: Exception | None, now: datetime, duration_ms: int) -> None:
        with self.database.transaction() as session:
            delivery = session.get(Delivery, delivery_id)
            if delivery.status == "revoked":  # consent was withdrawn while it was being sent: it stays stopped
                self._record(session, delivery, "sent" if failure is None else "failed",
                             None if failure is None else describe(failure), duration_ms, now)
                return
            if delivery.channel == "email" and (failure is None or is_permanent_smtp(failure) or isinstance(
                    failure, smtplib.SMTPException) and not is_outage(failure)):
                self.mail_pause.reachable(session)  # the relay took it, or refused only this message
            if delivery.channel == "webhook":
                self._note_proxy(session, failure)
                self._keep_health(session, delivery, failure, now)
            if failure is None:
                self._record(session, delivery, "sent", None, duration_ms, now)
                delivery.status, delivery.sent_at, delivery.next_attempt_at, delivery.last_error = "sent", now, None, None
                forget_person_address(delivery)
                return
            if is_outage(failure):
                self._outage(session, delivery, failure, duration_ms, now)
                return
            permanent = isinstance(failure, PermanentFailure) or is_permanent_smtp(failure)
            self._record(session, delivery, "permanent" if permanent else "failed", describe(failure), duration_ms, now)
            if permanent:
                self._dead(delivery, describe(failure))
            elif asks_to_wait(failure):
                self._retry_until_given_up(session, delivery, failure, now)
            elif delivery.attempts >= self.settings.max_attempts:
                self._dead(delivery, describe(failure))
            else:
                delivery.status = "retrying"
                delivery.next_attempt_at = now + backoff(delivery.attempts, self.settings)
                delivery.last_error = describe(failure)

    def _retry_until_given_up(self, session: Session, delivery: Delivery, failure: Exception,
                              now: datetime) -> None:
        """Asked to try again later: a webhook on its schedule (and the receiver's Retry-After), e-mail with
        its backoff, until give_up_after, whose moment gets a last try."""
        error, deadline = describe(failure), give_up_at(delivery, self.settings)
        if now >= deadline:
            span = in_words(deadline - queued_at(delivery))
            self._dead(delivery, f"not sent within {span}, retried {delivery.attempts} times: {error}"[:1000])
            return
        retry_after = getattr(failure, "retry_after", None)
        wait = webhook_retry(delivery.attempts, self.settings, retry_after) \
            if delivery.channel == "webhook" else backoff(delivery.attempts, self.settings)
        delivery.status, delivery.last_error, delivery.next_attempt_at = "retrying", error, min(now + wait, deadline)
        if retry_after:
            self._hold_receiver(session, delivery, now + timedelta(seconds=capped(retry_after, self.settings)))

    def _hold_receiver(self, session: Session, delivery: Delivery, until: datetime) -> None:
        """A Retry-After speaks for the whole receiver: its other unsent webhooks wait as long (no attempt spent)."""
        session.execute(sa.update(Delivery).where(
            Delivery.channel == "webhook", Delivery.recipient_id == delivery.recipient_id, Delivery.id != delivery.id,
            Delivery.status.in_(("pending", "retrying")),
            sa.or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at < until)).values(next_attempt_at=until))

    def _keep_health(self, session: Session, delivery: Delivery, failure: Exception | None, now: datetime) -> None:
        """A subscriber's failed tries in a row and since when; its organisation is told once a streak has
        lasted webhook_alert_after. A success ends the streak. Nothing is switched off."""
        if isinstance(failure, ProxyFailure):
            return  # our proxy's doing, or it may be: the receiver said nothing
        subscriber = session.get(WebhookSubscriber, _uuid(delivery.recipient_id), with_for_update=True)
        if subscriber is None or not subscriber.active:
            return  # removed or switched off by its organisation: not a failing receiver
        if failure is None:
            subscriber.consecutive_failures, subscriber.failing_since = 0, None
            subscriber.last_error = subscriber.failure_reported_at = None
            return
        subscriber.consecutive_failures += 1
        subscriber.failing_since = subscriber.failing_since or now
        subscriber.last_error = describe(failure)
        if subscriber.failure_reported_at is None \
                and now - as_utc(subscriber.failing_since) >= self.settings.webhook_alert_after:
            subscriber.failure_reported_at = now
            report_failing_subscriber(session, subscriber, now)

    def _note_proxy(self, session: Session, failure: Exception | None) -> None:
        """Anything the proxy answered, or carried the receiver's answer back, says it works: webhooks pause no more."""
        if self.settings.webhook_proxy and (failure is None or isinstance(
                failure, (ReceiverAnswered, ReceiverRefused, ProxyDidNotForward))):
            self.webhook_pause.reachable(session)

    def _outage(self, session: Session, delivery: Delivery, failure: Exception, duration_ms: int,
                now: datetime) -> None:
        """The relay, our webhook proxy or the receiver could not be reached: it says nothing about this delivery,
        so it spends none of its attempts. E-mail waits for the whole pause, and webhooks while our proxy is
        unavailable; otherwise a webhook backs off by how long it has waited. Whatever is still unsent
        `give_up_after` it was queued is given up."""
        error = describe(failure)
        if delivery.channel == "email":
            resume_at = self._mail_outage(session, now, failure)  # the shared pause's row first
        elif isinstance(failure, ProxyUnavailable):
            resume_at = self._proxy_outage(session, now, failure)
        else:
            resume_at = now + outage_backoff(now - queued_at(delivery), self.settings)
            if isinstance(failure, ProxyDidNotForward):  # its policy may need our operator, never the receiver
                log.warning("webhook not forwarded by our webhook proxy; this receiver's webhooks wait", extra={
                    "error": error, "subscriber_id": delivery.recipient_id, "retry_at": resume_at.isoformat()})
        self._record(session, delivery, "failed", error, duration_ms, now)
        delivery.attempts -= 1
        delivery.status, delivery.last_error, delivery.next_attempt_at = "retrying", error, resume_at
        self._give_up_stale(session, delivery.channel, now, error)

    def _give_up_stale(self, session: Session, channel: str, now: datetime, error: str) -> None:
        queued = sa.func.coalesce(Delivery.resent_at, Delivery.created_at)
        expired_code = sa.and_(Delivery.message_code == CODE_MESSAGE, Delivery.recipient_kind == "person",
                               queued < now - CODE_VALID_FOR)
        stale = session.scalars(sa.select(Delivery).where(
            Delivery.channel == channel, Delivery.status.in_(("pending", "retrying")),
            sa.or_(queued < now - self.settings.give_up_after, expired_code)))
        for delivery in stale:
            span = in_words(give_up_at(delivery, self.settings) - queued_at(delivery))
            self._dead(delivery, f"not sent within {span} of an outage: {error}"[:1000])

    def _mail_paused(self) -> bool:
        return self._paused("email")

    def _paused(self, channel: str) -> bool:
        """Whether `channel` waits for a shared pause; webhooks pause only for our proxy, so never without one."""
        pause = {"email": self.mail_pause, "webhook": self.webhook_pause if self.settings.webhook_proxy else None}
        return pause.get(channel) is not None and pause[channel].paused(self.clock())

    @property
    def _mail_resume_at(self) -> datetime | None:
        return self.mail_pause.until

    def _mail_outage(self, session: Session, now: datetime, failure: Exception) -> datetime:
        """Every worker's e-mail waits until the moment returned (pause.SharedPause)."""
        return self._pause_channel(self.mail_pause, session, now, failure,
                                   "mail not sent; the mail server cannot be reached, e-mail waits")

    def _proxy_outage(self, session: Session, now: datetime, failure: Exception) -> datetime:
        """Every worker's webhooks wait until the moment returned, as e-mail does for the relay."""
        return self._pause_channel(self.webhook_pause, session, now, failure,
                                   "webhook not sent; our webhook proxy is unavailable, every webhook waits")

    def _pause_channel(self, pause: SharedPause, session: Session, now: datetime, failure: Exception,
                       message: str) -> datetime:
        resume_at = pause.failed(session, now, lambda failures: backoff(failures, self.settings))
        log.warning(message, extra={"error": describe(failure), "retry_at": resume_at.isoformat()})
        return resume_at

    def _record(self, session: Session, delivery: Delivery, outcome: str, detail: str | None, duration_ms: int,
                now: datetime) -> None:
        SENDS.labels(delivery.channel, outcome).inc()
        session.add(DeliveryAttempt(delivery_id=delivery.id, attempted_at=now, outcome=outcome, detail=detail,
                                    duration_ms=duration_ms))

    def _dead(self, delivery: Delivery, error: str) -> None:
        log.warning("delivery dead-lettered", extra={"delivery_id": str(delivery.id), "channel": delivery.channel,
                                                     "error": error})
        # A resident's address stays for a re-send until purge_person_addresses() erases it.
        delivery.status, delivery.next_attempt_at, delivery.last_error = "dead", None, error
        delivery.verification_code = None  # a re-send would need a new code from the person anyway

    # --- channels ------------------------------------------------------------------

    def send_email(self, delivery: Delivery) -> None:
        if not delivery.address:
            raise PermanentFailure("no address (erased or never known); cannot send")
        self._smtp_send(render_email(delivery, self.settings))

    def _smtp_send(self, message: EmailMessage) -> None:
        message["From"] = self.settings.mail_from
        # Required (RFC 5322 3.6): relays add it only for their own local clients, and spam filters mark mail
        # without one. UTC with its offset, which mail programs show in the reader's own (UK) time.
        message["Date"] = format_datetime(self.clock())
        settings = self.settings
        started = time.monotonic()  # connecting and the greeting count too (each wait bounded by the timeout)
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=min(30, settings.smtp_deadline))
        with _closed_after(smtp, settings.smtp_deadline - (time.monotonic() - started)), smtp:  # QUIT included
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=settings.smtp_ca_file))
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password or "")
            try:
                smtp.send_message(message)
            except smtplib.SMTPNotSupportedError as exc:
                if str(message["To"]).isascii():
                    raise  # our own sender's address: the set-up, as for every message
                raise AddressNotAccepted(f"the mail server cannot take this address ({exc})") from None

    def send_webhook(self, delivery: Delivery, subscriber: WebhookSubscriber | None) -> None:
        if subscriber is None or not subscriber.active:
            raise PermanentFailure("the webhook subscriber was removed or deactivated")
        proxy = self.settings.webhook_proxy
        refused = None if self.settings.allow_private_webhooks else webhook_targets.resolved_refusal(
            subscriber.url, self.resolve, must_resolve=proxy is not None)  # a proxy hides where it connects
        if refused:
            raise PermanentFailure(f"not sent: {refused}")
        body = json.dumps(webhook_body(delivery), separators=(",", ":"), sort_keys=True).encode()
        now = self.clock()
        try:
            keys = webhook_secrets.signing_secrets(subscriber, self.seal, now)
        except Unopenable:  # our key, not the receiver: a rotation dropped the retired key too soon, or it is wrong
            log.error("a webhook signing secret cannot be opened with NOTIFICATIONS_WEBHOOK_SECRET_KEY or its "
                      "_PREVIOUS", extra={"subscriber_id": str(subscriber.id)})
            raise PermanentFailure("not sent: its signing secret cannot be opened with "
                                   "NOTIFICATIONS_WEBHOOK_SECRET_KEY (or _PREVIOUS); set the key it was sealed "
                                   "with, or rotate the subscriber's secret")
        request_headers = signing.headers(keys, str(delivery.id), body, timestamp=int(now.timestamp()))
        response = self._post(subscriber.url, body, request_headers)
        if 200 <= response.status_code < 300:
            return
        if proxy:
            proxy_answered = webhook_targets.proxy_answer(subscriber.url, response.status_code, response.headers, proxy)
            if proxy_answered:
                raise proxy_answered
        detail = f"HTTP {response.status_code} from the receiver"
        if 400 <= response.status_code < 500 and response.status_code not in RETRYABLE_HTTP:
            raise ReceiverRefused(detail)
        retry_after = retry_after_seconds(response.headers.get("Retry-After"), now)
        if retry_after is not None:
            detail += f" (Retry-After: {retry_after:g} s)"
        raise ReceiverAnswered(detail, retry_after)

    def _post(self, url: str, body: bytes, request_headers: dict[str, str]) -> requests.Response:
        """The request, connected and answered within webhook_deadline (cut then); its answer's body is never read."""
        proxy, limit = self.settings.webhook_proxy, self.settings.webhook_deadline
        with webhook_targets.deadline(limit, self.resolve) as cut:
            try:
                # stream: only the status line matters; a receiver's body (however large or slow) is never read
                response = self.http.post(url, data=body, headers=request_headers,
                                          timeout=self.settings.webhook_timeout, allow_redirects=False, stream=True)
            except webhook_targets.NotPublic as exc:
                raise PermanentFailure(f"not sent: {exc}") from exc
            except requests.RequestException as exc:  # retried, never dead: the receiver or our proxy is unreachable
                # Not connected by the deadline is a connect time-out (through a proxy, our proxy's): not a cut.
                raise (cut_off(limit) if cut.passed and cut.connected else unreachable(exc, proxy)) from None
            response.close()
        if cut.passed:  # the cut ends the answer's headers as if it were complete: an answer cut short is no answer
            raise cut_off(limit)
        return response

    def tidy(self) -> dict[str, int]:
        """What each round does besides sending: erase what is kept no longer (counts; retention only when due)."""
        return {"person_addresses_erased": self.purge_person_addresses(),
                "withdrawals_forgotten": self.purge_revoked_consents(), **(self.apply_retention_when_due() or {})}

    def purge_person_addresses(self, keep: timedelta = DEAD_PERSON_ADDRESS_KEEP) -> int:
        """Erase residents' addresses on dead deliveries after `keep` (the restricted DLT's retention); each
        erasure is audited, as every look at a resident's delivery is."""
        with self.database.transaction() as session:
            rows = session.execute(sa.select(Delivery.id, Delivery.recipient_id).where(
                Delivery.recipient_kind == "person", Delivery.status == "dead", Delivery.address.is_not(None),
                Delivery.created_at < self.clock() - keep)).all()
            if not rows:
                return 0
            session.execute(sa.update(Delivery).where(Delivery.id.in_([row.id for row in rows]))
                            .values(address=None, status_link=None))
            retention.AUDIT.record_many(session, action="erase", resource_type=retention.RECORD_TYPE,
                                        purpose=RETENTION, principal=SYSTEM,
                                        records=[(str(row.id), row.recipient_id) for row in rows])
            return len(rows)

    def purge_revoked_consents(self, keep: timedelta | None = None) -> int:
        """Forget a withdrawal once no message under it can still be sent (retention.revoked_consent_keep)."""
        keep = keep or self.retention.revoked_consents
        with self.database.transaction() as session:
            result = session.execute(sa.delete(RevokedConsent).where(RevokedConsent.recorded_at < self.clock() - keep))
            return result.rowcount

    def apply_retention_when_due(self) -> dict[str, int] | None:
        """The retention schedule (retention.apply), at start and then every RETENTION_EVERY; a pass that stopped
        at its limit is followed by another after RETENTION_BACKLOG_EVERY, sending in between."""
        now = self.clock()
        if self._retention_due_at is not None and now < self._retention_due_at:
            return None
        counts = retention.apply(self.database, self.retention, now)
        backlog = retention.unfinished(counts, self.retention)
        counts["user_references_rekeyed"] = rekey_user_references(self.database)  # after a key rotation
        counts["webhook_secrets_resealed"] = reseal_webhook_secrets(self.database, self.seal)  # after one, too
        counts["audit_entries_deleted"] = prune_audit_log(self.database, PLATFORM.audit_log,
                                                          audit_retention_years(os.environ), now)
        self._retention_due_at = now + (RETENTION_BACKLOG_EVERY if backlog else RETENTION_EVERY)
        return counts

    # --- digests ---------------------------------------------------------------------

    def run_digests(self, stop: threading.Event | None = None) -> int:
        """After the digest hour, send each recipient one email for the day's waiting items.

        Claim, send, record, as for single deliveries: the send happens outside any transaction.
        While the mail server cannot be reached, digests pause with backoff and the items keep
        waiting; a recipient the server refuses (5xx) has their items dead-lettered. Stopping, as run_once."""
        now = self.clock()
        if uk_time(now).hour < self.settings.digest_hour or self._mail_paused():
            return 0
        sent = 0
        for kind, recipient in self._digest_recipients(now):
            if stop is not None and stop.is_set():
                break
            HEARTBEAT.beat()
            claim = self._claim_digest(kind, recipient, now)
            if claim is None:
                continue
            digest_id, message, item_ids = claim
            try:
                self._smtp_send(message)
            except Exception as exc:  # noqa: BLE001 - recorded and classified, never lost
                unreachable = not is_permanent_smtp(exc)
                self._digest_failed(digest_id, item_ids, exc, now, unreachable)
                if unreachable:
                    return sent  # the server is unreachable: every other digest would fail the same way
                continue
            self._digest_sent(digest_id, item_ids, now)
            sent += 1
        return sent

    def _digest_recipients(self, now: datetime) -> list[tuple[str, str]]:
        with self.database.sessions() as session:
            return list(session.execute(
                sa.select(Delivery.recipient_kind, Delivery.recipient_id).where(
                    Delivery.status == "digest").distinct()).all())

    def _claim_digest(self, kind: str, recipient: str, now: datetime) -> tuple[uuid.UUID, EmailMessage, list] | None:
        """Today's digest row (unique per recipient and day, so two workers never both send it),
        and the message for the items waiting now; None if it went already or nothing waits.
        A worker that dies between this claim and the record leaves today's row: the items
        still wait, and go in tomorrow's digest (late, never lost). The day is the UK's, as the digest hour is."""
        day = uk_today(now)
        try:
            with self.database.transaction() as session:
                if self._had_digest(session, kind, recipient, day):
                    return None  # today's digest already went; later items wait for tomorrow's
                query = sa.select(Delivery).where(Delivery.status == "digest", Delivery.recipient_kind == kind,
                                                  Delivery.recipient_id == recipient)
                if self.database.dialect == "postgresql":
                    query = query.with_for_update(skip_locked=True)
                items = self._readdress(session, list(session.scalars(query.order_by(Delivery.created_at))))
                if not items:
                    return None
                address = items[-1].address
                digest = Digest(recipient_kind=kind, recipient_id=recipient, day=day, address=address,
                                items=len(items), sent_at=now)
                session.add(digest)
                session.flush()
                scopes = {inbox_scope(session, item) for item in items}
                message = render_digest(items, address, day, self.settings, digest.id,
                                        scopes.pop() if len(scopes) == 1 else None)
                return digest.id, message, [i.id for i in items]
        except sa.exc.IntegrityError:
            return None  # another worker claimed today's digest first

    @staticmethod
    def _had_digest(session: Session, kind: str, recipient: str, day: date) -> bool:
        """Whether the recipient had a digest on this UK day: one keyed by it, or one claimed within it. Rows written
        before the digest day was the UK's are keyed by their UTC date, which is the day before the UK's from 23:00
        UTC in summer: the key alone would send a second digest on the UK day such a row went out in."""
        start, end = uk_day_bounds(day)
        claimed_today = sa.and_(Digest.sent_at >= start, Digest.sent_at < end)
        return session.scalar(sa.select(Digest.id).where(
            Digest.recipient_kind == kind, Digest.recipient_id == recipient,
            sa.or_(Digest.day == day, claimed_today)).limit(1)) is not None

    def _digest_sent(self, digest_id, item_ids: list, now: datetime) -> None:
        with self.database.transaction() as session:
            self.mail_pause.reachable(session)
            for item in session.scalars(sa.select(Delivery).where(Delivery.id.in_(item_ids))):
                item.status, item.sent_at, item.digest_id = "sent", now, digest_id
                session.add(DeliveryAttempt(delivery_id=item.id, attempted_at=now, outcome="sent",
                                            detail=f"in digest {digest_id}"))
        SENDS.labels("digest", "sent").inc()

    def _digest_failed(self, digest_id, item_ids: list, failure: Exception, now: datetime,
                       unreachable: bool) -> None:
        """Release today's claim so the digest is tried again; a refused address ends its items. An unreachable
        server pauses every worker's e-mail; a refused address says it is reachable."""
        permanent = is_permanent_smtp(failure)
        with self.database.transaction() as session:
            if unreachable:
                self._mail_outage(session, now, failure)
            else:
                self.mail_pause.reachable(session)
            session.execute(sa.delete(Digest).where(Digest.id == digest_id))
            for item in session.scalars(sa.select(Delivery).where(Delivery.id.in_(item_ids))):
                session.add(DeliveryAttempt(delivery_id=item.id, attempted_at=now,
                                            outcome="permanent" if permanent else "failed",
                                            detail=f"digest: {describe(failure)}"))
                if permanent:
                    self._dead(item, describe(failure))
        SENDS.labels("digest", "permanent" if permanent else "failed").inc()


# --- a failing subscriber ----------------------------------------------------------

FAILING_SUBSCRIBER = "notifications.webhook_subscriber.failing"  # the inbox item's type (no event crosses services)


def report_failing_subscriber(session: Session, subscriber: WebhookSubscriber, now: datetime) -> None:
    """One item in the subscriber's organisation inbox per failing streak (its key names the streak)."""
    since = as_utc(subscriber.failing_since).isoformat()
    routing.add_delivery(session, event_id=f"webhook-failing:{subscriber.id}:{since}", event_type=FAILING_SUBSCRIBER,
                         recipient=routing.Recipient("organisation", subscriber.organisation_id, "inbox"),
                         message_code="webhook_failing", occurred_at=now,
                         facts={"subscriber_id": str(subscriber.id), "failing_since": since})
    log.warning("webhook subscriber failing; its organisation is told", extra={
        "subscriber_id": str(subscriber.id), "failing_since": since,
        "consecutive_failures": subscriber.consecutive_failures})


# --- rendering -------------------------------------------------------------------

def said_code(delivery: Delivery) -> str:
    """The message code an e-mail is worded from: the stored one, or the variant its facts make it
    (messages.VARIANTS). E-mails queued before a variant existed kept the rule's code - notifications_0023 rewrote
    inbox items only - as do ones a consumer still running older code queues during a deployment."""
    return code_for(delivery.message_code, delivery.facts or {})


def render_email(delivery: Delivery, settings: DeliverySettings) -> EmailMessage:
    person = delivery.recipient_kind == "person"
    code = said_code(delivery)
    subject, sentence = wording(code, person=person)
    values = {"subject": subject, "sentence": sentence,
              "link": inbox_link(settings, getattr(delivery, "inbox_scope", None)),
              "details": [] if person else details(code, delivery.facts),
              "contact": delivery.recipient_kind == "contact", "settings_link": settings_link(settings)}
    name = "person" if person else "message"
    if person and delivery.message_code == CODE_MESSAGE:
        if not delivery.verification_code:
            raise PermanentFailure("the one-time code was already erased")
        name, values["code"] = "person_code", delivery.verification_code
    if person:  # a private status link, if the message carries one (erased with the address)
        values["status_link"] = settings.referrals_url.rstrip("/") + delivery.status_link \
            if delivery.status_link else None
        values["stop_link"] = f"{values['status_link']}#{STOP_EMAILS_SECTION}" if values["status_link"] else None
        service_id = (delivery.facts or {}).get("service_id")
        values["service_page"] = directory_service_page(settings.directory_url, service_id)
        values.update(person_footer(delivery.message_code, settings))
    return _message(delivery.address, subject, TEMPLATES.get_template(f"{name}.txt.j2").render(values),
                    TEMPLATES.get_template(f"{name}.html.j2").render(values), str(delivery.id), settings)


def person_footer(code: str, settings: DeliverySettings) -> dict:
    """Who writes to a resident, why, and how they stop (messages.PERSON_WHY): a status email without the private
    link points to referrals' public page for a new one, where the person's page lets them stop."""
    why, stop = person_why(code)
    return {"sender": PERSON_SENDER, "why": why, "stop": stop,
            "new_link": f"{settings.referrals_url.rstrip('/')}{NEW_LINK_PAGE}" if settings.referrals_url else None}


def render_digest(items: list[Delivery], address: str, day: date, settings: DeliverySettings,
                  digest_id: uuid.UUID | None = None, scope: str | None = None) -> EmailMessage:
    entries = [{**dict(zip(("subject", "sentence"), wording(said_code(item)))),
                "details": details(said_code(item), item.facts)} for item in items]
    values = {"items": entries, "day": uk_day(day), "link": inbox_link(settings, scope),
              "contact": bool(items) and items[0].recipient_kind == "contact", "settings_link": settings_link(settings)}
    return _message(address, f"Your WorkLink updates for {uk_day(day)} ({len(items)})",
                    TEMPLATES.get_template("digest.txt.j2").render(values),
                    TEMPLATES.get_template("digest.html.j2").render(values), f"digest-{digest_id or day}", settings)


def inbox_link(settings: DeliverySettings, scope: str | None) -> str:
    """The inbox page, opened at the inbox that holds the e-mail's news: it opens at the reader's own, which is
    empty for a team's news ("There are no messages here yet"). No scope (a digest of several): the reader's
    own, whose tabs count the unread in each."""
    return f"{settings.public_url}/messages" + (f"?scope={scope}" if scope else "")


def settings_link(settings: DeliverySettings) -> str:
    """The page a member changes their e-mail on (pages: /settings), absolute as the inbox link is."""
    return f"{settings.public_url}/settings"


def inbox_scope(session: Session, delivery: Delivery) -> str | None:
    """Which of the reader's inboxes (/messages?scope=) holds what an e-mail delivery tells: an organisation's
    contact hears the news of its organisation's inbox (the alliance's contacts the alliance's), a member their
    team's (the `team` fact) or their own."""
    if delivery.recipient_kind == "contact":
        contact = session.get(OrganisationContact, _uuid(delivery.recipient_id))  # read by current_address
        return "alliance" if contact is not None and contact.organisation_id == routing.ALLIANCE else "organisation"
    if delivery.recipient_kind == "user":
        return "organisation" if (delivery.facts or {}).get("team") else "user"
    return None  # a resident has no inbox


def _message(to: str, subject: str, text: str, html: str, ref: str, settings: DeliverySettings) -> EmailMessage:
    message = EmailMessage()
    message["To"] = to
    message["Subject"] = subject
    message["X-WorkLink-Delivery"] = ref
    # The same on every try: if a worker dies between a send and its record, the repeat carries the first
    # one's Message-ID, and mail systems that dedupe on it (as receivers dedupe webhooks on webhook-id) show one.
    message["Message-ID"] = f"<{ref}@{_mail_domain(settings)}>"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def webhook_body(delivery: Delivery) -> dict:
    return {"id": str(delivery.id), "event_id": delivery.event_id, "type": delivery.event_type,
            "message_code": delivery.message_code,
            "occurred_at": as_utc(delivery.occurred_at).isoformat() if delivery.occurred_at else None,
            "data": delivery.facts}


# --- helpers ------------------------------------------------------------------------

CANCELLED = object()  # current_address: the recipient no longer wants this e-mail


def current_address(session: Session, delivery: Delivery) -> str | None | object:
    """Where an e-mail queued for `delivery`'s recipient goes now (contacts and users can change their
    minds after routing copied the address); CANCELLED if nowhere. A resident's is the consented route."""
    if delivery.recipient_kind == "contact":
        contact = session.get(OrganisationContact, _uuid(delivery.recipient_id))
        return CANCELLED if contact is None else contact.email
    if delivery.recipient_kind == "user":
        settings = session.get(UserChannelSettings, delivery.recipient_id)
        wanted = settings is not None and settings.email_enabled and settings.email \
            and still_in_team(delivery, settings)
        return settings.email if wanted else CANCELLED
    return delivery.address


def still_in_team(delivery: Delivery, settings: UserChannelSettings) -> bool:
    """A member's team mail goes only while they belong to that team: the organisation they last signed in
    with (membership.py). Mail addressed to them in person (`team` absent) goes wherever they are."""
    team = (delivery.facts or {}).get("team")
    return team is None or team == settings.organisation_id


def _mail_domain(settings: DeliverySettings) -> str:
    return parseaddr(settings.mail_from)[1].rpartition("@")[2] or "worklink.invalid"


def consent_withdrawn(session: Session, delivery: Delivery) -> bool:
    consent = (delivery.facts or {}).get("consent_id")
    return consent is not None and session.get(RevokedConsent, uuid.UUID(consent)) is not None


def stop_person_message(delivery: Delivery) -> None:
    """The person withdrew the consent this message was requested under: never sent, address and secrets erased."""
    for name, value in routing.STOPPED.items():
        setattr(delivery, name, value)
    log.info("person message under a withdrawn consent: stopped before sending",
             extra={"delivery_id": str(delivery.id)})


def forget_person_address(delivery: Delivery) -> None:
    """A resident's address is kept only until their message is sent or given up on."""
    if delivery.recipient_kind == "person":
        delivery.address = delivery.verification_code = delivery.status_link = None


def unreachable(exc: requests.RequestException, proxy: webhook_targets.WebhookProxy | None) -> OSError:
    """A request that got no answer: our proxy's failure if it is certainly that, else the receiver unreachable."""
    if proxy is None:
        return ReceiverUnreachable(f"{type(exc).__name__}: {exc}")
    return webhook_targets.proxy_failure(exc, proxy) or ReceiverUnreachable(proxy.scrub(f"{type(exc).__name__}: {exc}"))


def cut_off(seconds: float) -> ReceiverUnreachable:
    """A webhook request cut at its deadline: as a receiver that cannot be reached (retried, no attempt spent)."""
    return ReceiverUnreachable(f"no whole answer within {seconds:g} s: the request was cut")


@contextlib.contextmanager
def _closed_after(smtp: smtplib.SMTP, seconds: float):
    """Cut the connection after `seconds` if the conversation has not ended: the call it was blocked in fails at
    once (an outage: retried later, no attempt spent) instead of outliving the delivery's lease. A shutdown, not
    a close: it wakes a receive blocked in the sending thread, which a close from another thread does not."""
    def cut() -> None:
        with contextlib.suppress(OSError, AttributeError):
            smtp.sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(max(seconds, 0.0), cut)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def is_outage(exc: Exception) -> bool:
    """Nothing to do with this message: our mail relay cannot be reached or will not take mail from us
    (refused or timed-out connection, a 4xx greeting, a dropped connection, STARTTLS or login refused,
    the sender refused), a webhook receiver cannot be reached, or our webhook proxy failed it. A refusal of this
    recipient or this message (SMTP RCPT/DATA) or any HTTP answer from a receiver is not an outage."""
    if isinstance(exc, (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError, ReceiverAnswered)):
        return False
    return isinstance(exc, OSError)  # socket errors, timeouts, TLS, every other smtplib error; ReceiverUnreachable


def asks_to_wait(exc: Exception) -> bool:
    """An answer that says "not now, try later": a webhook receiver's 5xx, 408, 425 or 429, or a mail server's
    4xx for this message (RFC 5321 4.5.4.1: retried for days, not minutes). Retried until give_up_after."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return any(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPDataError):
        return 400 <= exc.smtp_code < 500
    return isinstance(exc, ReceiverAnswered)


def queued_at(delivery: Delivery) -> datetime:
    return as_utc(delivery.resent_at or delivery.created_at)


def give_up_at(delivery: Delivery, settings: DeliverySettings) -> datetime:
    """When a delivery still unsent is given up: give_up_after after it was queued (or re-sent), but a resident's
    one-time code once it no longer works - sent later it helps no one, and the secret would be kept."""
    limit = settings.give_up_after
    if delivery.message_code == CODE_MESSAGE and delivery.recipient_kind == "person":
        limit = min(limit, CODE_VALID_FOR)
    return queued_at(delivery) + limit


def is_permanent_smtp(exc: Exception) -> bool:
    """Refused for this message (its recipient, its content), never for our own set-up: a refused login,
    a demand for STARTTLS or a refused sender would kill every message alike, so those are retried."""
    if isinstance(exc, AddressNotAccepted):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPDataError) and exc.smtp_code >= 500


# Anything shaped like an e-mail address (bare, <bracketed> or quoted in a reply): a mail server's
# refusal repeats the recipient's address, which must not outlive the address itself.
ADDRESS = re.compile(r"[^\s<>'\"(),;:]+@[^\s<>'\"(),;:]+")


def describe(exc: Exception) -> str:
    """A failure as recorded in attempts, last_error and logs: never with anyone's e-mail address."""
    return ADDRESS.sub("<address>", f"{type(exc).__name__}: {exc}")[:1000]


def in_words(span: timedelta) -> str:
    """72 hours, 1 hour, 30 minutes."""
    amount, unit = (span.total_seconds() / 3600, "hour") if span >= timedelta(hours=1) \
        else (span.total_seconds() / 60, "minute")
    return f"{amount:g} {unit}{'' if amount == 1 else 's'}"


def _uuid(value: str):
    import uuid
    return uuid.UUID(value)
