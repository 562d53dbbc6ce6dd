""""Sign me out on every computer" across services: the service where the user asks ends its own sessions
and announces it through its outbox in the same transaction; every service that handles the announcement
ends that user's sessions of tokens issued before it, and no one else's, and starts none with such a
token. The user is a keyed reference, never the login id (which can be an e-mail address). On SQLite and
PostgreSQL; on real Kafka in tests/e2e."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import render_template_string

from worklink.auth import Principal, current_principal, mint_token, requires
from worklink.config import ConfigError, Settings
from worklink.db import NAMING_CONVENTION, platform_tables, utcnow
from worklink.events.catalogue import EventSchemaError, broadcast_violations
from worklink.events.contracts import CATALOGUE
from worklink.events.contracts.platform import ANNOUNCERS, SESSION_EVENT_TYPES, user_key, user_sessions_ended
from worklink.messaging.consumer import ReceivedEvent
from worklink.messaging.outbox import Outbox
from worklink.pseudonyms import clinician_reference, clinician_reference_key
from worklink.service import installed_services
from worklink.web import create_service_app
from worklink.web.pages import PagesBlueprint
from worklink.web.sessions import SessionEnded, announcer, ending_sessions_handler, session_id
from tests.apps import disposed_after
from tests.browser import sealed

LOGIN = "ada.lovelace@practice.example"  # a login id that is an e-mail address: it never leaves the service
COLLEAGUE = "bo.brown@practice.example"

pages = PagesBlueprint("everywhere_demo_pages", __name__)


@pages.get("/")
def home():
    return render_template_string("<form>{{ csrf_field() }}</form>")


@pages.get("/caseload")
@requires("gp")
def caseload():
    return f"caseload of {current_principal().subject}"


def _app(service: str, database_url: str):
    """A bare service app named `service` (its pages announce a sign-out everywhere if the catalogue has
    `<service>.user_sessions.ended`) on its own platform tables."""
    settings = Settings.from_env(service, {f"{service.upper()}_DATABASE_URL": database_url})
    tables = platform_tables(sa.MetaData(naming_convention=NAMING_CONVENTION))
    app, _ = create_service_app(service, __name__, tables=tables, title="WorkLink Demo", description="Demo",
                                settings=settings)
    app.register_blueprint(pages)
    engine = app.extensions["worklink"].database.engine
    tables.web_sessions.metadata.drop_all(engine, tables=[tables.web_sessions, tables.outbox])
    tables.web_sessions.metadata.create_all(engine, tables=[tables.web_sessions, tables.outbox])
    return app


@pytest.fixture()
def referrals(database_url):
    yield from disposed_after(_app("referrals", database_url))


def _token(app, subject: str = LOGIN, **claims) -> str:
    return mint_token(app.extensions["worklink"].settings.jwt, role="gp", org="practice-1", subject=subject,
                      jti=uuid.uuid4().hex, **claims)


def _browser(app, token: str):
    client = app.test_client()
    client.set_cookie("worklink_session", sealed(app, token))
    assert client.get("/caseload").status_code == 200  # its session is open
    return client


def _csrf(client) -> str:
    html = client.get("/").get_data(as_text=True)
    return html.split('name="csrf_token" value="')[1].split('"')[0]


def _outbox(app) -> list:
    ctx = app.extensions["worklink"]
    with ctx.database.sessions() as session:
        return session.execute(sa.select(ctx.tables.outbox)).all()


def _end_reason(app, token: str):
    ctx = app.extensions["worklink"]
    table = ctx.tables.web_sessions
    with ctx.database.sessions() as session:
        return session.scalar(sa.select(table.c.end_reason).where(table.c.id == session_id(token)))


def _key(app) -> str:
    return clinician_reference_key(app.extensions["worklink"].settings)


def test_signing_out_everywhere_ends_the_sessions_here_and_announces_it_by_reference(referrals):
    at_work, at_home, colleague = _token(referrals), _token(referrals), _token(referrals, COLLEAGUE)
    work, home, other = (_browser(referrals, t) for t in (at_work, at_home, colleague))

    done = home.post("/signout/everywhere", data={"csrf_token": _csrf(home)})
    assert done.status_code == 302
    assert [work.get("/caseload").status_code, other.get("/caseload").status_code] == [302, 200]
    assert _end_reason(referrals, at_work) == _end_reason(referrals, at_home) == "everywhere"

    [row] = _outbox(referrals)
    event = json.loads(row.payload)
    reference = clinician_reference(LOGIN, _key(referrals))
    assert (row.type, row.aggregatetype, row.aggregateid) == ("referrals.user_sessions.ended",
                                                              "referrals.user-sessions", str(user_key(reference)))
    assert event["data"]["user_reference"] == reference and set(event["data"]) == {"user_reference", "user_key",
                                                                                   "ended_at"}
    assert event["partitionkey"] == event["data"]["user_key"] == str(uuid.UUID(reference[:32]))
    # no login id rides on it ("lovelace", not "ada": hex ids may spell that)
    assert "lovelace" not in row.payload.lower() and "practice.example" not in row.payload


def test_the_sign_out_and_its_announcement_commit_together_or_not_at_all(referrals):
    """The outbox event is written in the sign-out's transaction: if it cannot be written, no session
    ends here either, and the user is told of an error rather than half signed out."""
    token = _token(referrals)
    browser = _browser(referrals, token)
    ctx = referrals.extensions["worklink"]
    ctx.tables.outbox.drop(ctx.database.engine)
    referrals.config["PROPAGATE_EXCEPTIONS"] = False
    failed = browser.post("/signout/everywhere", data={"csrf_token": _csrf(browser)})
    assert failed.status_code >= 500  # 503 where the database reports a missing table as an outage
    assert _end_reason(referrals, token) is None and browser.get("/caseload").status_code == 200


def test_a_service_that_announces_nothing_ends_its_own_sessions_only(database_url):
    app = _app("demo", database_url)  # a service with no announcement in the catalogue
    try:
        token = _token(app)
        browser = _browser(app, token)
        assert browser.post("/signout/everywhere", data={"csrf_token": _csrf(browser)}).status_code == 302
        assert _end_reason(app, token) == "everywhere" and _outbox(app) == []
    finally:
        app.extensions["worklink"].database.dispose()


def test_a_service_that_announces_nothing_needs_no_reference_key(monkeypatch):
    """Production with RS256 and no WORKLINK_CLINICIAN_REFERENCE_KEY has no key to name a user by: a service
    that announces nothing must still sign out everywhere (its own sessions), not fail for want of one."""
    monkeypatch.delenv("WORKLINK_CLINICIAN_REFERENCE_KEY", raising=False)
    settings = Settings.from_env("demo", {"WORKLINK_ENV": "production", "WORKLINK_JWT_ALGORITHM": "RS256",
                                          "WORKLINK_JWKS_URL": "https://idp.example/jwks"})
    tables = platform_tables(sa.MetaData())
    assert announcer(Outbox("demo", tables, CATALOGUE), LOGIN, settings) is None
    with pytest.raises(ConfigError):  # one that announces does need it
        announcer(Outbox("referrals", tables, CATALOGUE), LOGIN, settings)


def _received(event_type: str, reference: str, ended_at) -> ReceivedEvent:
    event, entry = CATALOGUE.build(event_type, {"user_reference": reference, "user_key": user_key(reference),
                                                "ended_at": ended_at}, source="urn:worklink:referrals")
    entry, data = CATALOGUE.load(event)
    return ReceivedEvent(event, entry, data, entry.topic, 0, 0)


def test_the_handler_ends_that_users_sessions_of_tokens_issued_before_the_sign_out_and_no_one_elses(database_url):
    app = _app("adjustments", database_url)
    try:
        ctx = app.extensions["worklink"]
        earlier, copied, colleague, copied_since = _token(app), _token(app), _token(app, COLLEAGUE), _token(app)
        browsers = [_browser(app, t) for t in (earlier, copied, colleague)]
        _next_second()
        signed_out_at = utcnow()
        begun_since = _browser(app, copied_since)  # a token from before, first used after, before this service heard
        _next_second()
        later = _token(app)  # signed in again after signing out everywhere, before this service heard of it
        again = _browser(app, later)

        handle = ending_sessions_handler(ctx.tables.web_sessions, "adjustments")
        event = _received("referrals.user_sessions.ended", clinician_reference(LOGIN, _key(app)), signed_out_at)
        with ctx.database.transaction() as session:
            handle(session, event)
        assert [b.get("/caseload").status_code for b in browsers] == [302, 302, 200]
        assert _end_reason(app, earlier) == "everywhere" and _end_reason(app, colleague) is None
        assert begun_since.get("/caseload").status_code == 302 and _end_reason(app, copied_since) == "everywhere"
        assert again.get("/caseload").status_code == 200 and _end_reason(app, later) is None

        with ctx.database.transaction() as session:  # redelivered: nothing more ends
            handle(session, event)
        assert again.get("/caseload").status_code == 200 and browsers[2].get("/caseload").status_code == 200
    finally:
        app.extensions["worklink"].database.dispose()


def test_a_reference_made_under_another_key_ends_nothing(database_url):
    """The reference is a keyed hash: a service keyed otherwise (or an outsider guessing a login id's
    plain hash) names no one."""
    app = _app("adjustments", database_url)
    try:
        ctx = app.extensions["worklink"]
        browser = _browser(app, _token(app))
        handle = ending_sessions_handler(ctx.tables.web_sessions, "adjustments")
        for reference in (clinician_reference(LOGIN, "another key entirely, 32+ characters"),
                          hashlib.sha256(LOGIN.encode()).hexdigest()):
            with ctx.database.transaction() as session:
                handle(session, _received("adjustments.user_sessions.ended", reference, utcnow()))
        assert browser.get("/caseload").status_code == 200
    finally:
        app.extensions["worklink"].database.dispose()


@pytest.mark.parametrize("event_type", SESSION_EVENT_TYPES)
def test_the_announcement_passes_the_broadcast_guard_and_refuses_a_login_id(event_type):
    entry = CATALOGUE.current(event_type)
    assert not entry.restricted and broadcast_violations(entry) == []
    assert (entry.topic, entry.key) == (event_type.split(".")[0] + ".user-sessions", "user_key")
    for login in (LOGIN, "ada", "9434765919", "A" * 64):
        with pytest.raises(EventSchemaError):
            CATALOGUE.build(event_type, {"user_reference": login, "user_key": uuid.uuid4(), "ended_at": utcnow()},
                            source="urn:worklink:test")


def test_each_announcing_service_publishes_its_type_and_others_handle_it():
    """Which service announces and which ends its sessions on hearing it, as wired in events.py. The
    referrals and notifications consumers and the directory's and notifications' pages are not wired yet
    (their tests pin their HANDLERS and PUBLISHES: see the sessions module)."""
    services = installed_services()
    announcing = {name for name, spec in services.items() if user_sessions_ended(name) in spec.publishes}
    assert announcing == set(ANNOUNCERS) == set(services)
    assert {name for name in services if user_sessions_ended(name) in CATALOGUE} == announcing
    handling = {name for name, spec in services.items() if set(SESSION_EVENT_TYPES) <= set(spec.handlers)}
    assert handling == set(services)
    for name in handling:
        handler = services[name].handlers[SESSION_EVENT_TYPES[0]]
        assert handler.__qualname__.startswith("ending_sessions_handler")


# A token issued before the sign-out that a service has never seen starts no session there afterwards.

def _holding(app, token: str):
    """A browser holding `token` in its cookie that has not used it yet (another computer, or a copy)."""
    client = app.test_client()
    client.set_cookie("worklink_session", sealed(app, token))
    return client


def _signs_in(app, token: str) -> int:
    client = app.test_client()
    return client.post("/signin", data={"csrf_token": _csrf(client), "token": token}).status_code


def _next_second() -> None:
    """A token's `iat` is whole seconds: one minted in the second of a sign-out counts as from before it."""
    time.sleep(1 - time.time() % 1)


