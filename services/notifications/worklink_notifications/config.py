"""Notifications settings checked as each of its processes starts (worklink.service)."""

from __future__ import annotations

import os
from typing import Mapping

from worklink.config import ConfigError
from worklink.keyring import Seal, key_ring
from worklink.pseudonyms import service_key
from worklink.retention import audit_retention_years

# Where links in e-mails point and who the mail is from: their development defaults (127.0.0.1, a .invalid
# sender) would send residents a status link to their own computer, so production must name them.
PRODUCTION_NEEDS = ("NOTIFICATIONS_PUBLIC_URL", "NOTIFICATIONS_REFERRALS_URL", "NOTIFICATIONS_MAIL_FROM")

# Seals webhook signing secrets at rest (webhook_secrets.py): with a copy of the database and not this key, no one
# can sign a webhook a partner would believe. This service alone holds it; production must set it. To change it,
# move the old key to NOTIFICATIONS_WEBHOOK_SECRET_KEY_PREVIOUS: the delivery worker re-seals every secret under the
# new one (rekeying.reseal_webhook_secrets), then the operator drops the old key.
WEBHOOK_SECRET_KEY_VARIABLE = "NOTIFICATIONS_WEBHOOK_SECRET_KEY"
DEVELOPMENT_WEBHOOK_SECRET_KEY = "notifications-development-webhook-secret-key-do-not-use-in-production"


def webhook_secret_seal(env: Mapping[str, str] | None = None) -> Seal:
    """Seals under NOTIFICATIONS_WEBHOOK_SECRET_KEY (32 or more characters in production, where the development
    key is refused), opens under it and the keys a rotation retired (its _PREVIOUS)."""
    env = os.environ if env is None else env
    key = service_key(env, WEBHOOK_SECRET_KEY_VARIABLE, DEVELOPMENT_WEBHOOK_SECRET_KEY)
    return Seal(*key_ring(key, env, WEBHOOK_SECRET_KEY_VARIABLE))


def check(settings, env: Mapping[str, str] | None = None) -> None:
    from worklink_notifications import links
    from worklink_notifications.delivery import DeliverySettings
    from worklink_notifications.retention import RetentionSchedule

    env = os.environ if env is None else env
    missing = [name for name in PRODUCTION_NEEDS if settings.env == "production" and not env.get(name, "").strip()]
    if missing:
        raise ConfigError(f"production needs {', '.join(missing)} set (the development defaults name this machine)")
    try:
        DeliverySettings.from_env(env)
    except ValueError as exc:  # its own checks (STARTTLS off this machine, a proxy URL) name the variable
        raise ConfigError(str(exc)) from None
    links.sites(env, settings.env)  # the inbox's links to each record's page (NOTIFICATIONS_ADJUSTMENTS_URL too)
    RetentionSchedule.from_env(env)
    audit_retention_years(env)  # its records are kept a year at most
    webhook_secret_seal(env)
