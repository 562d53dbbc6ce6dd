"""Directory settings checked as each of its processes starts (worklink.service)."""

from __future__ import annotations

import os
from typing import Mapping

from worklink.config import ConfigError, require_https
from worklink.retention import audit_retention_years


def check(settings, env: Mapping[str, str] | None = None) -> None:
    """Without DIRECTORY_GEOCODER_URL postcodes are placed from the bundled demo table (invented Somerset
    postcodes): in production residents' real postcodes would be refused or put in the wrong place. In production
    it must be https://, as the JWKS and the sites are (worklink.config.require_https)."""
    from worklink_directory import feed_cache, services
    from worklink_directory.app import referrals_url
    from worklink_directory.geocode import geocoder_url

    env = os.environ if env is None else env
    referrals_url(env, settings.env)  # the self-referral links; read by the web app alone, checked by every process
    geocoder = geocoder_url(env)
    if settings.env == "production" and not geocoder:
        raise ConfigError("production needs DIRECTORY_GEOCODER_URL (a postcodes.io-compatible API); "
                          "the bundled postcode table is demo data")
    # A resident's postcode is where they live, sent with each search: not readable on the way, even on a
    # private network (a self-hosted geocoder sits behind TLS as any other service holding personal data).
    require_https("DIRECTORY_GEOCODER_URL", geocoder, settings.env, "residents' postcodes are sent to it")
    try:
        services.review_period(env)
    except ValueError as exc:  # it names DIRECTORY_REVIEW_PERIOD_DAYS
        raise ConfigError(str(exc)) from None
    try:
        feed_cache.cache_from_env(env)
    except ValueError as exc:  # it names the setting
        raise ConfigError(str(exc)) from None
    audit_retention_years(env)
