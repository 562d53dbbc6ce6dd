"""RFC 9457 problem details for every error a service returns.

Every error response is `application/problem+json` with `type`, `title`, `status`,
`detail` and `instance`, plus `request_id`, and for validation failures an
`errors` array naming each field (`pointer` is a JSON Pointer into the request
part named by `location`).
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, g, json, request
from marshmallow import INCLUDE, Schema, fields, validate
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

from worklink.db import is_database_outage

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://worklink.example/problems/"

# Machine-readable `type` for the statuses every service can return.
STATUS_TYPES = {
    400: "bad-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found",
    405: "method-not-allowed", 406: "not-acceptable", 409: "conflict", 410: "gone",
    412: "precondition-failed", 413: "payload-too-large", 414: "uri-too-long",
    415: "unsupported-media-type", 422: "validation-failed", 428: "precondition-required",
    429: "too-many-requests", 431: "request-header-fields-too-large", 500: "internal-error",
    503: "unavailable",
}


class Problem(Exception):
    """Raise anywhere in a request to return a problem response."""

    def __init__(self, status: int, detail: str | None = None, *, title: str | None = None,
                 type: str | None = None, headers: dict[str, str] | None = None, page_detail: str | None = None,
                 **extensions: Any):
        super().__init__(detail or title or HTTP_STATUS_CODES.get(status, "Error"))
        self.status = status
        self.detail = detail
        self.page_detail = page_detail  # for a person, on an error page; `detail` stays precise, for programs
        self.title = title
        self.type = type
        self.headers = headers or {}
        self.extensions = extensions


ERROR_LOCATIONS = ("json", "query", "path", "headers", "form", "listing")


class FieldErrorSchema(Schema):
    location = fields.String(validate=validate.OneOf(ERROR_LOCATIONS), metadata={
        "description": "Where the field is: the request's json body, query, path, headers or form, or the "
                       "listing a directory write would publish (pointer into that Open Referral UK record)"})
    pointer = fields.String(metadata={"description": "JSON Pointer to the field in that location"})
    detail = fields.String()


class ProblemSchema(Schema):
    """Documents the error body in each service's OpenAPI document. Open to members it does not list: a problem
    carries extension members (RFC 9457 section 3.2) where its kind has more to say - a duplicate's
    `duplicate_of`, a refused move's `current_status` and `allowed_actions`, a stale edit's `current_version`,
    `retry_after` - which a client validating answers against a closed schema refused."""

    class Meta:
        unknown = INCLUDE

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    instance = fields.String()
    request_id = fields.String()
    errors = fields.List(fields.Nested(FieldErrorSchema))


def problem_response(status: int, detail: str | None = None, *, title: str | None = None,
                     type: str | None = None, headers: dict[str, str] | None = None, page_detail: str | None = None,
                     **extensions: Any) -> Response:
    from worklink.web.pages import is_page_request, render_error_page

    if is_page_request():  # people get a page; programs get problem+json
        response = render_error_page(status, title, page_detail or detail)
        response.headers.update(headers or {})
        return response
    body: dict[str, Any] = {
        "type": type or PROBLEM_TYPE_BASE + STATUS_TYPES.get(status, str(status)),
        "title": title or HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    try:
        body["instance"] = request.path
        body["request_id"] = g.get("request_id")
    except RuntimeError:  # outside a request
        pass
    body.update({k: v for k, v in extensions.items() if v is not None})
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def field_errors(messages: Any) -> list[dict[str, str]]:
    """Flatten webargs/marshmallow messages ({location: {field: [msg]}}) into a list."""
    flat: list[dict[str, str]] = []

    def walk(node: Any, location: str, path: list[str]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, location, path + [str(key)])
        elif isinstance(node, (list, tuple)) and node and all(isinstance(m, str) for m in node):
            for message in node:
                flat.append({"location": location, "pointer": _pointer(path), "detail": message})
        elif isinstance(node, (list, tuple)):
            for item in node:
                walk(item, location, path)
        else:
            flat.append({"location": location, "pointer": _pointer(path), "detail": str(node)})

    if isinstance(messages, dict) and messages and set(messages) <= {"json", "query", "path", "headers",
                                                                       "form", "files", "cookies", "view_args"}:
        for location, node in messages.items():
            walk(node, "path" if location == "view_args" else location, [])
    else:
        walk(messages, "json", [])
    return flat


def _pointer(path: list[str]) -> str:
    if path in ([], ["_schema"]):
        return ""
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in path)


def from_http_exception(error: HTTPException) -> Response:
    data = getattr(error, "data", None) or {}
    status = error.code or 500
    headers = dict(data.get("headers") or {})
    if status == 405 and getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(error.valid_methods)
    messages = data.get("errors") or data.get("messages")
    if messages and status in (400, 422):
        errors = field_errors(messages)
        # A 400 is a body that could not be read at all ("Invalid JSON body."): no field failed validation.
        unreadable = status == 400 and len(errors) == 1
        detail = data.get("message") or (errors[0]["detail"] if unreadable else
                                         f"{len(errors)} field(s) failed validation")
        return problem_response(422 if status == 422 else 400, detail, errors=errors, headers=headers)
    detail = data.get("message") or (error.description if error.description else None)
    return problem_response(status, detail, headers=headers)


def register_problem_handlers(app: Flask) -> None:
    @app.errorhandler(Problem)
    def handle_problem(problem: Problem):
        return problem_response(problem.status, problem.detail, title=problem.title, type=problem.type,
                                headers=problem.headers, page_detail=problem.page_detail, **problem.extensions)

    @app.errorhandler(HTTPException)
    def handle_http(error: HTTPException):
        return from_http_exception(error)

    def handle_database_error(error: Exception):
        # By what the error means (worklink.db.is_database_outage), not its driver class: a standby's read-only
        # transaction after a failover is an outage; a statement past PostgreSQL's limits is a bug, which the
        # same request sent again would meet again.
        if not is_database_outage(error):
            return handle_unexpected(error)
        # The transaction rolled back: nothing was changed, and the same request can simply be sent again.
        log.warning("database unavailable", exc_info=True)
        return problem_response(503, "The service's database is unavailable just now; nothing was changed. "
                                "Try again in a few seconds.", headers={"Retry-After": "5"})

    for database_error in (sa.exc.DBAPIError, sa.exc.TimeoutError):
        app.register_error_handler(database_error, handle_database_error)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        if isinstance(error, HTTPException):
            return from_http_exception(error)
        log.exception("unhandled error")
        return problem_response(500, "An unexpected error occurred. Quote the request id if you report it.")

    # Flask turns uncaught errors into InternalServerError when PROPAGATE is off.
    app.register_error_handler(InternalServerError, handle_http)
