"""Webhook subscribers, an organisation's partner systems: listed, registered, changed, re-keyed and removed here for
both the API (/webhook-subscribers) and the page "Where your organisation is told" (/where-told), so the two hold
one set of rules (where a webhook may go, when a secret may be rotated) and one audit. Free of Flask.

A new signing secret is returned in clear to be shown once; its row keeps it sealed (webhook_secrets.py)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from worklink.audit import AuditTrail
from worklink.auth import Principal
from worklink.db import utcnow
from worklink.keyring import Seal
from worklink_notifications import signing, webhook_targets
from worklink_notifications.models import WebhookSubscriber
from worklink_notifications.utc import as_utc
from worklink_notifications.where_told_lock import check_version, lock_organisation, moved

RESOURCE_TYPE = "webhook_subscriber"
PURPOSE = "where the organisation is told changed"  # the audit entry's purpose


class NotYours(LookupError):
    """No such subscriber, or another organisation's: 404 rather than 403, another organisation's partner systems
    are not yours to know about."""

    def __init__(self, subscriber_id: uuid.UUID):
        super().__init__(f"No webhook subscriber {subscriber_id}.")


class UrlRefused(ValueError):
    """A URL webhooks may not go to: `title` says the rule, `reason` what is wrong with this URL (its field's
    message)."""

    def __init__(self, title: str, reason: str):
        super().__init__(title)
        self.title, self.reason = title, reason


class UrlTaken(ValueError):
    """The organisation already has a webhook to this URL. A second would send the receiver every event twice,
    under two secrets: after a form sent twice, one of them never shown, so every request it signs is refused."""

    def __init__(self, subscriber_id: uuid.UUID):
        super().__init__("There is already a webhook to this address. Change that one's events instead, or rotate "
                         "its secret if it was not copied")
        self.subscriber_id = subscriber_id


class StillSigning(Exception):
    """The last rotation's old secret still signs: another rotation now would drop it before the receiver may have
    switched, and its webhooks would fail verification."""

    def __init__(self, expires: datetime):
        super().__init__("The last rotation's old secret still signs; the receiver may not have switched yet. "
                         f"Rotate again after {expires.isoformat(timespec='seconds')}, when it expires; set "
                         "drop_previous after a leak, or keep_previous if the newest secret was not copied.")
        self.expires = expires


def check_url(url: str, env: str, environ: Mapping[str, str]) -> None:
    """In production a partner system is reached over HTTPS only (signatures prove origin, not privacy), and never
    at a loopback, private or link-local address (webhook_targets: no SSRF). Raises UrlRefused."""
    if env == "production" and not url.lower().startswith("https://"):
        raise UrlRefused("Webhook URLs must use https.", "Use an https:// URL.")
    reason = None if webhook_targets.private_targets_allowed(env, environ) else webhook_targets.refusal(url)
    if reason:
        raise UrlRefused("Webhooks go to partner systems on the public internet.", reason)


def listed(session: Session, organisation_id: str | None = None) -> list[WebhookSubscriber]:
    """An organisation's subscribers, oldest first (every organisation's without one)."""
    query = sa.select(WebhookSubscriber).order_by(WebhookSubscriber.created_at)
    if organisation_id is not None:
        query = query.where(WebhookSubscriber.organisation_id == organisation_id)
    return list(session.scalars(query))


def visible(session: Session, principal: Principal, subscriber_id: uuid.UUID,
            organisation_id: str | None = None) -> WebhookSubscriber:
    """The subscriber, if the user acts for its organisation (and it is `organisation_id`'s, when given)."""
    subscriber = session.get(WebhookSubscriber, subscriber_id)
    if subscriber is None or not principal.acts_for(subscriber.organisation_id) or (
            organisation_id is not None and subscriber.organisation_id != organisation_id):
        raise NotYours(subscriber_id)
    return subscriber


def create(session: Session, audit: AuditTrail, principal: Principal, seal: Seal, organisation_id: str, url: str,
           event_types: Iterable[str]) -> tuple[WebhookSubscriber, str]:
    """A new subscriber (its URL checked first, `check_url`) and its signing secret in clear, to show once. Raises
    UrlTaken if the organisation has a webhook to that URL already."""
    lock_organisation(session, organisation_id)  # a form sent twice: the second sees the first's row
    _refuse_taken(session, organisation_id, url)
    secret = signing.new_secret()
    subscriber = WebhookSubscriber(organisation_id=organisation_id, url=url, event_types=",".join(event_types),
                                   secret=seal.seal(secret))
    session.add(subscriber)
    session.flush()
    _audit(session, audit, principal, "create", subscriber)
    return subscriber, secret


def change(session: Session, audit: AuditTrail, principal: Principal, subscriber: WebhookSubscriber,
           body: Mapping[str, Any], env: str, environ: Mapping[str, str]) -> WebhookSubscriber:
    """A new URL, event types, or switched on or off (SubscriberPatch, loaded), from the subscriber as it was at
    the body's `version` (left out: not checked, for switching on or off). Raises UrlRefused, UrlTaken for the URL
    of another of the organisation's webhooks, or ChangedMeanwhile if someone else changed it since."""
    body = dict(body)
    read_version = body.pop("version", None)
    if "url" in body:
        check_url(body["url"], env, environ)
    check_version(session, subscriber, read_version)
    if "url" in body:
        _refuse_taken(session, subscriber.organisation_id, body["url"], other_than=subscriber.id)
    for name, value in body.items():
        setattr(subscriber, name, ",".join(value) if name == "event_types" else value)
    moved(subscriber)
    _audit(session, audit, principal, "update", subscriber)
    return subscriber


def rotate(session: Session, audit: AuditTrail, principal: Principal, seal: Seal, subscriber: WebhookSubscriber,
           grace_hours: int, drop_previous: bool, read_version: int | None = None, keep_previous: bool = False) -> str:
    """A new secret now (returned in clear, to show once); the old one also signs for `grace_hours` so the receiver
    can switch. While the last rotation's old secret still signs, raises StillSigning unless `drop_previous` (after
    a leak: it stops at once) or `keep_previous` (the newest secret was never copied - its answer was lost - so it is
    the one replaced, and the old one the receiver still uses signs on until it expires). Raises ChangedMeanwhile if
    made from an older `read_version`: a rotation sent twice (a double click) would otherwise rotate twice, and with
    `drop_previous` the second would stop the secret the receiver still uses. Rotations of one webhook take turns,
    so two at once cannot both pass these checks."""
    check_version(session, subscriber, read_version)
    still_signing = previous_signs_until(subscriber)
    if still_signing and not (drop_previous or keep_previous):
        raise StillSigning(still_signing)
    secret = signing.new_secret()
    if not (still_signing and keep_previous):
        subscriber.previous_secret = subscriber.secret  # sealed as it was
        subscriber.previous_secret_expires_at = utcnow() + timedelta(hours=grace_hours)
    subscriber.secret = seal.seal(secret)
    moved(subscriber)
    _audit(session, audit, principal, "update", subscriber)
    return secret


def previous_signs_until(subscriber: WebhookSubscriber) -> datetime | None:
    """Until when the last rotation's old secret also signs, if it still does."""
    expires = subscriber.previous_secret_expires_at
    return as_utc(expires) if expires and as_utc(expires) > utcnow() else None


def remove(session: Session, audit: AuditTrail, principal: Principal, subscriber: WebhookSubscriber) -> None:
    """Gone for good: its queued webhooks are not sent (delivery: "the webhook subscriber was removed")."""
    _audit(session, audit, principal, "delete", subscriber)
    session.delete(subscriber)


def _refuse_taken(session: Session, organisation_id: str, url: str, other_than: uuid.UUID | None = None) -> None:
    taken = session.scalar(sa.select(WebhookSubscriber.id).where(
        WebhookSubscriber.organisation_id == organisation_id, WebhookSubscriber.url == url,
        WebhookSubscriber.id != other_than if other_than else sa.true()).limit(1))
    if taken:
        raise UrlTaken(taken)


def _audit(session: Session, audit: AuditTrail, principal: Principal, action: str,
           subscriber: WebhookSubscriber) -> None:
    audit.record(session, action=action, resource_type=RESOURCE_TYPE, resource_id=str(subscriber.id),
                 principal=principal, purpose=PURPOSE)
