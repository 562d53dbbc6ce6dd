"""A small fuzzer for the error contract, run by each service's test_error_contract.py against its real app.

Every route and method of the app is sent one kind of bad input (a `MUTATIONS` entry) as every role, as a
program (problem+json, from a page's route too, a form it refuses included) and, on a page route, as a browser
(an NHS.UK error page).
Whatever the input, the answer is never a 5xx, an error is never a bare Werkzeug page or a traceback, and an
API error is RFC 9457.
Ids in paths are made up (no such records), so a view that looks its record up first is tried only as far as
that lookup; what a form reads after it needs a test of its own with a real record.
"""

from __future__ import annotations

import itertools
import re
import uuid
from typing import Iterator

from flask import Flask

from worklink.auth import ROLES, mint_token

PROBLEM = "application/problem+json"
CSRF = "t0ken"
TOO_MANY_DIGITS = "9" * 5000  # more than Python's int() reads (4,300 digits)
SUPERSCRIPT_TWO = "\u00b2"  # str.isdigit() says yes; int() says no
# The names page forms give typed numbers and NHS numbers (page links, versions, ages, dates of birth).
FORM_NUMBERS = ("page", "version", "minimum_age", "maximum_age", "birth_date-day", "birth_date-month",
                "birth_date-year", "nhs_number", "within", "age")
SKIPPED = ("/static/", "/docs/static/", "/metrics", "/readyz")  # assets; Prometheus text; asks the broker


def _json(body: str) -> dict:
    return {"data": body, "content_type": "application/json"}


def _form(value: str, year: str) -> dict:
    """Every field of FORM_NUMBERS `value`, but the year of birth `year` (a date's parts are read once it has
    four characters)."""
    return {"data": {"csrf_token": CSRF, **{name: value for name in FORM_NUMBERS}, "birth_date-year": year}}


# name -> (methods it is sent with, what to change: path argument, query string, request kwargs)
MUTATIONS: dict[str, tuple[tuple[str, ...], str | None, str, dict]] = {
    "json number too long to read": (("POST", "PUT", "PATCH"), None, "",
                                     _json('{"version": %s, "page": %s}' % (TOO_MANY_DIGITS, TOO_MANY_DIGITS))),
    "json that is not an object": (("POST", "PUT", "PATCH"), None, "", _json('[1, "two", null]')),
    "malformed json": (("POST", "PUT", "PATCH"), None, "", _json('{"version": ')),
    "nhs number of other digits": (("POST", "PUT", "PATCH"), None, "", _json(
        '{"nhs_number": "943476591\u00b2", "person": {"nhs_number": "943476591\u00b2"}, '
        '"patient": {"nhs_number": "943476591\u00b2"}}')),
    "form numbers of other digits": (("POST",), None, "", _form("198" + SUPERSCRIPT_TWO, "198" + SUPERSCRIPT_TWO)),
    "form numbers too long to read": (("POST",), None, "", _form(TOO_MANY_DIGITS, "1985")),
    "query numbers of other digits": (("GET",), None, "page=%C2%B2&per_page=%C2%B2&offset=%C2%B2&limit=%C2%B2", {}),
    "query numbers out of range": (("GET",), None, "page=" + "9" * 30 + "&per_page=-1&offset=-1&limit=" + "9" * 30, {}),
    "path id that is not one": (("GET", "POST", "PUT", "PATCH", "DELETE"), "not-an-id\u00b2", "", _json("{}")),
    "path id with a nul": (("GET", "POST", "PUT", "PATCH", "DELETE"), "not-an-id%00", "", _json("{}")),
    "path id too long": (("GET", "POST", "PUT", "PATCH", "DELETE"), "x" * 3000, "", _json("{}")),
}


def role_headers(app: Flask, organisation: str) -> dict[str, dict[str, str]]:
    """A bearer token of every role (`organisation` for those who act for one)."""
    jwt = app.extensions["worklink"].settings.jwt
    return {role: {"Authorization": "Bearer " + mint_token(
        jwt, role=role, org=None if role in ("resident", "alliance_admin") else organisation, subject=f"{role}-1")}
        for role in ROLES}


