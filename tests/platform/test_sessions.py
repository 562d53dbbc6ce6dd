"""Signed-in page sessions kept server-side (OWASP ASVS 4.0 V3, L2): an idle timeout, the 12-hour
limit, and sign-out (here or on every computer) that a copied cookie does not outlive - across two
app instances on one database (two gunicorn workers, two hosts), on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from flask import render_template_string

from worklink.auth import current_principal, mint_token, requires
from worklink.config import ConfigError, Settings
from worklink.db import NAMING_CONVENTION, platform_tables, utcnow
from worklink.web import create_service_app
from worklink.web.pages import PagesBlueprint
from worklink.web.sessions import session_id
from tests.apps import dispose_app
from tests.browser import assert_accessible, live_server, sealed, submit

PAGE = """{% extends "worklink/base.html" %}{% block content %}<h1>Caseload for {{ who }}</h1>
<form method="post" action="/notes">{{ csrf_field() }}<button class="nhsuk-button">Save note</button></form>
{% endblock %}"""

pages = PagesBlueprint("session_demo_pages", __name__)


@pages.get("/")
def home():
    return render_template_string(PAGE, who="nobody")


@pages.get("/caseload")
@requires("adviser")
def caseload():
    return render_template_string(PAGE, who=current_principal().subject)


@pages.post("/notes")
@requires("adviser")
def save_note():
    return "saved"


@pages.post("/drafts")
@requires("adviser")
def save_draft():  # a form whose answer is a page (one with errors, say), at an address that takes no GET
    return render_template_string(PAGE, who=current_principal().subject)


def _app(database_url: str, **environ):
    settings = Settings.from_env("demo", {"DEMO_DATABASE_URL": database_url, **environ})
    tables = platform_tables(sa.MetaData(naming_convention=NAMING_CONVENTION))
    app, _ = create_service_app("demo", __name__, tables=tables, title="WorkLink Demo", description="Demo",
                                settings=settings)
    app.register_blueprint(pages)
    tables.web_sessions.create(app.extensions["worklink"].database.engine, checkfirst=True)
    return app


@pytest.fixture()
def apps(database_url):
    """Two instances of one service on one database, as two gunicorn workers or hosts are."""
    first, second = _app(database_url), _app(database_url)
    yield first, second
    for app in (first, second):
        dispose_app(app)


def _token(app, subject: str = "adviser-ada", **claims) -> str:
    """A token of its own each time (an identity provider's carry a jti: two are never the same)."""
    return mint_token(app.extensions["worklink"].settings.jwt, role="adviser", org="org-1", subject=subject,
                      jti=uuid.uuid4().hex, **claims)


def _csrf(client) -> str:
    html = client.get("/").get_data(as_text=True)
    return html.split('name="csrf_token" value="')[1].split('"')[0]


def _sign_in(app, token: str):
    client = app.test_client()
    response = client.post("/signin", data={"csrf_token": _csrf(client), "token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def _copy(app, token: str):
    """Another browser holding a copy of the session cookie (taken from a shared computer, say)."""
    client = app.test_client()
    client.set_cookie("worklink_session", sealed(app, token))
    return client


def _move_clock(app, token: str, **shift: timedelta) -> None:
    """Move the session's stored times into the past, as if that much time had gone by."""
    ctx = app.extensions["worklink"]
    table = ctx.tables.web_sessions
    with ctx.database.transaction() as session:
        session.execute(table.update().where(table.c.id == session_id(token)).values(
            {column: utcnow() - ago for column, ago in shift.items()}))


def _row(app, token: str):
    ctx = app.extensions["worklink"]
    table = ctx.tables.web_sessions
    with ctx.database.sessions() as session:
        return session.execute(sa.select(table).where(table.c.id == session_id(token))).one()


def test_a_cookie_copied_before_sign_out_is_refused_after_it_by_every_instance(apps):
    first, second = apps
    token = _token(first)
    browser = _sign_in(first, token)
    copy = _copy(second, token)
    assert browser.get("/caseload").status_code == 200
    assert copy.get("/caseload").status_code == 200  # the other instance knows the session

    signed_out = browser.post("/signout", data={"csrf_token": _csrf(browser)})
    assert signed_out.status_code == 302
    for client in (copy, _copy(first, token)):
        refused = client.get("/caseload")
        assert refused.status_code == 302 and refused.headers["Location"].startswith("/signin?next=")
    again = first.test_client()
    retried = again.post("/signin", data={"csrf_token": _csrf(again), "token": token})
    assert retried.status_code == 401 and "was signed out" in retried.get_data(as_text=True)
    assert "worklink_session" not in str(retried.headers.getlist("Set-Cookie"))
    assert _sign_in(second, _token(first)).get("/caseload").status_code == 200  # a new sign-in works


def test_the_table_holds_no_token_anyone_could_sign_in_with(apps):
    first, _ = apps
    token = _token(first)
    _sign_in(first, token).get("/caseload")
    row = _row(first, token)
    assert row.subject == "adviser-ada" and row.ended_at is None
    assert all(token not in str(value) and token.split(".")[2] not in str(value) for value in row)


def test_sign_out_on_every_computer_ends_each_session_of_that_user_only(apps):
    first, second = apps
    at_work, at_home = _token(first), _token(first)
    colleague = _token(first, subject="adviser-bo")
    work, home, other = _sign_in(first, at_work), _sign_in(second, at_home), _sign_in(second, colleague)
    copied = _copy(second, at_work)
    assert all(c.get("/caseload").status_code == 200 for c in (work, home, other, copied))

    page = home.get("/caseload").get_data(as_text=True)
    assert 'action="/signout/everywhere"' in page and "Sign me out on every computer" in page
    done = home.post("/signout/everywhere", data={"csrf_token": _csrf(home)})
    assert done.status_code == 302
    assert all("Max-Age=0" in c for c in done.headers.getlist("Set-Cookie"))
    for client in (work, home, copied, _copy(first, at_home)):
        assert client.get("/caseload").status_code == 302
    assert other.get("/caseload").status_code == 200
    assert _row(first, at_work).end_reason == "everywhere"


def test_sign_out_on_every_computer_needs_a_signed_in_user_and_the_csrf_token(apps):
    first, _ = apps
    browser = _sign_in(first, _token(first))
    assert browser.post("/signout/everywhere").status_code == 400
    assert browser.get("/caseload").status_code == 200
    anonymous = first.test_client()
    refused = anonymous.post("/signout/everywhere", data={"csrf_token": _csrf(anonymous)})
    assert refused.status_code == 302 and refused.headers["Location"].startswith("/signin")


def _sign_in_again(html: str) -> tuple[str, list[str]]:
    """Where the idle page's "Sign in again" button leads: its path and its `next` values."""
    href = html.split('href="')[[i for i, part in enumerate(html.split('href="')) if "Sign in again" in
                                 part.split("</a>")[0]][0]].split('"')[0]
    link = urlsplit(unescape(href))
    return link.path, parse_qs(link.query).get("next", [])


def test_an_idle_session_ends_with_a_page_saying_so_that_leads_back_through_sign_in(apps):
    first, second = apps
    token = _token(first)
    browser = _sign_in(first, token)
    assert browser.get("/caseload").status_code == 200
    _move_clock(first, token, last_seen_at=timedelta(minutes=31))

    ended = _copy(second, token).get("/caseload?page=2")
    html = ended.get_data(as_text=True)
    assert ended.status_code == 401
    assert _ended_page(html) == ("Your session ended",
                                 "You've been signed out because you were inactive for 30 minutes.")
    assert _sign_in_again(html) == ("/signin", ["/caseload?page=2"])
    assert {c.split("=")[0] for c in ended.headers.getlist("Set-Cookie") if "Max-Age=0" in c} == {
        "worklink_session", "worklink_csrf"}
    assert browser.get("/caseload").status_code == 401  # the original browser too, in either instance
    assert _row(first, token).end_reason == "idle"
    assert browser.get("/caseload").status_code == 302  # its cookie went: plain sign-in now
    _move_clock(first, token, last_seen_at=timedelta(0))  # ended stays ended, however recent
    assert _copy(second, token).get("/caseload").status_code == 401


def _ended_page(html: str) -> tuple[str, str]:
    """The ended-session page's heading and the reason that opens its first paragraph (HTML-unescaped)."""
    heading = html.split("<h1>")[1].split("</h1>")[0]
    reason = unescape(html.split("<h1>")[1].split("<p>")[1].split("</p>")[0]).split(" This keeps")[0]
    return heading, reason


def _sign_in_refused(app, token: str) -> str:
    """The development sign-in page's words for a token it will not sign in with."""
    client = app.test_client()
    refused = client.post("/signin", data={"csrf_token": _csrf(client), "token": token})
    assert refused.status_code == 401
    return unescape(refused.get_data(as_text=True))


def test_signing_in_again_with_a_token_whose_session_ended_by_itself_says_why_not_signed_out(apps):
    """After the idle page, a person pasting the same token read "This access token was signed out" and
    looked for who had signed them out: the session ended by itself, and the page says how."""
    first, second = apps
    idle, old = _token(first), _token(first, ttl_seconds=7 * 24 * 3600)
    _sign_in(first, idle).get("/caseload")
    _sign_in(first, old).get("/caseload")
    _move_clock(first, idle, last_seen_at=timedelta(minutes=31))
    _move_clock(first, old, started_at=timedelta(hours=12, minutes=1), last_seen_at=timedelta(seconds=5))
    for app in (first, second):  # ended by this sign-in, then read back from the row
        html = _sign_in_refused(app, idle)
        assert "The session for this access token ended after 30 minutes of inactivity. Sign in with a new one." \
            in html and "signed out" not in html
        html = _sign_in_refused(app, old)
        assert "The session for this access token ended: a session lasts at most 12 hours. Sign in with a new one." \
            in html and "signed out" not in html
    assert (_row(first, idle).end_reason, _row(first, old).end_reason) == ("idle", "expired")
    everywhere = _sign_in(first, _token(first))
    everywhere.post("/signout/everywhere", data={"csrf_token": _csrf(everywhere)})
    assert "This access token was signed out on every computer. Sign in with a new one." in _sign_in_refused(
        second, _token(first, iat=int(utcnow().timestamp()) - 60))


def test_a_form_sent_after_the_idle_timeout_returns_to_its_page_on_this_site_only(apps):
    first, _ = apps
    token = _token(first)
    browser = _sign_in(first, token)
    csrf = _csrf(browser)
    _move_clock(first, token, last_seen_at=timedelta(hours=1))
    ours = browser.post("/notes", data={"csrf_token": csrf}, headers={"Referer": "http://localhost/caseload?q=1"})
    assert ours.status_code == 401 and _sign_in_again(ours.text) == ("/signin", ["/caseload?q=1"])
    browser.set_cookie("worklink_csrf", csrf)  # the idle page cleared both; put them back
    browser.set_cookie("worklink_session", sealed(first, token))
    theirs = browser.post("/notes", data={"csrf_token": csrf}, headers={"Referer": "https://evil.example/caseload"})
    assert theirs.status_code == 401 and _sign_in_again(theirs.text) == ("/signin", []) and "evil" not in theirs.text


def test_activity_keeps_a_session_open_writing_at_most_once_a_minute_and_never_a_cookie(apps):
    first, second = apps
    token = _token(first)
    browser = _sign_in(first, token)
    _move_clock(first, token, last_seen_at=timedelta(minutes=29))
    kept = _copy(second, token).get("/caseload")
    assert kept.status_code == 200 and "worklink_session" not in str(kept.headers.getlist("Set-Cookie"))
    assert utcnow() - _row(first, token).last_seen_at < timedelta(seconds=30)  # activity moved it on

    _move_clock(first, token, last_seen_at=timedelta(seconds=40))
    before = _row(first, token).last_seen_at
    response = browser.get("/caseload")
    assert response.status_code == 200 and "worklink_session" not in str(response.headers.getlist("Set-Cookie"))
    assert _row(first, token).last_seen_at == before  # under a minute since: no write


def test_the_idle_timeout_is_configurable(database_url):
    app = _app(database_url, WORKLINK_SESSION_IDLE_MINUTES="5")
    token = _token(app)
    browser = _sign_in(app, token)
    _move_clock(app, token, last_seen_at=timedelta(minutes=4))
    assert browser.get("/caseload").status_code == 200
    _move_clock(app, token, last_seen_at=timedelta(minutes=6))
    assert "because you were inactive for 5 minutes" in unescape(browser.get("/caseload").get_data(as_text=True))
    app.extensions["worklink"].database.dispose()
    for wrong in ("0", "-5", "half an hour"):
        with pytest.raises(ConfigError):
            Settings.from_env("demo", {"WORKLINK_SESSION_IDLE_MINUTES": wrong})


def test_a_session_ends_12_hours_after_sign_in_however_busy(apps):
    first, _ = apps
    token = _token(first, ttl_seconds=7 * 24 * 3600)
    browser = _sign_in(first, token)
    _move_clock(first, token, started_at=timedelta(hours=11, minutes=59))
    assert browser.get("/caseload").status_code == 200
    _move_clock(first, token, started_at=timedelta(hours=12, minutes=1), last_seen_at=timedelta(seconds=5))
    ended = browser.get("/caseload")
    html = ended.get_data(as_text=True)
    assert ended.status_code == 401  # it ended by itself: a page says so (it was a bare redirect to sign-in)
    assert _ended_page(html) == ("Your session ended",
                                 "You've been signed out because a session lasts at most 12 hours.")
    assert _sign_in_again(html) == ("/signin", ["/caseload"])
    assert _row(first, token).end_reason == "expired"
    assert browser.get("/caseload").status_code == 302  # its cookie went: plain sign-in now


def test_a_cookie_set_without_sign_in_starts_its_session_and_signs_out_for_good(apps):
    """A browser whose cookie a sign-in proxy set: its first request opens the session; and a
    token signed out before this service ever saw it is refused too."""
    first, second = apps
    token = _token(first)
    browser = _copy(first, token)
    assert browser.get("/caseload").status_code == 200 and _row(first, token).ended_at is None
    unseen = _token(first)
    other = _copy(second, unseen)
    signed_out = other.post("/signout", data={"csrf_token": _csrf(other)})
    assert signed_out.status_code == 302
    assert _copy(first, unseen).get("/caseload").status_code == 302


def test_a_new_session_forgets_the_sessions_of_expired_tokens(apps):
    """Also where sign-in is not this service's own /signin (a proxy sets the cookie)."""
    first, second = apps
    _sign_in(first, _token(first))
    _copy(first, _token(first, subject="adviser-bo")).get("/caseload")
    ctx = first.extensions["worklink"]
    table = ctx.tables.web_sessions
    with ctx.database.transaction() as session:
        session.execute(table.update().values(token_expires_at=utcnow() - timedelta(minutes=1)))
    token = _token(first)
    assert _copy(second, token).get("/caseload").status_code == 200
    with ctx.database.sessions() as session:
        assert session.execute(sa.select(table.c.id)).scalars().all() == [session_id(token)]


def test_the_idle_page_in_chromium_says_why_and_signs_back_in_to_the_same_page(tmp_path, page):
    app = _app(f"sqlite:///{tmp_path / 'demo.db'}")
    token = _token(app)
    with live_server(app) as base:
        page.goto(f"{base}/caseload?page=2")
        page.get_by_label("Access token").fill(token)
        submit(page, page.get_by_role("button", name="Sign in"))
        assert page.get_by_role("heading", level=1).inner_text() == "Caseload for adviser-ada"
        _move_clock(app, token, last_seen_at=timedelta(minutes=45))
        page.reload()
        assert page.get_by_role("heading", level=1).inner_text() == "Your session ended"
        assert page.title().startswith("Your session ended")
        assert "You've been signed out because you were inactive for 30 minutes." in \
            page.get_by_role("main").inner_text()
        assert_accessible(page)
        submit(page, page.get_by_role("button", name="Sign in again"))
        page.get_by_label("Access token").fill(_token(app))
        submit(page, page.get_by_role("button", name="Sign in"))
        assert page.url == f"{base}/caseload?page=2"
        assert page.get_by_role("heading", level=1).inner_text() == "Caseload for adviser-ada"


def test_two_development_tokens_minted_alike_are_two_sessions(apps):
    """`worklink token` twice in one second for one user: signing one out leaves the other."""
    first, _ = apps
    jwt_settings = first.extensions["worklink"].settings.jwt
    one, two = (mint_token(jwt_settings, role="adviser", org="org-1", subject="adviser-ada") for _ in range(2))
    assert one != two
    browser, other = _sign_in(first, one), _sign_in(first, two)
    browser.post("/signout", data={"csrf_token": _csrf(browser)})
    assert other.get("/caseload").status_code == 200


def test_the_session_cookie_is_no_bearer_token_and_only_a_sealed_one_signs_in(apps):
    first, second = apps
    token = _token(first)
    browser = _sign_in(first, token)
    cookie = browser.get_cookie("worklink_session").value
    assert token not in cookie and cookie != token
    assert first.extensions["worklink"].cookie_seal.unseal(cookie) == token
    # Copied out of the browser, the cookie is not a token the API would take (any service's API).
    assert first.extensions["worklink"].tokens.verify(token).subject == "adviser-ada"
    with pytest.raises(Exception):
        first.extensions["worklink"].tokens.verify(cookie)
    assert _copy_raw(second, cookie).get("/caseload").status_code == 200  # as a cookie, on any instance

    assert _copy_raw(first, token).get("/caseload").status_code == 302  # the bare token is no session
    tampered = cookie[:-6] + ("AAAAAA" if not cookie.endswith("AAAAAA") else "BBBBBB")
    assert _copy_raw(first, tampered).get("/caseload").status_code == 302


def _copy_raw(app, value: str):
    client = app.test_client()
    client.set_cookie("worklink_session", value)
    return client


def test_a_token_too_long_for_a_cookie_once_sealed_is_refused_at_sign_in(apps):
    first, _ = apps
    refused = first.test_client()
    long_token = _token(first, name="x" * 2900)  # verifies, but sealed it passes the 4 KB a browser keeps
    response = refused.post("/signin", data={"csrf_token": _csrf(refused), "token": long_token})
    assert response.status_code == 401 and "too long" in response.get_data(as_text=True)
    assert refused.get_cookie("worklink_session") is None


@pytest.mark.parametrize("environ, problem", [
    ({"WORKLINK_JWT_ALGORITHM": "RS256", "WORKLINK_JWKS_URL": "https://idp.example/jwks"}, "must be set"),
    ({"WORKLINK_SESSION_KEY": "short"}, "at least 32"),
])
def test_the_cookie_key_must_be_set_where_it_cannot_be_derived(monkeypatch, tmp_path, environ, problem):
    from worklink.web.sessions import session_key

    monkeypatch.delenv("WORKLINK_SESSION_KEY", raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env("demo", {"WORKLINK_VAR": str(tmp_path), "WORKLINK_ENV": "production",
                                          "WORKLINK_JWT_SECRET": "s" * 40, **environ})
    with pytest.raises(ConfigError, match=problem):
        session_key(settings)


def test_a_rotated_cookie_key_keeps_sessions_begun_before_it_until_it_is_dropped(monkeypatch, database_url):
    old, new = "o" * 40, "n" * 40
    monkeypatch.setenv("WORKLINK_SESSION_KEY", old)
    before = _app(database_url)
    token = _token(before)
    cookie = _sign_in(before, token).get_cookie("worklink_session").value

    monkeypatch.setenv("WORKLINK_SESSION_KEY", new)
    monkeypatch.setenv("WORKLINK_SESSION_KEY_PREVIOUS", old)
    rotated = _app(database_url)
    assert _copy_raw(rotated, cookie).get("/caseload").status_code == 200  # the session goes on
    fresh = _sign_in(rotated, _token(rotated)).get_cookie("worklink_session").value
    assert before.extensions["worklink"].cookie_seal.unseal(fresh) is None  # sealed under the new key only

    monkeypatch.delenv("WORKLINK_SESSION_KEY_PREVIOUS")
    dropped = _app(database_url)
    assert _copy_raw(dropped, cookie).get("/caseload").status_code == 302  # the old key no longer opens it
    assert _copy_raw(dropped, fresh).get("/caseload").status_code == 200
    for app in (before, rotated, dropped):
        app.extensions["worklink"].database.dispose()


def test_a_retired_cookie_key_must_be_as_long_as_a_current_one(monkeypatch, tmp_path):
    from worklink.web.sessions import session_keys

    monkeypatch.setenv("WORKLINK_SESSION_KEY", "n" * 40)
    monkeypatch.setenv("WORKLINK_SESSION_KEY_PREVIOUS", f"{'o' * 40} short")
    settings = Settings.from_env("demo", {"WORKLINK_VAR": str(tmp_path)})
    with pytest.raises(ConfigError, match="WORKLINK_SESSION_KEY_PREVIOUS: each key must be 32 or more"):
        session_keys(settings)
    monkeypatch.setenv("WORKLINK_SESSION_KEY_PREVIOUS", f"{'o' * 40}  {'n' * 40}\n{'o' * 40}")
    assert session_keys(settings) == ("n" * 40, "o" * 40)  # the current key and repeats once
