"""Records retention (no Flask): what notifications keeps about a message once it has finished, and for how long.

UK GDPR storage limitation: an address, a resident's secrets and a server's reply are needed to send a
message and to answer "did it go?" for a while after; the row itself (ids, codes, channel, status, times)
serves delivery statistics longer, and then goes too. The delivery worker runs `apply` at start and hourly
(DeliveryWorker.apply_retention_when_due; `deliver --once` too), each step in batches of their own
transactions and at most rows_per_pass rows a pass, idempotent, logged as counts. Nothing pending, retrying
or waiting for a digest is ever touched.

- content (NOTIFICATIONS_RETENTION_CONTENT_DAYS, 30): a finished e-mail or webhook delivery loses its address,
  code and status link, and its error and attempts' server replies are cut to codes (`redacted_at`); a sent
  digest loses its address.
- person messages (NOTIFICATIONS_RETENTION_PERSON_MESSAGE_DAYS, 30; at least MESSAGE_ARRIVAL): a resident's
  delivery (their pseudonymous id, consent and referral ids) is deleted, each deletion audited.
- read inbox items (NOTIFICATIONS_RETENTION_READ_INBOX_DAYS, 183) are deleted.
- deliveries (NOTIFICATIONS_RETENTION_DELIVERY_DAYS, 365): every finished row (unread inbox items too), its
  attempts, and digests are deleted.
- a withdrawn consent (revoked_consent) is kept `revoked_consent_keep(give_up_after)`.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from worklink.audit import AuditTrail
from worklink.config import ConfigError, positive_number
from worklink.db import Database
from worklink.retention import RETENTION, SYSTEM, erase_in_batches
from worklink_notifications.admin import RECORD_TYPE
from worklink_notifications.models import PLATFORM, Delivery, DeliveryAttempt, Digest

log = logging.getLogger(__name__)
AUDIT = AuditTrail(PLATFORM)
BATCH = 500  # rows per transaction: a first run over a year of inbox rows takes no long locks

SENT, UNSENT_ENDS = "sent", ("dead", "cancelled", "revoked")  # how a delivery the worker handles ends
# How long a message under a consent can still reach us after the consent's withdrawal was recorded: on
# notifications.person-messages for its retention (3 days), then, dead-lettered, on its .dlt for that one's
# (7 days) and re-driven from there, plus 4 days' margin (segment ages, a stopped consumer, a late re-drive).
# A test keeps it above deploy/topics.toml.
MESSAGE_ARRIVAL = timedelta(days=3) + timedelta(days=7) + timedelta(days=4)
# A resident's address on a dead delivery is kept this long (for a re-send), then erased by the worker.
DEAD_PERSON_ADDRESS_KEEP = timedelta(days=7)


def revoked_consent_keep(give_up_after: timedelta) -> timedelta:
    """How long a withdrawn consent is remembered: while a message under it could still be sent. One arriving
    later is dropped on arrival, so as long as one can arrive (MESSAGE_ARRIVAL); and one queued as the
    withdrawal was recorded (on another partition, after its owner re-keyed the person) is stopped by the
    worker when it comes to send it, which can be up to give_up_after after it was queued, or after a re-send
    of it dead - possible while its address is kept (DEAD_PERSON_ADDRESS_KEEP)."""
    return max(MESSAGE_ARRIVAL, DEAD_PERSON_ADDRESS_KEEP + give_up_after)


@dataclass(frozen=True)
class RetentionSchedule:
    content: timedelta = timedelta(days=30)
    person_messages: timedelta = timedelta(days=30)
    read_inbox: timedelta = timedelta(days=183)
    deliveries: timedelta = timedelta(days=365)
    # The worker's retry horizon (NOTIFICATIONS_GIVE_UP_HOURS): an unsent delivery ended at most this long
    # after it was queued, so it counts as ended then (or at its last attempt, if later).
    give_up_after: timedelta = timedelta(hours=72)
    batch: int = BATCH
    # At most this many rows per step in one pass: the worker sends nothing while a pass runs, so a first pass
    # over years of rows is spread over several (DeliveryWorker.apply_retention_when_due comes back sooner).
    rows_per_pass: int = 10 * BATCH

    @property
    def revoked_consents(self) -> timedelta:
        return revoked_consent_keep(self.give_up_after)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "RetentionSchedule":
        env = os.environ if env is None else env
        schedule = cls(
            content=_days(env, "NOTIFICATIONS_RETENTION_CONTENT_DAYS", cls.content),
            person_messages=_days(env, "NOTIFICATIONS_RETENTION_PERSON_MESSAGE_DAYS", cls.person_messages),
            read_inbox=_days(env, "NOTIFICATIONS_RETENTION_READ_INBOX_DAYS", cls.read_inbox),
            deliveries=_days(env, "NOTIFICATIONS_RETENTION_DELIVERY_DAYS", cls.deliveries),
            give_up_after=timedelta(hours=positive_number(env, "NOTIFICATIONS_GIVE_UP_HOURS", 72, unit="hours")))
        return schedule.checked()

    def checked(self) -> "RetentionSchedule":
        if self.person_messages < MESSAGE_ARRIVAL:
            # The row is what sends a repeated request once: it must outlive every copy that can still arrive.
            raise ConfigError(f"NOTIFICATIONS_RETENTION_PERSON_MESSAGE_DAYS must be at least "
                              f"{MESSAGE_ARRIVAL.days} (a repeat of the message can arrive that long)")
        for name in ("content", "read_inbox"):
            if getattr(self, name) > self.deliveries:
                raise ConfigError(f"NOTIFICATIONS_RETENTION_{name.upper()}_DAYS cannot be longer than "
                                  "NOTIFICATIONS_RETENTION_DELIVERY_DAYS (the rows are deleted then)")
        return self

    def removed_note(self) -> str:
        """What an administrator reads where a removed address was."""
        return f"Removed after {self.content.days} days"


def _days(env: Mapping[str, str], variable: str, default: timedelta) -> timedelta:
    text = env.get(variable, str(default.days)).strip()
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{variable} must be a whole number of days, at least 1 (got {text!r})")
    return timedelta(days=int(text))


# --- what has ended, and when ----------------------------------------------------------------------------------


def ended_before(cutoff: datetime, give_up_after: timedelta) -> sa.ColumnElement[bool]:
    """Deliveries finished before `cutoff`: sent then, an inbox item made then, or given up, cancelled or
    stopped - which has no time of its own, so: queued more than give_up_after before it (the latest it could
    end) and no attempt since."""
    queued = sa.func.coalesce(Delivery.resent_at, Delivery.created_at)
    tried_since = sa.exists().where(DeliveryAttempt.delivery_id == Delivery.id, DeliveryAttempt.attempted_at >= cutoff)
    return sa.or_(
        sa.and_(Delivery.status == SENT, Delivery.sent_at < cutoff),
        sa.and_(Delivery.status == "delivered", Delivery.channel == "inbox", Delivery.created_at < cutoff),
        sa.and_(Delivery.status.in_(UNSENT_ENDS), queued < cutoff - give_up_after, ~tried_since))


def _locked(query: sa.Select, database: Database) -> sa.Select:
    """PostgreSQL: rows another transaction holds (a re-send, the worker) wait for the next run."""
    return query.with_for_update(skip_locked=True) if database.dialect == "postgresql" else query


# --- server replies cut to codes -------------------------------------------------------------------------------

_KIND = re.compile(r"\b([A-Z][A-Za-z0-9_]*(?:Error|Refused|Exception|Failure|Unreachable|Disconnected|Answered))\b"
                   r"|\b(HTTP) [1-5][0-9][0-9]\b")
_CODE = re.compile(r"(?<![\w.-])(?:[45][0-9][0-9]|[245]\.[0-9]{1,3}\.[0-9]{1,3})(?![\w.-])")
_RETRY_AFTER = re.compile(r"\(Retry-After:[^)]*\)")


def reply_codes(detail: str | None) -> str | None:
    """A failure's text cut to what statistics need: its kind and status codes ("SMTPRecipientsRefused 550
    5.1.1", "HTTP 503"). A server's reply can repeat a name or anything else, so its words go."""
    if not detail:
        return detail
    kind = next((m.group(1) or m.group(2) for m in _KIND.finditer(detail)), None)
    codes = list(dict.fromkeys(_CODE.findall(_RETRY_AFTER.sub("", detail))))[:4]
    return " ".join(([kind] if kind else []) + codes) or "details removed"


