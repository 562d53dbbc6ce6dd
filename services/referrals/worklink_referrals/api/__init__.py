"""The referrals service's HTTP API blueprints."""

from datetime import datetime, timezone

from flask import current_app

from worklink.web.app import Api
from worklink_referrals.config import ReferralSettings


def register(api: Api) -> None:
    """Register this service's blueprints (operations endpoints come from the platform)."""
    from worklink_referrals.api import insights, intake, people, public, referrals

    api.register_blueprint(referrals.blp)
    api.register_blueprint(public.blp)
    api.register_blueprint(insights.blp)
    api.register_blueprint(intake.blp)
    api.register_blueprint(people.blp)


def settings() -> ReferralSettings:
    return current_app.extensions["referrals"]["settings"]


def now() -> datetime:
    """The service clock (tests replace it to move time forward)."""
    clock = current_app.extensions["referrals"].get("clock")
    return clock() if clock else datetime.now(timezone.utc)