def _mark(app, reference: str):
    ctx = app.extensions["worklink"]
    table = ctx.tables.web_sessions
    with ctx.database.sessions() as session:
        return session.execute(sa.select(table.c.ended_at, table.c.token_expires_at)
                               .where(table.c.id == reference, table.c.end_reason == "everywhere_mark")).first()


def test_a_token_issued_before_signing_out_everywhere_and_unseen_here_starts_no_session(referrals):
    unseen, colleague = _token(referrals), _token(referrals, COLLEAGUE)  # issued before, never used here
    browser = _browser(referrals, _token(referrals))
    assert browser.post("/signout/everywhere", data={"csrf_token": _csrf(browser)}).status_code == 302

    refused = _holding(referrals, unseen).get("/caseload")
    assert refused.status_code == 302 and refused.headers["Location"].startswith("/signin")
    assert _signs_in(referrals, unseen) == 401
    assert _end_reason(referrals, unseen) is None  # refused by the mark, no row of its own
    assert _holding(referrals, colleague).get("/caseload").status_code == 200  # nobody else's
    _next_second()
    assert _signs_in(referrals, _token(referrals)) == 302  # a token issued since signs in
    assert _holding(referrals, _token(referrals)).get("/caseload").status_code == 200


def test_hearing_the_announcement_refuses_tokens_issued_before_it_and_the_mark_never_moves_back(database_url):
    app = _app("adjustments", database_url)
    try:
        ctx = app.extensions["worklink"]
        handle = ending_sessions_handler(ctx.tables.web_sessions, "adjustments")
        reference = clinician_reference(LOGIN, _key(app))
        unseen = _token(app)  # the user signs out everywhere at referrals before ever using it here
        _next_second()
        signed_out_at = utcnow()
        between = _token(app, iat=int(signed_out_at.timestamp()) - 60)  # issued a minute before the sign-out
        _next_second()
        announced = _received("referrals.user_sessions.ended", reference, signed_out_at)
        with ctx.database.transaction() as session:
            handle(session, announced)
        assert _mark(app, reference).ended_at == signed_out_at
        assert [_holding(app, t).get("/caseload").status_code for t in (unseen, between)] == [302, 302]
        after = _token(app)
        assert _holding(app, after).get("/caseload").status_code == 200

        older = _received("directory.user_sessions.ended", reference, signed_out_at - timedelta(hours=1))
        for event in (announced, older):  # redelivered, then an older sign-out heard late
            with ctx.database.transaction() as session:
                handle(session, event)
        assert _mark(app, reference).ended_at == signed_out_at
        assert _holding(app, between).get("/caseload").status_code == 302
        assert _holding(app, after).get("/caseload").status_code == 200 and _signs_in(app, _token(app)) == 302

        later = signed_out_at + timedelta(seconds=5)  # a later sign-out moves it on
        with ctx.database.transaction() as session:
            handle(session, _received("notifications.user_sessions.ended", reference, later))
        assert _mark(app, reference) == (later, later + timedelta(hours=12, minutes=5))
    finally:
        app.extensions["worklink"].database.dispose()


