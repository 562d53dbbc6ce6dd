"""The notifications service's HTTP API blueprints."""

from worklink.web.app import Api
from worklink_notifications.api import admin, inbox, settings, webhooks


def register(api: Api) -> None:
    """Register this service's blueprints (operations endpoints come from the platform)."""
    for module in (inbox, settings, admin, webhooks):
        api.register_blueprint(module.blp)
