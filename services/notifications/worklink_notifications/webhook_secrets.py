"""Webhook signing secrets, sealed at rest.

A subscriber's `whsec_...` secret (and, through a rotation's grace period, the previous one) must stay
recoverable - the worker signs each webhook with it (HMAC) - so it is encrypted rather than hashed: the rows hold
it sealed under NOTIFICATIONS_WEBHOOK_SECRET_KEY (config.webhook_secret_seal; Fernet, worklink.keyring.Seal), so a
copy of the database or a backup signs nothing. The API shows a secret in clear once, when it is made; only the
delivery worker opens it, to sign. Migration 0021 sealed the secrets stored before.

A value still in clear (`whsec_` first: written by an older replica during a rolling deploy) is used as it is and
sealed by the worker's next re-seal pass (rekeying.reseal_webhook_secrets), as are those a retired key sealed.
"""

from __future__ import annotations

from datetime import datetime

from worklink.keyring import Seal
from worklink_notifications import signing
from worklink_notifications.models import WebhookSubscriber
from worklink_notifications.utc import as_utc


def in_clear(stored: str) -> bool:
    return stored.startswith(signing.PREFIX)


def opened(stored: str, seal: Seal) -> str:
    """The secret a stored value holds (raises worklink.keyring.Unopenable under keys that did not seal it)."""
    return stored if in_clear(stored) else seal.open(stored)


def signing_secrets(subscriber: WebhookSubscriber, seal: Seal, now: datetime) -> list[str]:
    """The secrets that sign now: the current one, and the previous one until its grace period ends."""
    secrets = [opened(subscriber.secret, seal)]
    expires = subscriber.previous_secret_expires_at
    if subscriber.previous_secret and expires and as_utc(expires) > now:
        secrets.append(opened(subscriber.previous_secret, seal))
    return secrets
