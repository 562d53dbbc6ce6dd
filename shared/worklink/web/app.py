"""The base application factory every service's `create_app` builds on.

It wires, once for all services: settings from the environment, the service's
database, outbox and audit trail, JSON logs with request ids, problem-details
errors, body-size and media-type checks, Prometheus metrics, `/healthz`,
`/readyz`, `/metrics`, and an OpenAPI 3 document at `/openapi.json` with
interactive docs at `/docs` (served locally, no CDN).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import flask_smorest
import swagger_ui_bundle
from flask import Flask, g, request, send_from_directory
from prometheus_client import Counter, Histogram
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wsgi import get_host

from worklink import context
from worklink.audit import REFUSALS, AuditTrail
from worklink.auth import TokenVerifier, current_principal
from worklink.config import Settings
from worklink.db import Database, PlatformTables
from worklink.events.catalogue import Catalogue
from worklink.events.contracts import CATALOGUE
from worklink.events.identifiers import personal_identifier
from worklink.logs import configure_logging
from worklink.messaging.outbox import Outbox
from worklink.problems import (PROBLEM_MEDIA_TYPE, Problem, ProblemSchema, from_http_exception,
                               register_problem_handlers)
from worklink.web.characters import FORM_TYPES, refuse_unstorable_text
from worklink.web.pages import (SAFE_METHODS, SECRET_ARGS, install_pages, is_page_route, is_secret_link,
                                url_arguments)
from worklink.web.security import install_security_headers
from worklink.web.sessions import CookieSeal, SessionStore, mark_keys, session_keys

log = logging.getLogger("worklink.http")

REQUESTS = Counter("worklink_http_requests_total", "HTTP requests", ["service", "method", "endpoint", "status"])
LATENCY = Histogram("worklink_http_request_duration_seconds", "HTTP request latency",
                    ["service", "method", "endpoint"])

_JSON_TYPES = ("application/json", "application/merge-patch+json")
_BODY_METHODS = ("POST", "PUT", "PATCH")
# The methods a metric names; any other is "other". A client may send any word as its method, and each label
# value is a time series kept for the process's life: random methods would grow the metrics without end.
_METRIC_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
# Asked by probes and scrapers (the image's HEALTHCHECK, an orchestrator, a load balancer, Prometheus) by the
# container's address, not a public host name; they build no link from the Host, so they answer whatever it is.
OPERATIONAL_PATHS = frozenset(("/healthz", "/readyz", "/metrics"))


@dataclass
class ServiceContext:
    """What a service's views need, reachable as `service_context()`."""

    name: str
    settings: Settings
    database: Database
    tables: PlatformTables
    outbox: Outbox
    audit: AuditTrail
    tokens: TokenVerifier
    catalogue: Catalogue
    sessions: SessionStore
    cookie_seal: CookieSeal
    # The audit trail's name for the person a reviewer asks about (`person`): a service that names people
    # by a pseudonym turns what the reviewer typed (an NHS number) into it; others take it as it is.
    audit_person: Callable[[str], str] = str


def service_context() -> ServiceContext:
    from flask import current_app
    return current_app.extensions["worklink"]


class Api(flask_smorest.Api):
    """flask-smorest with RFC 9457 error bodies and a documented bearer scheme."""

    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error):
        return from_http_exception(error)

    def _register_responses(self):
        """flask-smorest's shared error responses (422, DEFAULT_ERROR...), documented with the media
        type every error is sent as: application/problem+json, not its default application/json."""
        self.DEFAULT_RESPONSE_CONTENT_TYPE = PROBLEM_MEDIA_TYPE
        try:
            super()._register_responses()
        finally:
            del self.DEFAULT_RESPONSE_CONTENT_TYPE  # success responses stay application/json


def accepts_form(view: Callable) -> Callable:
    """Allow an HTML form post (pages); API endpoints accept JSON only."""
    view._worklink_accepts_form = True
    return view


# Rules every operation keeps that its schemas cannot say: a client generated from the document still meets them.
API_CONVENTIONS = (
    "**Every service's conventions.** Errors are `application/problem+json` (RFC 9457), with `errors` naming each "
    "field (`location`, `pointer`). Text no database can store - a control character other than tab, line feed "
    "and carriage return, or a lone surrogate - is refused with a 422 wherever it is sent: JSON body, form, query "
    "string or path. A JSON body's booleans and numbers must be JSON booleans and numbers (not `0`, `\"true\"` or "
    "`\"3\"`). A PUT or PATCH must have a body. NHS numbers must pass their modulus-11 check digit. A database "
    "that cannot be reached just now is a 503 with `Retry-After`: send the same request again.")


