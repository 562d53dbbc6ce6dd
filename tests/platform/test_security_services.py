"""Every route of all four services, as a cross-site attacker holding a victim's browser sees them:
no page changes state without the CSRF token, and no API call is authenticated by the session cookie."""

from __future__ import annotations

import uuid

import pytest
from werkzeug.routing.converters import AnyConverter, IntegerConverter, UUIDConverter

from worklink.auth import mint_token
from worklink.config import Settings
from worklink.migrations import upgrade
from worklink.service import installed_services
from worklink.web.pages import SESSION_COOKIE
from tests.browser import sealed

SERVICES = ["directory", "adjustments", "referrals", "notifications"]
CHANGES = ("POST", "PUT", "PATCH", "DELETE")


def make_app(name: str, tmp_path):
    spec = installed_services()[name]
    settings = Settings.from_env(name, {"WORKLINK_VAR": str(tmp_path), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
                                        "WORKLINK_ENV": "test"})
    upgrade(spec.migrations_dir, settings.database_url)
    return spec.create_app(settings=settings), settings


def example_url(rule) -> str:
    values = {}
    for name, converter in rule._converters.items():
        if isinstance(converter, UUIDConverter):
            values[name] = uuid.uuid4()
        elif isinstance(converter, AnyConverter):
            values[name] = sorted(converter.items)[0]
        elif isinstance(converter, IntegerConverter):
            values[name] = 1
        else:
            values[name] = "x"
    return rule.build(values, append_unknown=False)[1]


def is_page_rule(app, rule) -> bool:
    blueprint = app.blueprints.get(rule.endpoint.split(".")[0]) if "." in rule.endpoint else None
    return bool(getattr(blueprint, "worklink_pages", False))


@pytest.mark.parametrize("name", SERVICES)
def test_no_page_changes_state_without_the_csrf_token(name, tmp_path):
    app, settings = make_app(name, tmp_path)
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, sealed(app, mint_token(settings.jwt, role="alliance_admin", subject="admin-1")))
    client.set_cookie("worklink_csrf", "the-real-token")
    checked = []
    for rule in app.url_map.iter_rules():
        if not is_page_rule(app, rule):
            continue
        for method in set(rule.methods) & set(CHANGES):
            url = example_url(rule)
            response = client.open(url, method=method, data={"csrf_token": "forged"}, headers={"Accept": "text/html"})
            assert response.status_code == 400 and b"Your form could not be sent" in response.data, (method, url)
            checked.append(url)
    assert checked  # every service has forms


@pytest.mark.parametrize("name", SERVICES)
def test_no_api_call_is_authenticated_by_the_session_cookie(name, tmp_path):
    """API routes take a bearer token only: with a signed-in browser's cookies (and even its CSRF
    token) every API call is answered exactly as it is without them."""
    app, settings = make_app(name, tmp_path)
    anonymous, browser = app.test_client(), app.test_client()
    browser.set_cookie(SESSION_COOKIE, sealed(app, mint_token(settings.jwt, role="alliance_admin", subject="admin-1")))
    browser.set_cookie("worklink_csrf", "t")
    checked = 0
    for rule in app.url_map.iter_rules():
        if is_page_rule(app, rule) or rule.endpoint in ("static", "swagger_assets", "shared_assets"):
            continue
        for method in sorted(set(rule.methods) - {"HEAD", "OPTIONS"}):
            url = example_url(rule)
            body = {"json": {"csrf_token": "t"}} if method in CHANGES else {}
            expected = anonymous.open(url, method=method, **body).status_code
            assert browser.open(url, method=method, **body).status_code == expected, (method, url)
            checked += 1
    assert checked > 5
