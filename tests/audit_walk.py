"""Walking every route of a service against the audit rule (CONTRIBUTING, Requests): every read or change of a
person's record writes an audit row naming the actor, the action and the record.

Each service's test module sorts its app's routes ("METHOD endpoint", from the Flask url_map) into those that
reach a person's record - each called on a real one, then checked for its audit row - and those that do not,
each with the reason. A route in neither (a new one) fails the walk until someone decides which it is. A route
whose URL names the record by id is then sent again, as it was, by someone outside the record's organisation
(or role): it must be refused (403/404) and the attempt audited as "denied".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa

IGNORED_METHODS = {"HEAD", "OPTIONS"}  # Flask adds them to every rule; they run the GET view or none

# The platform's own routes, in every service: none reads or changes a person's record.
PLATFORM_ROUTES = {
    "GET operations.Health": "liveness: names no record",
    "GET operations.Ready": "readiness: names no record",
    "GET operations.Metrics": "request counts and timings only",
    "GET api-docs.openapi_json": "the OpenAPI document",
    "GET api-docs.openapi_swagger_ui": "the API documentation page",
    "GET swagger_assets": "the documentation page's scripts and styles",
    "GET static": "static files",
    "GET shared_assets": "the NHS.UK frontend's and the platform's static files",
    "GET worklink_session.sign_in": "the sign-in form",
    "POST worklink_session.sign_in_with_token": "starts the caller's own session",
    "POST worklink_session.sign_out": "ends the caller's own session",
    "POST worklink_session.sign_out_everywhere": "ends the caller's own sessions everywhere",
    "POST worklink_session.keep_alive": "keeps the caller's own session (the timeout warning)",
    "GET worklink_session.session_ended": "says why the caller's own session ended",
    # The audit trail names people by id or keyed reference; reviewing it is audited as resource type
    # audit_log (worklink.web.audit_views), tested in tests/services/referrals/test_audit_review.py.
    "GET audit.Entries": "the audit trail's review, itself audited as audit_log",
    "POST audit.EntriesSearch": "the audit trail's review, itself audited as audit_log",
    "GET audit.Summary": "the audit trail's review, itself audited as audit_log",
    "GET audit_pages.audit_page": "the audit trail's review, itself audited as audit_log",
    "POST audit_pages.audit_search": "the audit trail's review, itself audited as audit_log",
}


def routes(app) -> set[str]:
    """Every route of the app as "METHOD endpoint"."""
    return {f"{method} {rule.endpoint}" for rule in app.url_map.iter_rules()
            for method in rule.methods - IGNORED_METHODS}


def unsorted_routes(app, person_routes, other_routes: dict[str, str]) -> list[str]:
    """Routes the module has not sorted (a new one), and sorted routes the app no longer has, or has twice."""
    sorted_ = set(person_routes) | set(other_routes) | set(PLATFORM_ROUTES)
    twice = set(person_routes) & (set(other_routes) | set(PLATFORM_ROUTES))
    present = routes(app)
    gone = (set(person_routes) | set(other_routes)) - present
    return sorted((present - sorted_) | gone | twice)


def names_a_record(app, key: str) -> bool:
    """The route's URL names one record by id (an argument ending in _id)."""
    method, endpoint = key.split(" ", 1)
    return any(rule.endpoint == endpoint and method in rule.methods and any(a.endswith("_id") for a in rule.arguments)
               for rule in app.url_map.iter_rules())


def unmarked_record_routes(app, person_routes) -> list[str]:
    """Routes at a person's record whose URL names it by id, yet whose view (its method or its class) is not
    marked `@person_record`: a refused attempt at the record (403/404) would go unaudited."""
    found = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        view_class = getattr(view, "view_class", None)
        for method in rule.methods - IGNORED_METHODS:
            handlers = (getattr(view_class, method.lower(), None), view_class, view)
            marked = any(getattr(h, "worklink_person_record", None) for h in handlers)
            key = f"{method} {rule.endpoint}"
            if key in person_routes and not marked and names_a_record(app, key):
                found.append(key)
    return sorted(found)


@dataclass(frozen=True)
class Access:
    """An audit row's who, what and which record."""
    actor: str
    action: str
    resource_type: str
    resource_id: str


@dataclass
class Call:
    """A request at a person's record, and the audit row it must leave (built from its response, for a record it
    creates)."""
    send: Callable[[], object]
    expected: Callable[[object], Access]


def audit_mark(ctx) -> int:
    """The newest audit row's id now: the rows a request writes come after it."""
    with ctx.database.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.max(ctx.tables.audit_log.c.id))).scalar() or 0


def accesses_since(ctx, mark: int) -> set[Access]:
    table = ctx.tables.audit_log
    with ctx.database.engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.actor, table.c.action, table.c.resource_type, table.c.resource_id)
                            .where(table.c.id > mark))
        return {Access(*row) for row in rows}


def recording(client) -> list[tuple]:
    """The (args, kwargs) of every request the test client sends from now on, to send one again."""
    sent, plain_open = [], client.open

    def open_(*args, **kwargs):
        sent.append((args, kwargs))
        return plain_open(*args, **kwargs)
    client.open = open_
    return sent


def check_audited(ctx, call: Call) -> Access:
    """Send the call: it must succeed and leave its audit row (returned)."""
    mark = audit_mark(ctx)
    response = call.send()
    assert response.status_code < 400, (response.status_code, response.get_data(as_text=True)[:500])
    expected = call.expected(response)
    assert expected in accesses_since(ctx, mark), (expected, accesses_since(ctx, mark))
    return expected


def check_refused(ctx, client, sent: list[tuple], outsider: dict, outsider_subject: str, record: Access) -> None:
    """Send the last request again, as it was but for the outsider's token: it must be refused (403/404) and
    the attempt audited as denied, naming the outsider and the record."""
    args, kwargs = sent[-1]
    mark = audit_mark(ctx)
    response = client.open(*args, **{**kwargs, "headers": {**dict(kwargs.get("headers") or {}), **outsider}})
    assert response.status_code in (403, 404), (response.status_code, response.get_data(as_text=True)[:500])
    denied = Access(outsider_subject, "denied", record.resource_type, record.resource_id)
    assert denied in accesses_since(ctx, mark), (denied, accesses_since(ctx, mark))