# --- the steps --------------------------------------------------------------------------------------------------


def redact_deliveries(session: Session, database: Database, schedule: RetentionSchedule, now: datetime,
                      limit: int) -> int:
    """Finished e-mail and webhook deliveries past the support window lose their personal content."""
    rows = list(session.scalars(_locked(sa.select(Delivery).where(
        Delivery.redacted_at.is_(None), Delivery.channel != "inbox", Delivery.recipient_kind != "person",
        ended_before(now - schedule.content, schedule.give_up_after)).limit(limit), database)))
    for delivery in rows:
        delivery.address = delivery.verification_code = delivery.status_link = None
        delivery.last_error = reply_codes(delivery.last_error)
        delivery.redacted_at = now
    for attempt in session.scalars(sa.select(DeliveryAttempt).where(
            DeliveryAttempt.delivery_id.in_([d.id for d in rows]), DeliveryAttempt.detail.is_not(None))):
        attempt.detail = reply_codes(attempt.detail)
    return len(rows)


def delete_person_messages(session: Session, database: Database, schedule: RetentionSchedule, now: datetime,
                           limit: int) -> int:
    """A resident's delivery, once finished and past its window, is deleted; each deletion is audited as
    every look at one is (admin.audit_people)."""
    rows = session.execute(_locked(sa.select(Delivery.id, Delivery.recipient_id).where(
        Delivery.recipient_kind == "person",
        ended_before(now - schedule.person_messages, schedule.give_up_after)).limit(limit), database)).all()
    _delete(session, [row.id for row in rows])
    AUDIT.record_many(session, action="delete", resource_type=RECORD_TYPE, purpose=RETENTION, principal=SYSTEM,
                      records=[(str(row.id), row.recipient_id) for row in rows])
    return len(rows)


