"""The web-security layer every service shares, probed as an attacker would (OWASP ASVS 4.0 L2):
redirects, cookies, CSRF, security headers."""

from __future__ import annotations

from html import unescape

import pytest
import sqlalchemy as sa
from flask import render_template_string, request

from worklink.auth import mint_token, requires
from worklink.config import Settings
from worklink.db import NAMING_CONVENTION, platform_tables
from worklink.web import create_service_app
from worklink.web.pages import PagesBlueprint
from tests.apps import disposed_after
from tests.browser import sealed

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
    tables.web_sessions.create(app.extensions["worklink"].database.engine, checkfirst=True)  # signed-in sessions
    return app


@pytest.fixture()
def settings(tmp_path):
    return Settings.from_env("demo", {"WORKLINK_VAR": str(tmp_path)})


@pytest.fixture()
def app(tmp_path):
    yield from disposed_after(_app(tmp_path))


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


@pytest.mark.parametrize("role", ["gp", "adviser", "org_admin"])
def test_staff_signing_in_with_a_token_naming_no_organisation_are_told_why_on_the_sign_in_page(app, settings, role):
    """Verification refuses such a token (worklink.auth): sign-in shows its reason, not a 500 or a session; a
    session cookie holding one (sealed before the refusal) is sent to sign in."""
    client = app.test_client()
    token = mint_token(settings.jwt, role=role)
    refused = client.post("/signin", data={"csrf_token": _csrf(client), "token": token, "next": "/caseload"},
                          headers={"Accept": "text/html"})
    assert (refused.status_code, refused.mimetype) == (401, "text/html")
    html = unescape(refused.get_data(as_text=True))
    assert "There is a problem" in html and "<h1>Sign in</h1>" in html
    assert f"{role}'s access token must name the organisation they act for (org claim)." in html
    assert not any(c.startswith("worklink_session=") for c in refused.headers.getlist("Set-Cookie"))
    client.set_cookie("worklink_session", sealed(app, token))
    sent = client.get("/caseload", headers={"Accept": "text/html"})
    assert sent.status_code == 302 and sent.headers["Location"].startswith("/signin?next=")


PRODUCTION = {"WORKLINK_ENV": "production", "WORKLINK_JWT_SECRET": "a-production-secret-of-32-characters!"}


def _secret_link_pages():
    links = PagesBlueprint("security_secret_links", __name__)

    @links.get("/respond/<token>")
    def respond(token):
        return render_template_string(PAGE)

    return links


