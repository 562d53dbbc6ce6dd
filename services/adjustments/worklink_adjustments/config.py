"""Adjustments settings read from the environment that more than the web app needs (the sweep, migrations)."""

from __future__ import annotations

import os
from typing import Mapping

from worklink.config import ConfigError, whole_number
from worklink.keyring import previous_keys
from worklink.pseudonyms import service_key
from worklink.retention import audit_retention_years
from worklink.sites import site_url

# Keys the pseudonym the audit trail names a patient by instead of their NHS number
# (worklink.pseudonyms.keyed_reference). This service alone holds it: with it, anyone who knows an NHS
# number could find that person's accesses. Production must set ADJUSTMENTS_PERSON_KEY. To change it, move the
# old key to ADJUSTMENTS_PERSON_KEY_PREVIOUS: the sweep (or `worklink adjustments rekey-audit`) re-keys the
# references already written (rekeying.py); until it has, a review by NHS number finds the re-keyed ones only.
PERSON_KEY_VARIABLE = "ADJUSTMENTS_PERSON_KEY"
DEVELOPMENT_PERSON_KEY = "adjustments-development-person-key-do-not-use-in-production"


def person_key(env: Mapping[str, str]) -> str:
    """ADJUSTMENTS_PERSON_KEY: 32 or more characters in production, where the development key is refused."""
    return service_key(env, PERSON_KEY_VARIABLE, DEVELOPMENT_PERSON_KEY)


def previous_person_keys(env: Mapping[str, str]) -> tuple[str, ...]:
    """ADJUSTMENTS_PERSON_KEY_PREVIOUS: keys a rotation retired, whose references are re-keyed (rekeying.py)."""
    return previous_keys(env, PERSON_KEY_VARIABLE)


# How long a referral request may go without any answer from the referrals service before the sweep marks it
# not yet received and tells operations (services.flag_unanswered_requests). Referrals answers within minutes
# (its intake publishes `received` or `held`); a day rides out a restart, a deploy or an evening outage without
# crying wolf, and leaves two of the hand-over topic's three days of retention (its dead letters: seven) to
# re-drive it before Kafka deletes it.
REFERRAL_ANSWER_HOURS_VARIABLE = "ADJUSTMENTS_REFERRAL_ANSWER_HOURS"
DEFAULT_REFERRAL_ANSWER_HOURS = 24


def referral_answer_hours(env: Mapping[str, str]) -> int:
    """ADJUSTMENTS_REFERRAL_ANSWER_HOURS: a whole number of hours, 1 or more (24 by default)."""
    return whole_number(env, REFERRAL_ANSWER_HOURS_VARIABLE, DEFAULT_REFERRAL_ANSWER_HOURS, unit="hours")


def link_ttl_days(env: Mapping[str, str]) -> int:
    """ADJUSTMENTS_LINK_TTL_DAYS: how long an employer's reply link works, in whole days (60 by default)."""
    return whole_number(env, "ADJUSTMENTS_LINK_TTL_DAYS", 60, unit="days")


def referrals_url(env: Mapping[str, str], environment: str) -> str:
    """The referrals site: where a clinician follows a referral to its outcomes, and an adviser's work is."""
    return site_url(env, "ADJUSTMENTS_REFERRALS_URL", "referrals", environment)


def check(settings) -> None:
    """Every adjustments process refuses to start without its production secrets (worklink.service)."""
    from worklink_adjustments import rights
    from worklink_adjustments.app import LINK_SECRET_VARIABLE, _link_secret

    person_key(os.environ)
    previous_person_keys(os.environ)
    referral_answer_hours(os.environ)
    link_ttl_days(os.environ)
    referrals_url(os.environ, settings.env)
    _link_secret(settings)
    previous_keys(os.environ, LINK_SECRET_VARIABLE)
    _allowed_hosts(settings)
    audit_retention_years(os.environ, records_kept_years=rights.retention_years(os.environ))


def _allowed_hosts(settings) -> None:
    """The employer's reply link printed in a letter is built from the request's host name: in production the
    service must name the hosts it answers to, or a request naming another host could put that in a letter."""
    if settings.env == "production" and not settings.allowed_hosts:
        raise ConfigError("production needs WORKLINK_ALLOWED_HOSTS set (the host names adjustments answers to): "
                          "the employer's reply link in a letter is built from the request's host name")