def test_a_mark_is_forgotten_with_expired_sessions_once_no_token_it_refuses_could_start_one(database_url):
    """A mark lasts 12 hours: by then any token issued before it is over 12 hours old, and such a token
    starts no session anyway (ASVS 3.3.2: its sign-in was that long ago), however long it lives."""
    app = _app("adjustments", database_url)
    try:
        ctx = app.extensions["worklink"]
        reference = clinician_reference(LOGIN, _key(app))
        old_sign_out = utcnow() - timedelta(hours=12, minutes=6)
        with ctx.database.transaction() as session:
            ending_sessions_handler(ctx.tables.web_sessions, "adjustments")(
                session, _received("referrals.user_sessions.ended", reference, old_sign_out))
        assert _mark(app, reference) is not None
        issued_before = _token(app, iat=int(old_sign_out.timestamp()) - 60)  # and valid for days yet
        # over 12 hours since its sign-in: the page says the session ended (401), as a lifetime's end does
        ended = _holding(app, issued_before).get("/caseload")
        assert ended.status_code == 401 and "a session lasts at most 12 hours" in ended.get_data(as_text=True)
        assert _signs_in(app, issued_before) == 401
        assert _holding(app, _token(app, COLLEAGUE)).get("/caseload").status_code == 200  # a new session...
        assert _mark(app, reference) is None  # ...forgets the mark as it forgets expired sessions
        assert _holding(app, issued_before).get("/caseload").status_code == 401  # still over 12 hours old
    finally:
        app.extensions["worklink"].database.dispose()


