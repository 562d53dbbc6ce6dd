"""The adjustments service's HTTP API blueprints."""

from worklink.web.app import Api


def register(api: Api) -> None:
    """Register this service's blueprints (operations endpoints come from the platform)."""
    from worklink_adjustments.api import employer, guidance, suggestions

    api.register_blueprint(guidance.blp)
    api.register_blueprint(suggestions.blp)
    api.register_blueprint(employer.blp)
