"""Notifications settings checked as each of its processes starts (worklink.service)."""

from __future__ import annotations

import os
from typing import Mapping

from worklink.config import ConfigError
from worklink.retention import audit_retention_years

# Where links in e-mails point and who the mail is from: their development defaults (127.0.0.1, a .invalid
# sender) would send residents a status link to their own computer, so production must name them.
PRODUCTION_NEEDS = ("NOTIFICATIONS_PUBLIC_URL", "NOTIFICATIONS_REFERRALS_URL", "NOTIFICATIONS_MAIL_FROM")


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
