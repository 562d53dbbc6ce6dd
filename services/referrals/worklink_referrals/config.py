"""Referrals settings read from the environment (working-day targets, routing, caseload)."""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from typing import Mapping

from worklink import retention
from worklink.config import ConfigError, whole_number
from worklink.keyring import previous_keys
from worklink.pseudonyms import service_key
from worklink.sites import site_url
from worklink_referrals.domain import SELF_REFERRAL_ORG, ClockTargets  # noqa: F401 - SELF_REFERRAL_ORG: as before

log = logging.getLogger(__name__)

# Keys the person's match key and the person id notifications keeps (worklink.pseudonyms.keyed_reference).
# Referrals alone holds it: with it, anyone who knows a person's name, birth date and postcode could
# find their messages. Production must set REFERRALS_PERSON_KEY.
PERSON_KEY_VARIABLE = "REFERRALS_PERSON_KEY"
DEVELOPMENT_PERSON_KEY = "referrals-development-person-key-do-not-use-in-production"


def _bank_holidays() -> frozenset[date]:
    """England and Wales bank holidays shipped with the service (gov.uk's bank-holidays.json shape)."""
    text = resources.files("worklink_referrals").joinpath("data/bank_holidays_england_and_wales.json").read_text(
        encoding="utf-8")
    return frozenset(date.fromisoformat(event["date"]) for event in json.loads(text)["events"])


BANK_HOLIDAYS = _bank_holidays()


def calendar_gap(holidays: frozenset[date], today: date) -> str | None:
    """Why the holiday calendar cannot be trusted for the next 12 months, or None if it covers them.

    A year counts as covered once it holds any holiday (every year has at least eight)."""
    needed = today + timedelta(days=365)
    covered = {day.year for day in holidays}
    missing = [year for year in range(today.year, needed.year + 1) if year not in covered]
    if missing:
        return (f"The bank-holiday calendar has no dates for {', '.join(map(str, missing))}: working-day "
                "targets would count bank holidays as working days. Update "
                "worklink_referrals/data/bank_holidays_england_and_wales.json or set REFERRALS_HOLIDAYS.")
    return None


