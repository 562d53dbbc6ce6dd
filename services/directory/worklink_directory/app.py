"""Application factory for the directory service."""

from __future__ import annotations

from typing import Any, Mapping

from flask import Flask

from worklink.config import Settings
from worklink.web import create_service_app
from worklink_directory import api
from worklink_directory.models import PLATFORM


def create_app(config: Mapping[str, Any] | None = None, settings: Settings | None = None) -> Flask:
    app, rest_api = create_service_app(
        "directory", __name__, tables=PLATFORM, config=config, settings=settings,
        title="WorkLink Directory",
        description="The support directory residents browse and partner organisations maintain (Open Referral UK 3.0).",
    )
    api.register(rest_api)
    return app