def test_a_token_without_an_issue_time_starts_no_session_once_the_user_signed_out_everywhere(referrals):
    """The verifier requires `iat`; were a token without one to reach the store, it could be from before."""
    store, now = referrals.extensions["worklink"].sessions, utcnow()
    exp = (now + timedelta(hours=1)).timestamp()
    without_iat = Principal(LOGIN, "gp", "practice-1", claims={"sub": LOGIN, "exp": exp})
    store.start("a token without iat", without_iat)  # no mark: it starts
    store.sign_out_everywhere(LOGIN)
    with pytest.raises(SessionEnded) as refused:
        store.start("another token without iat", without_iat)
    assert refused.value.reason == "everywhere"
    store.start("a colleague's", Principal(COLLEAGUE, "gp", "practice-1", claims={"sub": COLLEAGUE, "exp": exp}))


OLD_KEY, NEW_KEY = "retired-reference-key-" + "o" * 20, "current-reference-key-" + "n" * 20


def test_after_a_reference_key_rotation_an_announcement_under_the_old_key_still_ends_sessions(database_url, monkeypatch):
    """An announcement sent (or still in flight) before WORKLINK_CLINICIAN_REFERENCE_KEY was rotated names the
    user under the old key: a service that keeps it as previous still recognises them."""
    monkeypatch.setenv("WORKLINK_CLINICIAN_REFERENCE_KEY", NEW_KEY)
    monkeypatch.setenv("WORKLINK_CLINICIAN_REFERENCE_KEY_PREVIOUS", OLD_KEY)
    app = _app("adjustments", database_url)
    try:
        ctx = app.extensions["worklink"]
        browser, colleague = _browser(app, _token(app)), _browser(app, _token(app, COLLEAGUE))
        _next_second()
        handle = ending_sessions_handler(ctx.tables.web_sessions, "adjustments")
        with ctx.database.transaction() as session:
            handle(session, _received("referrals.user_sessions.ended", clinician_reference(LOGIN, OLD_KEY), utcnow()))
        assert browser.get("/caseload").status_code == 302 and colleague.get("/caseload").status_code == 200
    finally:
        app.extensions["worklink"].database.dispose()