@dataclass(frozen=True)
class ReferralSettings:
    clocks: ClockTargets = ClockTargets(holidays=BANK_HOLIDAYS)
    # Directory taxonomy terms that mark an employment-adviser service; empty = any service.
    routing_taxonomy: frozenset[uuid.UUID] = frozenset()
    caseload_limit: int = 20  # IPS fidelity: at most 20 active clients per adviser
    failed_contact_attempts: int = 3  # N: closed as failed contact after N unanswered attempts (>= 2 channels)
    self_referral_code_minutes: int = 30
    # Self-referral starts (each sends a code) per contact address and per client IP, sliding window.
    self_referral_limit_contact: int = 3
    self_referral_limit_ip: int = 10
    self_referral_window_seconds: int = 3600
    # Changes of a person's answer about status emails per referral in the same window: each stop revokes a consent
    # at notifications (an event), each start makes a new one; a status link could switch them without end.
    status_email_changes_limit: int = 6
    expose_codes: bool = False  # development/test only: return verification codes instead of sending them
    person_key: str = DEVELOPMENT_PERSON_KEY
    previous_person_keys: tuple[str, ...] = ()  # retired by a rotation: the clock job re-keys what they made
    # The directory's address (worklink.sites: the local one outside production, none in it unless set): the
    # self-referral page sends people without email to local support, the person's page links their service.
    directory_url: str = ""
    # Years after a referral ended (its last step, outcome or sustainment check) before the person's details
    # are erased from it (rights.apply_retention). 6: a common figure for employment programme records;
    # the alliance's information governance lead should confirm it.
    retention_years: int = 6
    # The person's status link stops working this many days after the referral ends (or after the link was sent,
    # if later: a new link for an ended referral works as long), and this many days after it was sent whatever
    # the referral's state: a forwarded or leaked link showed a health-related referral until the erasure, years
    # on. The person gets a new one at their verified email (services.renew_status_links).
    status_link_days_after_end: int = 90
    status_link_max_days: int = 365
    # A request for a new link this many minutes or less after the last one emailed (or while that one waits) emails
    # no other: two quick requests sent two emails, the first link dead before it was read. 0: every request does.
    status_link_repeat_minutes: int = 15

    @property
    def codes_by_phone(self) -> bool:
        """Notifications sends no text messages yet: a code reaches a phone only shown on screen (development)."""
        return self.expose_codes

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, today: date | None = None) -> "ReferralSettings":
        env = os.environ if environ is None else environ
        # Shipped England and Wales bank holidays, plus any the operator adds (a one-off holiday, a local closure).
        holidays = BANK_HOLIDAYS | frozenset(_listed(env, "REFERRALS_HOLIDAYS", date.fromisoformat, "a date (2026-12-29)"))
        gap = calendar_gap(holidays, today or date.today())
        if gap:
            log.warning(gap)
        return cls(
            clocks=ClockTargets(
                acknowledge=whole_number(env, "REFERRALS_ACKNOWLEDGE_DAYS", 2, minimum=0),
                first_contact_attempt=whole_number(env, "REFERRALS_FIRST_CONTACT_ATTEMPT_DAYS", 5, minimum=0),
                first_meeting=whole_number(env, "REFERRALS_FIRST_MEETING_DAYS", 10, minimum=0),
                holidays=holidays),
            routing_taxonomy=frozenset(_listed(env, "REFERRALS_ROUTING_TAXONOMY", uuid.UUID, "a taxonomy term id")),
            caseload_limit=whole_number(env, "REFERRALS_CASELOAD_LIMIT", 20, minimum=0),
            failed_contact_attempts=whole_number(env, "REFERRALS_FAILED_CONTACT_ATTEMPTS", 3, minimum=0),
            self_referral_limit_contact=whole_number(env, "REFERRALS_SELF_REFERRAL_LIMIT_CONTACT", 3, minimum=0),
            self_referral_limit_ip=whole_number(env, "REFERRALS_SELF_REFERRAL_LIMIT_IP", 10, minimum=0),
            self_referral_window_seconds=whole_number(env, "REFERRALS_SELF_REFERRAL_WINDOW_SECONDS", 3600),
            status_email_changes_limit=whole_number(env, "REFERRALS_STATUS_EMAIL_CHANGES_LIMIT", 6, minimum=0),
            expose_codes=env.get("WORKLINK_ENV", "development") != "production",
            person_key=person_key(env),
            previous_person_keys=previous_keys(env, PERSON_KEY_VARIABLE),
            directory_url=site_url(env, "REFERRALS_DIRECTORY_URL", "directory",
                                   env.get("WORKLINK_ENV", "development")),
            retention_years=retention_years(env),
            status_link_days_after_end=whole_number(env, "REFERRALS_STATUS_LINK_DAYS_AFTER_END", 90, minimum=0),
            status_link_max_days=whole_number(env, "REFERRALS_STATUS_LINK_MAX_DAYS", 365, minimum=1),
            status_link_repeat_minutes=whole_number(env, "REFERRALS_STATUS_LINK_REPEAT_MINUTES", 15, minimum=0),
        )


def _listed(env: Mapping[str, str], variable: str, parse, what: str) -> list:
    """A comma-separated setting, each item parsed; one that is not `what` is refused by the variable's name
    (date.fromisoformat and uuid.UUID named the value only, in a traceback)."""
    parsed = []
    for item in (item.strip() for item in env.get(variable, "").split(",")):
        try:
            parsed += [parse(item)] if item else []
        except ValueError:
            raise ConfigError(f"{variable}: {item!r} is not {what}") from None
    return parsed


def retention_years(env: Mapping[str, str]) -> int:
    """REFERRALS_RETENTION_YEARS (default 6): a whole number of years, at least 1."""
    return retention.retention_years(env, "REFERRALS_RETENTION_YEARS", 6)


def person_key(env: Mapping[str, str]) -> str:
    """REFERRALS_PERSON_KEY: 32 or more characters in production, where the development key is refused."""
    return service_key(env, PERSON_KEY_VARIABLE, DEVELOPMENT_PERSON_KEY)


def check(settings) -> None:
    """Every referrals process refuses to start on a missing or unsafe setting (worklink.service): the
    consumer reads these per event, where a ConfigError would only be retried and dead-lettered."""
    retention.audit_retention_years(os.environ, records_kept_years=ReferralSettings.from_env().retention_years)
    job_interval_seconds()


def job_interval_seconds(env: Mapping[str, str] | None = None) -> int:
    """REFERRALS_JOB_INTERVAL_SECONDS (300): how often the clock job looks."""
    return whole_number(os.environ if env is None else env, "REFERRALS_JOB_INTERVAL_SECONDS", 300)
