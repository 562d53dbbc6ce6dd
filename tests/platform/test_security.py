"""The web-security layer every service shares, probed as an attacker would (OWASP ASVS 4.0 L2):
redirects, cookies, CSRF, security headers."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import render_template_string, request

from worklink.auth import mint_token, requires
from worklink.config import Settings
from worklink.db import NAMING_CONVENTION, platform_tables
from worklink.web import create_service_app
from worklink.web.pages import PagesBlueprint

PAGE = """{% extends "worklink/base.html" %}{% block content %}<h1>Notes</h1>
<form method="post" action="/notes">{{ csrf_field() }}<button class="nhsuk-button">Save</button></form>
{% endblock %}"""

pages = PagesBlueprint("security_demo_pages", __name__)


@pages.get("/")
def home():
    return render_template_string(PAGE)


@pages.get("/caseload")
@requires("adviser")
def caseload():
    return render_template_string(PAGE)


@pages.post("/notes")
def save_note():
    return "saved " + request.form.get("note", "")


def _app(tmp_path, **environ):
    settings = Settings.from_env("demo", {"WORKLINK_VAR": str(tmp_path), **environ})
    tables = platform_tables(sa.MetaData(naming_convention=NAMING_CONVENTION))
    app, _ = create_service_app("demo", __name__, tables=tables, title="WorkLink Demo", description="Demo",
                                settings=settings)
    app.register_blueprint(pages)
    return app


@pytest.fixture()
def settings(tmp_path):
    return Settings.from_env("demo", {"WORKLINK_VAR": str(tmp_path)})


@pytest.fixture()
def app(tmp_path):
    return _app(tmp_path)


def _csrf(client) -> str:
    html = client.get("/").get_data(as_text=True)
    return html.split('name="csrf_token" value="')[1].split('"')[0]


@pytest.mark.parametrize("target", [
    "//evil.example", "/\\evil.example", "/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example",
    "\t//evil.example", "https://evil.example", "javascript:alert(1)", "%2F%2Fevil.example",
    "/x\r\nSet-Cookie: stolen=1",
])
def test_sign_in_never_redirects_to_another_site(app, settings, target):
    """Browsers drop tabs and line breaks from a URL and read '\\' as '/': each of these would
    leave the site (or, with a line break, split the header); sign-in goes home instead."""
    client = app.test_client()
    token = mint_token(settings.jwt, role="adviser", org="org-1")
    response = client.post("/signin", data={"csrf_token": _csrf(client), "token": token, "next": target})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    shown = client.get("/signin", query_string={"next": target}).get_data(as_text=True)
    assert 'name="next"' not in shown


def test_sign_in_still_returns_to_the_page_asked_for(app, settings):
    client = app.test_client()
    token = mint_token(settings.jwt, role="adviser", org="org-1")
    response = client.post("/signin", data={"csrf_token": _csrf(client), "token": token,
                                            "next": "/caseload?page=2&q=a b"})
    assert response.headers["Location"] == "/caseload?page=2&q=a%20b"
