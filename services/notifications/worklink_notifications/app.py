"""Application factory for the notifications service."""

from __future__ import annotations

from typing import Any, Mapping

from flask import Flask, current_app

from worklink.auth import optional_principal
from worklink.config import Settings
from worklink.pseudonyms import clinician_reference_keys
from worklink.web import create_service_app, service_context
from worklink_notifications import api
from worklink_notifications.config import webhook_secret_seal
from worklink_notifications.membership import follow_signed_in_organisation
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
    # Seals each webhook signing secret before it is stored (webhook_secrets.py).
    app.config.setdefault("WEBHOOK_SECRET_SEAL", webhook_secret_seal())
    # What administrators read where the schedule removed an address ("Removed after 30 days").
    app.config.setdefault("NOTIFICATIONS_RETENTION", RetentionSchedule.from_env())
    # Team e-mail follows the organisation a user signs in with (membership.py), on every authenticated request.
    app.before_request(_follow_signed_in_organisation)
    api.register(rest_api)
    app.register_blueprint(pages)
    return app


def _follow_signed_in_organisation() -> None:
    """Authenticates early (the view's own check then reuses it; a caller refused here is refused by the view
    as before), so every request a user makes keeps their team's organisation current."""
    principal = optional_principal()
    if principal is not None:
        ctx = service_context()
        follow_signed_in_organisation(ctx.database, ctx.audit, principal, current_app.config["CLINICIAN_REFERENCE_KEY"])