def delete_read_inbox(session: Session, database: Database, schedule: RetentionSchedule, now: datetime,
                      limit: int) -> int:
    ids = list(session.scalars(_locked(sa.select(Delivery.id).where(
        Delivery.channel == "inbox", Delivery.read_at < now - schedule.read_inbox).limit(limit), database)))
    _delete(session, ids)
    return len(ids)


def delete_deliveries(session: Session, database: Database, schedule: RetentionSchedule, now: datetime,
                      limit: int) -> int:
    """Every finished delivery older than the statistics horizon, with its attempts (a resident's went earlier)."""
    ids = list(session.scalars(_locked(sa.select(Delivery.id).where(
        Delivery.recipient_kind != "person",
        ended_before(now - schedule.deliveries, schedule.give_up_after)).limit(limit), database)))
    _delete(session, ids)
    return len(ids)


def redact_digests(session: Session, database: Database, schedule: RetentionSchedule, now: datetime,
                   limit: int) -> int:
    """A sent digest's staff address goes after the support window (the row guards one digest a day)."""
    rows = list(session.scalars(_locked(sa.select(Digest).where(
        Digest.redacted_at.is_(None), Digest.sent_at < now - schedule.content).limit(limit), database)))
    for digest in rows:
        digest.address, digest.redacted_at = None, now
    return len(rows)


def delete_digests(session: Session, database: Database, schedule: RetentionSchedule, now: datetime,
                   limit: int) -> int:
    """Digests past the statistics horizon that no remaining delivery names."""
    named = sa.exists().where(Delivery.digest_id == Digest.id)
    ids = list(session.scalars(_locked(sa.select(Digest.id).where(
        Digest.sent_at < now - schedule.deliveries, ~named).limit(limit), database)))
    if ids:
        session.execute(sa.delete(Digest).where(Digest.id.in_(ids)))
    return len(ids)


def _delete(session: Session, ids: list) -> None:
    if ids:
        session.execute(sa.delete(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(ids)))
        session.execute(sa.delete(Delivery).where(Delivery.id.in_(ids)))


STEPS = {"deliveries_redacted": redact_deliveries, "person_messages_deleted": delete_person_messages,
         "read_inbox_deleted": delete_read_inbox, "deliveries_deleted": delete_deliveries,
         "digests_redacted": redact_digests, "digests_deleted": delete_digests}


def apply(database: Database, schedule: RetentionSchedule, now: datetime) -> dict[str, int]:
    """One retention pass: each step in batches of their own transactions until nothing is left or it has done
    rows_per_pass; counts."""
    counts = {name: _up_to(database, step, schedule, now) for name, step in STEPS.items()}
    log.info("retention", extra=counts)
    return counts


def unfinished(counts: dict[str, int], schedule: RetentionSchedule) -> bool:
    """Did a step stop at rows_per_pass (more may be due)?"""
    return any(done >= schedule.rows_per_pass for done in counts.values())


def _up_to(database: Database, step, schedule: RetentionSchedule, now: datetime) -> int:
    left = schedule.rows_per_pass

    def batch(session: Session, limit: int) -> int:
        nonlocal left
        done = step(session, database, schedule, now, min(limit, left))
        left -= done
        return done if left > 0 else min(done, limit - 1)  # a short batch ends erase_in_batches

    erase_in_batches(database, batch, schedule.batch)
    return schedule.rows_per_pass - left
