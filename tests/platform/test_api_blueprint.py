"""worklink.web.blueprint: every service's API blueprint builds each argument schema once, not once per request."""

from __future__ import annotations

import flask
import flask_smorest
import pytest
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from worklink.service import installed_services
from worklink.web.blueprint import Blueprint


class Visit(Schema):
    built = 0

    name = fields.String(required=True, validate=validate.Length(min=1))
    rooms = fields.List(fields.Nested(lambda: Room()), load_default=list)

    def __init__(self, *args, **kwargs):
        type(self).built += 1
        super().__init__(*args, **kwargs)


class Room(Schema):
    number = fields.Integer(required=True)


def api_with(blueprint_class) -> flask.Flask:
    app = flask.Flask(__name__)
    app.config.update(API_TITLE="t", API_VERSION="1", OPENAPI_VERSION="3.0.3")
    api = flask_smorest.Api(app)
    blp = blueprint_class("visits", __name__)

    @blp.route("/visits")
    class Visits(MethodView):
        @blp.arguments(Visit)
        @blp.response(201, Visit)
        def post(self, data):
            return data, 201

    api.register_blueprint(blp)
    return app


@pytest.mark.parametrize("blueprint_class, built_per_request", [(Blueprint, 0), (flask_smorest.Blueprint, 1)])
def test_an_argument_schema_class_is_built_once_not_per_request(blueprint_class, built_per_request):
    client = api_with(blueprint_class).test_client()
    first = client.post("/visits", json={"name": "Ada", "rooms": [{"number": 1}]})
    built = Visit.built
    second = client.post("/visits", json={"name": "Grace"})
    third = client.post("/visits", json={"name": "", "rooms": [{"number": "x"}]})

    assert Visit.built - built == 2 * built_per_request  # flask-smorest's own builds one for every request
    # The shared instance keeps nothing of one request for the next: each answer is its own body.
    assert first.get_json() == {"name": "Ada", "rooms": [{"number": 1}]}
    assert second.get_json() == {"name": "Grace", "rooms": []}
    assert third.status_code == 422
    assert set(third.get_json()["errors"]["json"]) == {"name", "rooms"}


@pytest.mark.parametrize("name", list(installed_services()))
def test_every_service_api_blueprint_is_the_schema_reusing_one(name, tmp_path):
    from tests.services.test_service_skeletons import make_app

    app = make_app(name, tmp_path, "127.0.0.1:9")
    try:
        api_blueprints = [bp for bp in app.blueprints.values() if isinstance(bp, flask_smorest.Blueprint)]
        assert len(api_blueprints) >= 3, "the service's API blueprints were not found"
        assert [bp.name for bp in api_blueprints if not isinstance(bp, Blueprint)] == []
    finally:
        app.extensions["worklink"].database.dispose()
