"""The platform's floor: a service made of nothing but the shared machinery, for bench/floor.py.

Each endpoint adds one layer of what every WorkLink endpoint pays for:
  GET  /noop   the request hooks (request id, trace, JSON request log, metrics) and flask-smorest
  GET  /auth   + a bearer token checked against a role
  GET  /read   + a database session with one SELECT
  POST /write  + a write transaction that records an audit entry and stages one outbox event

Configured like a service: FLOOR_DATABASE_URL (default SQLite under WORKLINK_VAR).
"""

from __future__ import annotations

import uuid

import flask_smorest
import sqlalchemy as sa
from flask.views import MethodView

from bench import support
from worklink.auth import requires
from worklink.config import Settings
from worklink.web import create_service_app, service_context

settings = Settings.from_env("floor")
app, api = create_service_app("floor", __name__, tables=support.TABLES, title="WorkLink floor",
                              description="The shared machinery alone.", settings=settings,
                              catalogue=support.catalogue("bench.floor"))
support.metadata.create_all(app.extensions["worklink"].database.engine)
endpoints = flask_smorest.Blueprint("floor", __name__)
ORG = uuid.uuid4()


@endpoints.route("/noop")
class Noop(MethodView):
    def get(self):
        return {"ok": True}


@endpoints.route("/auth")
class Authenticated(MethodView):
    @requires("gp")
    def get(self):
        return {"ok": True}


@endpoints.route("/read")
class Read(MethodView):
    @requires("gp")
    def get(self):
        with service_context().database.sessions() as session:
            return {"ok": session.execute(sa.text("SELECT 1")).scalar_one() == 1}


@endpoints.route("/write")
class Write(MethodView):
    @requires("gp")
    def post(self):
        ctx = service_context()
        thing = uuid.uuid4()
        with ctx.database.transaction() as session:
            ctx.audit.record(session, action="create", resource_type="thing", resource_id=str(thing))
            ctx.outbox.publish(session, support.EVENT_TYPE, support.event_data(thing, ORG, 1))
        return {"id": str(thing)}, 201


api.register_blueprint(endpoints)
