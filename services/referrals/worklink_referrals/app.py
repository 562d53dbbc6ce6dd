"""Application factory for the referrals service."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from flask import Flask

from worklink.config import Settings
from worklink.web import create_service_app
from worklink_referrals import api
from worklink_referrals.config import ReferralSettings
from worklink_referrals.models import PLATFORM


def create_app(config: Mapping[str, Any] | None = None, settings: Settings | None = None,
               referral_settings: ReferralSettings | None = None, clock: Callable | None = None) -> Flask:
    app, rest_api = create_service_app(
        "referrals", __name__, tables=PLATFORM, config=config, settings=settings,
        title="WorkLink Referrals",
        description="Referrals to specialist employment advisers: lifecycle, clocks and outcomes.",
    )
    app.extensions["referrals"] = {"settings": referral_settings or ReferralSettings.from_env(), "clock": clock}
    api.register(rest_api)
    from worklink_referrals.pages.views import pages
    app.register_blueprint(pages)
    return app