def test_a_sign_out_mark_made_before_a_key_rotation_still_refuses_older_tokens(database_url, monkeypatch):
    monkeypatch.setenv("WORKLINK_CLINICIAN_REFERENCE_KEY", OLD_KEY)
    before = _app("referrals", database_url)
    unseen = _token(before)  # issued before the sign-out, never used here
    browser = _browser(before, _token(before))
    assert browser.post("/signout/everywhere", data={"csrf_token": _csrf(browser)}).status_code == 302
    before.extensions["worklink"].database.dispose()

    monkeypatch.setenv("WORKLINK_CLINICIAN_REFERENCE_KEY", NEW_KEY)
    monkeypatch.setenv("WORKLINK_CLINICIAN_REFERENCE_KEY_PREVIOUS", OLD_KEY)
    rotated = _reopen("referrals", database_url)
    try:
        assert _signs_in(rotated, unseen) == 401  # the mark, named under the old key, is still found
        _next_second()
        assert _signs_in(rotated, _token(rotated)) == 302
    finally:
        rotated.extensions["worklink"].database.dispose()


def _reopen(service: str, database_url: str):
    """The service again on the same tables, kept as they are (a redeploy)."""
    settings = Settings.from_env(service, {f"{service.upper()}_DATABASE_URL": database_url})
    tables = platform_tables(sa.MetaData(naming_convention=NAMING_CONVENTION))
    app, _ = create_service_app(service, __name__, tables=tables, title="WorkLink Demo", description="Demo",
                                settings=settings)
    app.register_blueprint(pages)
    return app