def create_service_app(name: str, import_name: str, *, tables: PlatformTables, title: str,
                       description: str, version: str = "0.1.0",
                       config: Mapping[str, Any] | None = None, settings: Settings | None = None,
                       catalogue: Catalogue = CATALOGUE, audit_person: Callable[[str], str] = str
                       ) -> tuple[Flask, Api]:
    if settings is None:  # the process's own environment: checked as every process of the service is
        settings = Settings.for_process(name)
        _check_service_settings(name, settings)
    app = Flask(import_name)
    if settings.trusted_proxies:
        # Behind a load balancer every request comes from its address: take the client's from
        # X-Forwarded-For (rate limits, logs) - only as many hops as are ours to trust.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    app.config.update(
        API_TITLE=title,
        API_VERSION=version,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/docs/static/",
        API_SPEC_OPTIONS={"info": {"description": description + "\n\n" + API_CONVENTIONS}},
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
    )
    app.config.update(config or {})
    configure_logging(name, settings.log_level)

    database = Database(settings.database_url)
    app.extensions["worklink"] = ServiceContext(
        name=name, settings=settings, database=database, tables=tables,
        outbox=Outbox(name, tables, catalogue), audit=AuditTrail(tables),
        tokens=TokenVerifier(settings.jwt), catalogue=catalogue,
        sessions=SessionStore(database, tables.web_sessions, settings.session_idle_minutes, mark_keys(settings)),
        cookie_seal=CookieSeal(*session_keys(settings)), audit_person=audit_person)

    _register_request_hooks(app, name, settings)
    register_problem_handlers(app)
    install_pages(app, title.removeprefix("WorkLink ").strip())
    install_security_headers(app, production=settings.env == "production")
    api = Api(app)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})

    from worklink.web.operations import operations
    api.register_blueprint(operations)
    from worklink.web import audit_views  # every service's audit trail, reviewed by admins
    api.register_blueprint(audit_views.blp)
    app.register_blueprint(audit_views.pages)

    @app.get("/docs/static/<path:filename>")
    def swagger_assets(filename: str):
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=86400)

    return app, api


def _check_service_settings(name: str, settings: Settings) -> None:
    """The service's own settings (worklink.service), so gunicorn started on the app directly refuses what
    `worklink serve` would."""
    from worklink.service import installed_services

    if spec := installed_services().get(name):
        spec.check_settings(settings)


