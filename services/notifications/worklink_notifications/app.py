"""Application factory for the notifications service."""

from __future__ import annotations

from typing import Any, Mapping

from flask import Flask

from worklink.config import Settings
from worklink.pseudonyms import clinician_reference_keys
from worklink.web import create_service_app
from worklink_notifications import api
from worklink_notifications.models import PLATFORM
from worklink_notifications.pages.views import pages
from worklink_notifications.retention import RetentionSchedule


def create_app(config: Mapping[str, Any] | None = None, settings: Settings | None = None) -> Flask:
    app, rest_api = create_service_app(
        "notifications", __name__, tables=PLATFORM, config=config, settings=settings,
        title="WorkLink Notifications",
        description="Tells the right people what happened: in-app inbox, email and signed webhooks.",
    )
    # Recognises the clinician reference events carry instead of a login id (see inbox.py).
    keys = clinician_reference_keys(app.extensions["worklink"].settings)
    app.config.setdefault("CLINICIAN_REFERENCE_KEY", keys[0])
    app.config.setdefault("CLINICIAN_REFERENCE_KEYS", (app.config["CLINICIAN_REFERENCE_KEY"], *keys[1:]))
    # What administrators read where the schedule removed an address ("Removed after 30 days").
    app.config.setdefault("NOTIFICATIONS_RETENTION", RetentionSchedule.from_env())
    api.register(rest_api)
    app.register_blueprint(pages)
    return app