def test_every_response_carries_the_security_headers(app):
    app.register_blueprint(_secret_link_pages())
    client = app.test_client()
    responses = {"page": client.get("/"), "api": client.get("/healthz"), "problem": client.get("/nothing-here"),
                 "asset": client.get("/static/nhsuk/nhsuk-frontend.min.css"), "docs": client.get("/docs"),
                 "secret link": client.get("/respond/abc"), "openapi": client.get("/openapi.json")}
    for kind, response in responses.items():
        assert response.status_code in (200, 404), kind
        headers = response.headers
        assert headers["X-Content-Type-Options"] == "nosniff", kind
        assert headers["X-Frame-Options"] == "DENY", kind
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], kind
        assert "camera=()" in headers["Permissions-Policy"], kind
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin", kind
        assert "Strict-Transport-Security" not in headers, kind  # plain HTTP, not production
    assert responses["secret link"].headers["Referrer-Policy"] == "no-referrer"
    assert responses["page"].headers["Referrer-Policy"] == "same-origin"
    page_policy = responses["page"].headers["Content-Security-Policy"]
    assert "default-src 'none'" in page_policy and "'unsafe-inline'" not in page_policy
    nonce = page_policy.split("'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">' in responses["page"].get_data(as_text=True)
    assert nonce not in client.get("/").headers["Content-Security-Policy"]  # a new nonce each response
    assert responses["api"].headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_hsts_over_https_through_a_trusted_proxy_or_in_production(tmp_path):
    plain = _app(tmp_path).test_client()
    assert "Strict-Transport-Security" not in plain.get("/healthz", headers={"X-Forwarded-Proto": "https"}).headers
    assert "max-age=" in plain.get("/healthz", base_url="https://localhost").headers["Strict-Transport-Security"]
    proxied = _app(tmp_path, WORKLINK_TRUSTED_PROXIES="1").test_client()
    forwarded = proxied.get("/healthz", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.0.0.9"})
    assert "max-age=" in forwarded.headers["Strict-Transport-Security"]
    production = _app(tmp_path, **PRODUCTION).test_client()
    assert "max-age=" in production.get("/healthz").headers["Strict-Transport-Security"]


def _cookies(response) -> dict[str, str]:
    """Set-Cookie headers by cookie name."""
    return {header.split("=", 1)[0]: header for header in response.headers.getlist("Set-Cookie")}


def test_cookies_are_secure_over_https_and_host_prefixed_in_production(tmp_path, settings):
    token = mint_token(settings.jwt, role="adviser", org="org-1")
    plain = _app(tmp_path).test_client()
    assert "Secure" not in _cookies(plain.get("/"))["worklink_csrf"]  # http://localhost in development
    https = _app(tmp_path).test_client()
    csrf_cookie = _cookies(https.get("/", base_url="https://localhost"))["worklink_csrf"]
    assert "Secure" in csrf_cookie and "HttpOnly" in csrf_cookie and "SameSite=Strict" in csrf_cookie
    signed_in = https.post("/signin", base_url="https://localhost",
                           data={"csrf_token": csrf_cookie.split("=")[1].split(";")[0], "token": token})
    session = _cookies(signed_in)["worklink_session"]
    assert "Secure" in session and "HttpOnly" in session and "SameSite=Lax" in session and "Path=/" in session

    production = _app(tmp_path, **PRODUCTION).test_client()
    cookie = _cookies(production.get("/"))["__Host-worklink_csrf"]
    assert "Secure" in cookie and "Path=/" in cookie and "Domain" not in cookie
    signed_in = production.post("/signin", data={"csrf_token": "x", "token": token})  # no development sign-in
    assert signed_in.status_code == 400 and "worklink_session" not in str(_cookies(signed_in))
    production_token = mint_token(Settings.from_env("demo", {"WORKLINK_VAR": str(tmp_path), **PRODUCTION}).jwt,
                                  role="adviser", org="org-1")
    production.set_cookie("worklink_session", sealed(production.application, production_token))  # the unprefixed name is not ours there
    assert production.get("/caseload").status_code == 302
    production.set_cookie("__Host-worklink_session", sealed(production.application, production_token))
    assert production.get("/caseload").status_code == 200


def test_a_session_lasts_at_most_12_hours_and_sign_out_forgets_it_and_the_csrf_token(app, settings):
    client = app.test_client()
    week_long = mint_token(settings.jwt, role="adviser", org="org-1", ttl_seconds=7 * 24 * 3600)
    signed_in = client.post("/signin", data={"csrf_token": _csrf(client), "token": week_long})
    assert "Max-Age=43200" in _cookies(signed_in)["worklink_session"]
    short = mint_token(settings.jwt, role="adviser", org="org-1", ttl_seconds=600)
    signed_in = client.post("/signin", data={"csrf_token": _csrf(client), "token": short})
    max_age = int(_cookies(signed_in)["worklink_session"].split("Max-Age=")[1].split(";")[0])
    assert 590 <= max_age <= 600  # no longer than the token itself still works
    assert client.get("/caseload").status_code == 200
    signed_out = client.post("/signout", data={"csrf_token": _csrf(client)})
    cleared = _cookies(signed_out)
    assert set(cleared) == {"worklink_session", "worklink_csrf"}
    assert all("Max-Age=0" in header and "HttpOnly" in header for header in cleared.values())
    assert client.get("/caseload").status_code == 302
    assert client.get_cookie("worklink_csrf") is None


def test_sign_out_needs_the_csrf_token_and_a_cross_site_get_signs_nobody_out(app, settings):
    client = app.test_client()
    adviser = mint_token(settings.jwt, role="adviser", org="org-1")
    client.post("/signin", data={"csrf_token": _csrf(client), "token": adviser})
    assert client.get("/signout").status_code == 405
    assert client.post("/signout").status_code == 400
    assert client.get("/caseload").status_code == 200  # still signed in


def test_sign_out_asked_for_json_with_the_session_cookie_ends_no_session(app, settings):
    """A program asking a page for JSON is answered as the API is, without the CSRF check, since only a bearer
    token speaks for it. Sign-out read the cookie itself: a script on a sibling site (same-site, so the Lax cookie
    goes along) posting to /signout with Accept: application/json ended the user's session."""
    client = app.test_client()
    adviser = mint_token(settings.jwt, role="adviser", org="org-1")
    client.post("/signin", data={"csrf_token": _csrf(client), "token": adviser})
    for path, status in (("/signout", 400), ("/signout/everywhere", 401)):
        refused = client.post(path, headers={"Accept": "application/json", "Sec-Fetch-Site": "same-site"})
        assert refused.status_code == status and refused.mimetype == "application/problem+json"
        assert "Set-Cookie" not in refused.headers
    assert client.get("/caseload").status_code == 200  # still signed in


def test_the_csrf_check_compares_any_text_without_failing(app):
    """hmac.compare_digest raises TypeError for non-ASCII str: a 500 before the fix."""
    client = app.test_client()
    _csrf(client)
    for forged in ("é", "😀" * 40, "x" * 5000):
        response = client.post("/notes", data={"csrf_token": forged, "note": "hi"})
        assert response.status_code == 400 and b"Your form could not be sent" in response.data


def test_a_form_sent_from_another_site_is_refused_even_with_the_token(app):
    """Fetch Metadata: a browser says a request was started by another site. A planted CSRF cookie
    (another app on the same host, a sibling subdomain) would otherwise pass the double submit."""
    client = app.test_client()
    token = _csrf(client)
    refused = client.post("/notes", data={"csrf_token": token, "note": "hi"}, headers={"Sec-Fetch-Site": "cross-site"})
    assert refused.status_code == 403 and refused.mimetype == "text/html"
    for site in ("same-origin", "same-site", "none", None):
        headers = {"Sec-Fetch-Site": site} if site else {}
        assert client.post("/notes", data={"csrf_token": token, "note": "hi"}, headers=headers).status_code == 200


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_every_state_changing_method_on_a_page_route_needs_the_csrf_token(app, method):
    extra = PagesBlueprint("security_other_methods", __name__)
    extra.add_url_rule("/notes/1", "change", lambda: "changed", methods=["PUT", "PATCH", "DELETE"])
    app.register_blueprint(extra)
    client = app.test_client()
    _csrf(client)
    response = client.open("/notes/1", method=method, data={"note": "hi"}, headers={"Accept": "text/html"})
    assert response.status_code == 400


def test_echoed_and_forwarded_ids_are_ids_never_injected_text(app):
    """X-Request-ID comes back in a header and X-Correlation-ID rides on every event a request
    publishes: anything but a short id is replaced by our own."""
    from worklink import context

    echo = PagesBlueprint("security_correlation", __name__)
    echo.add_url_rule("/correlation", "correlation", lambda: context.correlation_id_var.get() or "")
    app.register_blueprint(echo)
    client = app.test_client()
    for bad in ("a b", "x" * 129, "<script>alert(1)</script>", "Ada Lovelace, 943 476 5919", "é"):
        response = client.get("/correlation", headers={"X-Request-ID": bad, "X-Correlation-ID": bad})
        own = response.headers["X-Request-ID"]
        assert own != bad and len(own) == 32
        assert response.get_data(as_text=True) == own
    kept = client.get("/correlation", headers={"X-Request-ID": "req-1", "X-Correlation-ID": "flow-7:step.2"})
    assert kept.headers["X-Request-ID"] == "req-1" and kept.get_data(as_text=True) == "flow-7:step.2"


def test_what_a_request_says_is_escaped_on_html_error_pages(app, settings):
    client = app.test_client()
    html = {"Accept": "text/html"}
    missing = client.get("/<script>alert(1)</script>", headers=html).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in missing
    token = mint_token(settings.jwt, role="adviser", org="org-1").split(".")
    forged = ".".join([token[0], token[1], "<img src=x onerror=alert(1)>"])
    refused = client.post("/signin", data={"csrf_token": _csrf(client), "token": forged,
                                           "next": '/"><script>alert(1)</script>'}, headers=html)
    assert refused.status_code == 401
    assert "<img" not in refused.get_data(as_text=True) and "<script>alert" not in refused.get_data(as_text=True)


def test_metrics_are_for_the_scraper_only_when_a_token_is_set_and_never_public_in_production(tmp_path):
    assert _app(tmp_path).test_client().get("/metrics").status_code == 200  # development: open, as before
    guarded = _app(tmp_path, WORKLINK_METRICS_TOKEN="scrape-me").test_client()
    assert guarded.get("/metrics").status_code == 401
    assert guarded.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert guarded.get("/metrics", headers={"Authorization": "Bearer é"}).status_code == 401
    scraped = guarded.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert scraped.status_code == 200 and b"worklink_http_requests_total" in scraped.data
    production = _app(tmp_path, **PRODUCTION).test_client()
    assert production.get("/metrics").status_code == 404
    scraper = "scrape-me-" + "s" * 22  # production takes 32 characters or more (test_production_start)
    production = _app(tmp_path, **PRODUCTION, WORKLINK_METRICS_TOKEN=scraper).test_client()
    assert production.get("/metrics", headers={"Authorization": f"Bearer {scraper}"}).status_code == 200


def test_an_unexpected_error_shows_no_trace_in_production(tmp_path):
    app = _app(tmp_path, **PRODUCTION)
    crash = PagesBlueprint("security_crash", __name__)
    crash.add_url_rule("/crash", "crash", lambda: 1 / 0)
    app.register_blueprint(crash)
    client = app.test_client()
    for accept in ("text/html", "application/json"):
        response = client.get("/crash", headers={"Accept": accept})
        text = response.get_data(as_text=True)
        assert response.status_code == 500
        assert "Traceback" not in text and "ZeroDivisionError" not in text and "division by zero" not in text


def test_a_request_for_another_host_is_refused_once_the_hosts_are_named(tmp_path):
    """Links are built from the request's Host (an employer's reply link): with WORKLINK_ALLOWED_HOSTS
    a forged Host (or X-Forwarded-Host through a trusted proxy) is a 400, never a link to another site."""
    links = PagesBlueprint("security_host_links", __name__)
    links.add_url_rule("/link", "link", lambda: request.host_url + "respond/abc")
    app = _app(tmp_path, WORKLINK_ALLOWED_HOSTS="adjustments.worklink.example, localhost",
               WORKLINK_TRUSTED_PROXIES="1")
    app.register_blueprint(links)
    client = app.test_client()
    ours = client.get("/link", base_url="https://adjustments.worklink.example")
    assert ours.status_code == 200 and ours.get_data(as_text=True).startswith("https://adjustments.worklink.example/")
    forged = client.get("/link", headers={"Host": "evil.example", "Accept": "application/json"})
    assert forged.status_code == 400 and forged.mimetype == "application/problem+json"
    page = client.get("/link", headers={"Host": "evil.example", "Accept": "text/html"})  # a page's error page
    assert page.status_code == 400 and "//evil.example" not in page.get_data(as_text=True)
    proxied = client.get("/link", headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-For": "10.0.0.1"})
    assert proxied.status_code == 400
    assert client.get("/nothing-here", headers={"Host": "evil.example"}).status_code == 400
    # Probes and scrapers ask by the container's address (the image's HEALTHCHECK, a load balancer): no link is
    # built from the Host there, and a service naming its hosts was never healthy.
    for path in ("/healthz", "/readyz", "/metrics"):
        assert client.get(path, headers={"Host": "10.0.3.7:8000"}).status_code == 200, path