def _register_request_hooks(app: Flask, name: str, settings: Settings) -> None:
    @app.before_request
    def start_request():
        g.started = time.perf_counter()
        g.request_id = context.an_id(request.headers.get("X-Request-ID")) or uuid.uuid4().hex
        # A caller's correlation id rides on every event this request publishes: an id, never free text.
        correlation = context.an_id(request.headers.get("X-Correlation-ID"))
        incoming = context.TraceParent.parse(request.headers.get("traceparent"))
        g.trace = incoming.child() if incoming else context.TraceParent.new()
        g.context_tokens = (
            context.request_id_var.set(g.request_id),
            context.correlation_id_var.set(correlation or g.request_id),
            context.traceparent_var.set(str(g.trace)),
        )
        _check_host(settings)
        _check_body(settings)
        if request.routing_exception is None:
            refuse_unstorable_text()

    @app.after_request
    def finish_request(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        _keep_out_of_caches(response)
        if response.status_code in REFUSALS and request.endpoint:
            ctx = service_context()
            ctx.audit.record_refusal(ctx.database, _person_record(request.endpoint), response)
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        method = request.method if request.method in _METRIC_METHODS else "other"
        REQUESTS.labels(name, method, endpoint, response.status_code).inc()
        LATENCY.labels(name, method, endpoint).observe(elapsed)
        if endpoint not in OPERATIONAL_PATHS:
            log.info("request", extra={"method": request.method, "path": loggable_path(), "route": endpoint,
                                       "status": response.status_code, "duration_ms": round(elapsed * 1000, 2)})
        return response

    @app.teardown_request
    def reset_context(_exc):
        tokens = g.pop("context_tokens", None)
        if tokens:
            context.traceparent_var.reset(tokens[2])
            context.correlation_id_var.reset(tokens[1])
            context.request_id_var.reset(tokens[0])


def _keep_out_of_caches(response) -> None:
    """What a signed-in caller or a secret link is shown is nobody else's: not stored by the
    browser (a shared practice PC, the back button after sign-out) or by any cache on the way,
    and a secret link is not sent on as the Referer of a link followed from its page. Nor is the
    answer to a form post, which may show back what an anonymous visitor typed (a refused
    self-referral: their name, birth date, email)."""
    secret_link = is_secret_link()
    if current_principal() is not None or secret_link or request.method not in SAFE_METHODS:
        response.headers["Cache-Control"] = "no-store"
    if secret_link:
        response.headers["Referrer-Policy"] = "no-referrer"


_LONG_SEGMENT = re.compile(r"[^/]{16,}")  # a link's token is longer (token_urlsafe(24): 32); a word is shorter


def loggable_path() -> str:
    """The request path with secret URL parts (single-use links, codes) masked for the logs."""
    path = request.path
    arguments = url_arguments()
    if request.url_rule is None and not arguments:
        # No route matched (a link with a slash or a word added): nothing names its secret part, so every part
        # as long as a token is masked, and every part naming a person (a client asking /patients/<NHS number>,
        # an id's place given an e-mail address or a postcode); a scanner's /wp-login.php stays readable.
        return "/".join("[redacted]" if _names_a_person(part) else part
                        for part in _LONG_SEGMENT.sub("[redacted]", path).split("/"))
    for name, value in arguments.items():
        if SECRET_ARGS.search(name) and str(value):
            path = path.replace(str(value), "[redacted]")
    return path


def _names_a_person(part: str) -> bool:
    return "@" in part or personal_identifier(part) is not None


def _check_host(settings: Settings) -> None:
    """A 400 for a Host (or X-Forwarded-Host through a trusted proxy) WORKLINK_ALLOWED_HOSTS does not name: links
    are built from it (an employer's reply link). Done here rather than by Flask's TRUSTED_HOSTS, which refused the
    probes too, so a service that names its hosts was never healthy."""
    if settings.allowed_hosts and request.path not in OPERATIONAL_PATHS:
        get_host(request.environ, list(settings.allowed_hosts))  # SecurityError: the 400 Flask's check gave


_REPLACING_METHODS = ("PUT", "PATCH")


def _check_body(settings: Settings) -> None:
    if request.method not in _BODY_METHODS or request.routing_exception is not None:
        return  # a 404/405 is the better answer; routing raises it next
    length = request.content_length
    if length is not None and length > settings.max_body_bytes:
        raise Problem(413, f"The request body is {length} bytes; the limit is {settings.max_body_bytes}.")
    has_body = bool(length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    view = request.url_rule and request.endpoint and _view(request.endpoint)
    if not has_body:
        if request.method in _REPLACING_METHODS and _takes_a_json_body(view) and not is_page_route():
            # A PUT or PATCH says what the resource becomes: with no body at all it read as "every field at its
            # default" (PUT /me/channels turned a user's email off). An empty JSON object is still a body.
            raise Problem(422, f"Send the {request.method} request's body as JSON.", errors=[
                {"location": "json", "pointer": "", "detail": "The request has no body."}])
        return
    if length is None:
        _refuse_long_stream(settings.max_body_bytes)
    if request.is_json:
        _refuse_deep_json(request.get_data(cache=True))
        _refuse_unreadable_numbers(request.get_data(cache=True))
    if is_page_route():  # a page reads its form: JSON was an empty form (and the form, in HTML, to a program)
        if request.mimetype not in FORM_TYPES:
            raise Problem(415, f"Send the form as {' or '.join(FORM_TYPES)}, not "
                               f"{request.mimetype or 'an unnamed type'}.",
                          headers={"Accept-Post": ", ".join(FORM_TYPES)})
        return
    if getattr(view, "_worklink_accepts_form", False):
        return
    if request.mimetype not in _JSON_TYPES and not request.mimetype.endswith("+json"):
        raise Problem(415, f"Send the body as application/json, not {request.mimetype or 'an unnamed type'}.",
                      headers={"Accept-Post": "application/json", "Accept-Patch": "application/json"})


def _refuse_long_stream(limit: int) -> None:
    """A 413 for a streamed body (chunked, no Content-Length) that reaches the limit. Werkzeug stops
    reading such a body at the limit without a word, so the app saw it cut short: a 400 for JSON, and a form
    taken with its last fields cut or gone. One as long as the limit is refused too: the cut looks the same."""
    if len(request.get_data(cache=True)) >= limit:
        raise Problem(413, f"The request body is more than the limit of {limit} bytes.")


MAX_JSON_DEPTH = 32  # far deeper than any schema here; Python's parser gives up (a 500) near 1,000
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_JSON_NESTING = re.compile(rb"[\[\]{}]")


def _refuse_deep_json(body: bytes) -> None:
    """A 400 for a body nested too deeply to parse, before any parser recurses into it
    (brackets inside strings do not count)."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return  # cannot be that deep: the common case costs two counts
    depth = 0
    for bracket in _JSON_NESTING.findall(_JSON_STRING.sub(b"", body)):
        depth += 1 if bracket in b"[{" else -1
        if depth > MAX_JSON_DEPTH:
            raise Problem(400, f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.",
                          errors=[{"location": "json", "pointer": "",
                                   "detail": f"Nested more than {MAX_JSON_DEPTH} levels deep."}])


# Python reads a whole number of at most this many digits (a guard against quadratic conversion): json.loads
# raises a bare ValueError for a longer one, which webargs (catching only JSONDecodeError) left to be a 500.
MAX_JSON_DIGITS = sys.get_int_max_str_digits() or 4300  # 0: no limit set; no field here takes such a number
_LONG_DIGITS = re.compile(rb"[0-9]{%d}" % (MAX_JSON_DIGITS + 1))


class _Unreadable:
    """Stands in for a number too long to read while the body is searched for where it is."""


def _refuse_unreadable_numbers(body: bytes) -> None:
    """A 422 naming each whole number too long to read (a 400 if the body is malformed as well)."""
    if not _LONG_DIGITS.search(body) or not _LONG_DIGITS.search(_JSON_STRING.sub(b"", body)):
        return  # the common case: one search; digits inside strings are text, not numbers
    detail = f"A whole number of more than {MAX_JSON_DIGITS:,} digits, which cannot be read."
    try:
        parsed = json.loads(body, parse_int=lambda text: _Unreadable() if len(text) > MAX_JSON_DIGITS else 0)
    except ValueError:
        raise Problem(400, f"The JSON body is malformed, and holds a whole number of more than {MAX_JSON_DIGITS:,} "
                      "digits, which cannot be read.",
                      errors=[{"location": "json", "pointer": "", "detail": detail}]) from None
    errors = [{"location": "json", "pointer": pointer, "detail": detail} for pointer in _unreadable(parsed, "")]
    if errors:  # else the long run of digits was a decimal's (999...9.5), which reads as a float
        raise Problem(422, "Some numbers in the request cannot be read: " + ", ".join(e["pointer"] for e in errors)
                      + ".", errors=errors)


def _unreadable(node: Any, pointer: str):
    if isinstance(node, _Unreadable):
        yield pointer
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _unreadable(value, f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _unreadable(item, f"{pointer}/{index}")


def _person_record(endpoint: str) -> tuple[str, str] | None:
    """The `person_record` mark on the view handling this request: its method's, or its class's."""
    from flask import current_app
    view = current_app.view_functions.get(endpoint)
    view_class = getattr(view, "view_class", None)
    for marked in (_view(endpoint), view_class, view):
        mark = getattr(marked, "worklink_person_record", None)
        if mark is not None:
            return mark
    return None


def _takes_a_json_body(view) -> bool:
    """Whether the view declares a required JSON body (flask-smorest's `arguments`, as its OpenAPI operation says)."""
    parameters = getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", [])
    return any(p.get("in") == "json" and p.get("required", True) for p in parameters)


def _view(endpoint: str):
    from flask import current_app
    view = current_app.view_functions.get(endpoint)
    # MethodView: look at the handler for this HTTP method.
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        return getattr(view_class, request.method.lower(), view)
    return view
