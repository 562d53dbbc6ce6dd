"""Application factory for the adjustments service."""

from __future__ import annotations

from typing import Any, Mapping

from flask import Flask

from worklink.config import Settings
from worklink.web import create_service_app
from worklink_adjustments import api
from worklink_adjustments.models import PLATFORM


def create_app(config: Mapping[str, Any] | None = None, settings: Settings | None = None) -> Flask:
    app, rest_api = create_service_app(
        "adjustments", __name__, tables=PLATFORM, config=config, settings=settings,
        title="WorkLink Adjustments",
        description="Reasonable-adjustment guidance for clinicians and their fit-note-shaped adjustment suggestions.",
    )
    api.register(rest_api)
    return app
