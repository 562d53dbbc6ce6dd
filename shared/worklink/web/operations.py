"""Operational endpoints every service exposes: liveness, readiness, metrics."""

from __future__ import annotations

import hmac
import os
import time

from flask import Response, request
from flask.views import MethodView
from marshmallow import Schema, fields
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from worklink.messaging.kafka import broker_reachable
from worklink.web.app import service_context
from worklink.problems import Problem, problem_response
from worklink.web.blueprint import Blueprint

operations = Blueprint("operations", __name__, description="Health, readiness and metrics")

_broker_cache: dict[str, tuple[float, bool]] = {}


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"example": "ok"})
    service = fields.String(required=True)


class ReadySchema(HealthSchema):
    checks = fields.Dict(keys=fields.String(), values=fields.String())


@operations.route("/healthz")
class Health(MethodView):
    @operations.response(200, HealthSchema)
    def get(self):
        """Liveness: the process is up and serving requests."""
        return {"status": "ok", "service": service_context().name}


@operations.route("/readyz")
class Ready(MethodView):
    @operations.response(200, ReadySchema)
    @operations.alt_response(503, description="The service's database is unreachable")
    def get(self):
        """Readiness: the service's database is reachable (503 otherwise). The broker's state is reported but
        does not fail it: requests write events to the outbox, which waits for the broker, so taking every
        web process out of service during a broker outage would refuse the writes the outbox keeps."""
        ctx = service_context()
        checks = {"database": _check_database(ctx), "broker": _check_broker(ctx)}
        if checks["database"] != "ok":
            return problem_response(503, "Not ready: database unreachable.", checks=checks)
        return {"status": "ok" if checks["broker"] == "ok" else "degraded", "service": ctx.name, "checks": checks}


def _check_database(ctx) -> str:
    try:
        ctx.database.ping()
        return "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return f"error: {type(exc).__name__}"


def _check_broker(ctx) -> str:
    servers = ctx.settings.kafka.bootstrap_servers
    checked_at, reachable = _broker_cache.get(servers, (0.0, False))
    if time.monotonic() - checked_at > 5:
        reachable = broker_reachable(ctx.settings.kafka, timeout=0.5)
        _broker_cache[servers] = (time.monotonic(), reachable)
    return "ok" if reachable else "error: unreachable"


@operations.route("/metrics")
class Metrics(MethodView):
    @operations.doc(responses={"200": {"description": "Prometheus text exposition format"}})
    def get(self):
        """Prometheus metrics (aggregated across gunicorn workers). With WORKLINK_METRICS_TOKEN set, only
        for a scraper sending it as a bearer token; in production not served without one."""
        _check_scraper(service_context().settings)
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = REGISTRY
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def _check_scraper(settings) -> None:
    """Route names, traffic and error rates are for the operators' scraper, not the public."""
    if not settings.metrics_token:
        if settings.env == "production":
            raise Problem(404, "Metrics are not served here: set WORKLINK_METRICS_TOKEN for the scraper.")
        return
    sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip().encode()
    if not hmac.compare_digest(sent, settings.metrics_token.encode()):
        raise Problem(401, "The metrics need the scraper's bearer token.",
                      headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
