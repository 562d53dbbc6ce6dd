"""The directory service's HTTP API blueprints."""

from worklink.web.app import Api


def register(api: Api) -> None:
    """Register this service's blueprints (operations endpoints come from the platform)."""
    from worklink_directory.api import manage, oruk

    oruk.register_schemas(api.spec)
    api.register_blueprint(oruk.blp)
    api.register_blueprint(manage.blp)
