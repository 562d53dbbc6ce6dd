"""Directory settings checked as each of its processes starts (worklink.service)."""

from __future__ import annotations

import os
from typing import Mapping

from worklink.config import ConfigError
from worklink.retention import audit_retention_years


def check(settings, env: Mapping[str, str] | None = None) -> None:
    """Without DIRECTORY_GEOCODER_URL postcodes are placed from the bundled demo table (invented Somerset
    postcodes): in production residents' real postcodes would be refused or put in the wrong place."""
    from worklink_directory import services
    from worklink_directory.app import referrals_url
    from worklink_directory.geocode import geocoder_url

    env = os.environ if env is None else env
    referrals_url(env, settings.env)  # the self-referral links; read by the web app alone, checked by every process
    if settings.env == "production" and not geocoder_url(env):
        raise ConfigError("production needs DIRECTORY_GEOCODER_URL (a postcodes.io-compatible API); "
                          "the bundled postcode table is demo data")
    try:
        services.review_period(env)
    except ValueError as exc:  # it names DIRECTORY_REVIEW_PERIOD_DAYS
        raise ConfigError(str(exc)) from None
    audit_retention_years(env)