def contract_breaches(app: Flask, organisation: str, mutation: str) -> list[str]:
    """Every response to `mutation` that breaks the error contract, described (empty: none did)."""
    methods, path_value, query, kwargs = MUTATIONS[mutation]
    client = app.test_client()
    breaches = []
    for rule, method, page in _routes(app, methods):
        if path_value is not None and not rule.arguments:
            continue
        path = _path(rule.rule, path_value) + (f"?{query}" if query else "")
        # a page is asked by a browser, and by a program (answered as the API is, a form it refuses too)
        askers = (True, False) if page else (False,)
        for browser, (role, headers) in itertools.product(askers, role_headers(app, organisation).items()):
            accept = {"Accept": "text/html" if browser else "application/json"}
            client.set_cookie("worklink_csrf", CSRF)  # again: a sign-out's answer deletes it
            response = client.open(path, method=method, headers={**headers, **accept}, **kwargs)
            if problem := _breach(response, browser):
                who = role if browser or not page else f"{role} (a program)"
                breaches.append(f"{method} {path[:80]} as {who}: {response.status_code} {problem}")
    return breaches


# What each query parameter the OpenAPI document names is sent (one at a time): numbers past any column, the
# calendar's first and last days, other digits, and a long text.
QUERY_EXTREMES = ("9" * 30, "-1", "0001-01-01T00:00:01Z", "0001-01-01", "9999-12-31T23:59:59Z", "9999-12-31",
                  SUPERSCRIPT_TWO, "x" * 300)


def query_parameter_breaches(app: Flask, organisation: str) -> list[str]:
    """Every documented query parameter of every GET at its extremes: the responses that break the contract."""
    client = app.test_client()
    document = client.get("/openapi.json").get_json()
    breaches = []
    for path, operations in document["paths"].items():
        parameters = [p["name"] for p in operations.get("get", {}).get("parameters", []) if p["in"] == "query"]
        concrete = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
        for name, value in ((n, v) for n in parameters for v in QUERY_EXTREMES):
            for role, headers in role_headers(app, organisation).items():
                response = client.get(concrete, query_string={name: value}, headers=headers)
                if problem := _breach(response, page=False):
                    breaches.append(f"GET {path}?{name}={value[:30]} as {role}: {response.status_code} {problem}")
    return breaches


def _routes(app: Flask, methods: tuple[str, ...]) -> Iterator[tuple]:
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(SKIPPED):
            continue
        blueprint = app.blueprints.get(rule.endpoint.rpartition(".")[0].split(".")[0])
        page = bool(getattr(blueprint, "worklink_pages", False))
        for method in sorted(set(methods) & (rule.methods or set())):
            yield rule, method, page


def _path(rule: str, value: str | None) -> str:
    def fill(match: re.Match) -> str:
        converter = match.group(1) or ""
        if value is not None:
            return value
        if converter.startswith("int"):
            return "1"
        if converter.startswith("any"):
            return re.search(r"any\(\s*'?([^,)']+)", converter).group(1)
        return str(uuid.uuid4())
    return re.sub(r"<(?:([^:>]+):)?[^>]+>", fill, rule)


def _breach(response, page: bool) -> str | None:
    body = response.get_data(as_text=True)
    if response.status_code >= 500:
        return "a server error"
    if "Traceback" in body or "Werkzeug" in body:
        return "shows internals"
    if response.status_code < 400:
        return None
    if page:
        is_error_page = response.mimetype == "text/html" and "nhsuk-" in body
        return None if is_error_page else f"not an error page: {response.mimetype}"
    if response.mimetype != PROBLEM:
        return f"not problem+json: {response.mimetype}"
    if response.get_json(force=True).get("status") != response.status_code:
        return "a problem whose status is not the response's"
    return None



# An NHS number typed as the audit review's record (every service's /audit form): refused, since the trail
# names people by a record id or a pseudonym, never by a number in clear.
AUDIT_FORM_IN_CLEAR = {"record": "9434765919"}


def page_answer(app: Flask, organisation: str, role: str | None, method: str, path: str, *, data=None,
                accept: str = "application/json"):
    """A page route's answer to a program (`accept` JSON) or a browser (text/html) as `role` (None: anonymous).
    A form is sent with the page's CSRF token, as a browser sends it (a program needs none)."""
    client = app.test_client()
    client.set_cookie("worklink_csrf", CSRF)
    headers = {**(role_headers(app, organisation)[role] if role else {}), "Accept": accept}
    form = {"csrf_token": CSRF, **data} if data is not None else None
    return client.open(path, method=method, data=form, headers=headers)


def refused_form_problem(response, status: int) -> dict:
    """The problem+json a program is given for a form (or search) a page refuses: the page's status, and each
    message pointing at its field. Fails, showing the answer, on anything else."""
    assert (response.status_code, response.mimetype) == (status, PROBLEM), response.get_data(as_text=True)[:500]
    problem = response.get_json(force=True)
    assert problem["status"] == status and problem["detail"] and problem["errors"], problem
    return problem
