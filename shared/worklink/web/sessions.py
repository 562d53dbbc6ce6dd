"""Signed-in page sessions, kept in the service's own database (OWASP ASVS 4.0 V3, L2).

The session cookie holds the user's token; this module decides whether that token's session is
still open, in every gunicorn worker and process alike, through the `web_sessions` platform
table (keyed by a SHA-256 of the token, so the table holds nothing a reader could sign in with):
- an idle timeout (WORKLINK_SESSION_IDLE_MINUTES, 30 by default: GP practices share computers;
  the alliance's IG lead to confirm). Activity moves `last_seen_at` on at most once a minute (a tenth
  of the limit when that is shorter), so a busy user costs one write a minute and never a cookie write.
  Every check says when the session will end (`SessionTimes`): each signed-in page warns its user
  `warning` before that and offers to stay signed in (WCAG 2.2.1), which `keep_alive` does - it moves
  the idle clock on, never the 12 hours;
- an absolute lifetime of 12 hours from sign-in, whatever the token's own (ASVS 3.3.2); nor does a
  token issued over 12 hours ago start a session (its user signed in that long ago);
- sign-out ends the session for good: a copy of the cookie taken before is refused after;
- "sign out everywhere" ends every session of the user at this service and, where the service
  announces it (`<service>.user_sessions.ended` in the catalogue and its PUBLISHES), at every service
  that handles that event: the announcement is written to the outbox in the same transaction, so it
  reaches the others however long the broker or a consumer is down. It names the user by
  `user_reference`, the keyed hash of the login id (worklink.pseudonyms), never the id. A handler
  (`ending_sessions_handler`) matches the reference against the subjects of its open sessions,
  computed there rather than stored, so a reference made under today's key always matches. It ends the sessions whose token was issued before the sign-out (each
  row keeps its token's `iat`), those begun since at a service whose consumer was behind among them,
  while a sign-in made since with a new token stays open; a redelivered event ends nothing more.
  Which services announce is `worklink.events.contracts.platform.ANNOUNCERS`; which end their sessions
  on hearing it, their events.py HANDLERS (all four do both);
- after a sign-out everywhere no token issued before it starts a session, even at a service that never
  saw that token (another computer's, a copied cookie): each service that makes or hears the
  announcement keeps a mark, "this user's sessions ended everywhere at T", and a session starts only
  from a token whose `iat` is after the user's mark (one primary-key read when a session starts, none on
  later requests). `iat` is whole seconds, so a token issued in T's own second is refused too: the safe
  side. A token without `iat` (the verifier requires one) starts no session once the user has a mark.
  The mark is a `web_sessions` row (`end_reason` "everywhere_mark", `id` and `subject` the user reference,
  `ended_at` T), not a table of its own to migrate in four services; a session's id, a token's SHA-256,
  never equals a reference. Making or hearing it is one upsert that only ever moves T later, so a
  redelivered or older announcement changes nothing. It is forgotten as expired sessions are, 12 hours
  after T: no token it refuses could start a session by then, being over 12 hours old, however long it
  lives. The reference is computed from the token's subject under the clinician reference key
  (`mark_keys`) when a session starts.
A token first seen in a cookie (not through /signin) starts its session then. An ended session's
row is kept until its token expires, so the same token cannot start a new one; each new session
removes the rows of expired tokens and marks.

The cookie carries the token sealed (`CookieSeal`: Fernet, AES-CBC with HMAC-SHA256) under a key only
the services hold, so a copy taken from a browser is no bearer token the API would accept.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from datetime import datetime, timedelta, timezone
from typing import Callable, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from worklink.auth import Principal
from worklink.config import ConfigError, Settings
from worklink.db import Database, utcnow
from worklink.events.contracts.platform import user_key, user_sessions_ended
from worklink.keyring import Seal, Unopenable, key_ring
from worklink.messaging.outbox import Outbox
from worklink.pseudonyms import clinician_reference, clinician_reference_key, clinician_reference_keys

SESSION_KEY_VARIABLE = "WORKLINK_SESSION_KEY"
COOKIE_LIMIT = 4000  # bytes: browsers keep a cookie of up to 4096 with its name and attributes

SESSION_HOURS = 12  # ASVS 3.3.2 (L2): sign in again at least every 12 hours, however long the token lives
REFRESH_AFTER = timedelta(minutes=1)  # how stale last_seen_at may get before a request moves it on
WARN_BEFORE = timedelta(minutes=2)  # a page warns this long before its session ends (GOV.UK's timeout warning)
LIFETIME = timedelta(hours=SESSION_HOURS)
LEEWAY = timedelta(minutes=5)  # a row is kept this long past its token's expiry: past any verifier leeway
Announcer = Callable[[object, datetime], None]  # (transaction, ended_at): tells the other services
# Why a session ended (web_sessions.end_reason).
SIGNED_OUT, EVERYWHERE, IDLE, EXPIRED = "signed_out", "everywhere", "idle", "expired"
MARK = "everywhere_mark"  # not a session: a user's sign-out everywhere mark (see the module docstring)


class SignInRequired(Exception):
    """An anonymous visitor asked for a page that needs a signed-in user (worklink.web.pages sends
    them to sign in)."""


class SessionEnded(SignInRequired):
    """The token's session was ended: signed out (here or everywhere), idle too long, or too old."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionTimes(NamedTuple):
    """When an open session ends unless its user does something: `ends_at` is the idle limit or, nearer it,
    the 12 hours (then not `renewable`: staying active or signed in does not move it)."""

    ends_at: datetime
    renewable: bool


class SessionStore:
    def __init__(self, database: Database, table: sa.Table, idle_minutes: int, reference_keys: tuple[str, ...],
                 clock: Callable[[], datetime] = utcnow):
        self.database = database
        self.table = table
        self.idle = timedelta(minutes=idle_minutes)
        # A short limit (1 minute) is still renewed by activity: moved on only once a minute, it never was.
        self.refresh_after = min(REFRESH_AFTER, self.idle / 10)
        # Long enough to answer (WCAG 2.2.1 asks 20 seconds at least: 30 under a 1-minute limit).
        self.warning = min(WARN_BEFORE, self.idle / 2)
        # Name a user's sign-out mark (see `mark_keys`): written under the first, looked for under each.
        self._reference_keys = tuple(reference_keys)
        self._clock = clock
        # Built once; read on a plain connection, not an ORM session: this runs on every signed-in page.
        self._select = sa.select(table).where(table.c.id == sa.bindparam("key"))

    def start(self, token: str, principal: Principal) -> None:
        """Sign-in: open the token's session (SessionEnded if it was ended before)."""
        self.check(token, principal)

    def check(self, token: str, principal: Principal, renew: bool = True) -> SessionTimes:
        """Every signed-in page request: SessionEnded unless the token's session is open; when it will end.
        The request is activity, moving the idle clock on, unless `renew` is False (the page that
        a timed-out warning leads to only looks)."""
        key, now = session_id(token), self._clock()
        started, last_seen = self._open(key, principal, now)
        if renew and now - last_seen > self.refresh_after:
            self._touch(key, now)
            last_seen = now
        return self._times(started, last_seen)

    def keep_alive(self, token: str, principal: Principal) -> SessionTimes:
        """"Stay signed in": SessionEnded unless the session is open, else its idle clock starts again now
        (whenever it last moved) - never past the 12 hours from sign-in."""
        key, now = session_id(token), self._clock()
        started, _ = self._open(key, principal, now)
        self._touch(key, now)
        return self._times(started, now)

    def _open(self, key: str, principal: Principal, now: datetime) -> tuple[datetime, datetime]:
        """The open session's (started_at, last_seen_at), begun now if new; SessionEnded if it has ended."""
        row = self._row(key)
        if row is None:
            self._begin(key, principal, now)
            return now, now
        if row.ended_at is not None:
            raise SessionEnded(row.end_reason)
        if now - row.last_seen_at > self.idle:
            self._end(key, IDLE, now)
        if now - row.started_at > LIFETIME:
            self._end(key, EXPIRED, now)
        return row.started_at, row.last_seen_at

    def _touch(self, key: str, now: datetime) -> None:
        with self.database.transaction() as session:
            session.execute(self.table.update().where(self.table.c.id == key, self.table.c.ended_at.is_(None))
                            .values(last_seen_at=now))

    def _times(self, started: datetime, last_seen: datetime) -> SessionTimes:
        idle_ends, lifetime_ends = last_seen + self.idle, started + LIFETIME
        return SessionTimes(min(idle_ends, lifetime_ends), idle_ends < lifetime_ends)

    def sign_out(self, token: str, principal: Principal | None) -> None:
        """End the token's session; one never seen here is recorded as ended, so it cannot start."""
        key, now = session_id(token), self._clock()
        with self.database.transaction() as session:
            ended = session.execute(self._ending(key, SIGNED_OUT, now)).rowcount
            if not ended and principal is not None:
                exists = session.execute(sa.select(self.table.c.id).where(self.table.c.id == key)).first()
                if exists is None:
                    session.execute(self.table.insert().values(
                        **self._new_row(key, principal, now), ended_at=now, end_reason=SIGNED_OUT))

    def sign_out_everywhere(self, subject: str, announce: Announcer | None = None) -> int:
        """End every open session of `subject` at this service; how many there were. `announce`
        (session, ended_at) tells the other services in the same transaction (an outbox event)."""
        now = self._clock()
        with self.database.transaction() as session:
            ended = session.execute(
                self.table.update().where(self.table.c.subject == subject, self.table.c.ended_at.is_(None))
                .values(ended_at=now, end_reason=EVERYWHERE)).rowcount
            mark_signed_out_everywhere(session, self.table, clinician_reference(subject, self._reference_keys[0]), now)
            if announce is not None:
                announce(session, now)
            return ended

    def _begin(self, key: str, principal: Principal, now: datetime) -> None:
        self._refuse_if_issued_before_sign_out(principal, now)
        try:
            with self.database.transaction() as session:
                # Each new session forgets those whose token no longer works anyway (an index range).
                session.execute(self.table.delete().where(self.table.c.token_expires_at < now))
                session.execute(self.table.insert().values(**self._new_row(key, principal, now)))
        except sa.exc.IntegrityError:  # another worker began it (or ended it) just now: go by its row
            self._refuse_if_ended(key)

    def _refuse_if_issued_before_sign_out(self, principal: Principal, now: datetime) -> None:
        """A token starts a session only if issued in the last 12 hours and after the user's last sign-out
        everywhere (its mark: one primary-key read). A token without `iat` starts none once there is a mark."""
        issued = _issued_at(principal)
        if issued is not None and issued < now - LIFETIME:
            raise SessionEnded(EXPIRED)
        for key in self._reference_keys:  # a mark written (or heard) before a key rotation is named under the old key
            mark = self._row(clinician_reference(principal.subject, key))
            # iat is whole seconds: one issued in the second of the sign-out may be from before it, so it is refused.
            if mark is not None and (issued is None or issued <= mark.ended_at):
                raise SessionEnded(EVERYWHERE)

    def _refuse_if_ended(self, key: str) -> None:
        row = self._row(key)
        if row is not None and row.ended_at is not None:
            raise SessionEnded(row.end_reason)

    def _row(self, key: str):
        with self.database.engine.connect() as connection:
            return connection.execute(self._select, {"key": key}).first()

    def _new_row(self, key: str, principal: Principal, now: datetime) -> dict:
        expires = datetime.fromtimestamp(float(principal.claims.get("exp", 0)), timezone.utc)
        return {"id": key, "subject": principal.subject, "started_at": now, "last_seen_at": now,
                "token_expires_at": max(expires, now) + LEEWAY, "token_issued_at": _issued_at(principal)}

    def _ending(self, key: str, reason: str, now: datetime):
        return (self.table.update().where(self.table.c.id == key, self.table.c.ended_at.is_(None))
                .values(ended_at=now, end_reason=reason))

    def _end(self, key: str, reason: str, now: datetime) -> None:
        with self.database.transaction() as session:
            session.execute(self._ending(key, reason, now))
        raise SessionEnded(reason)


def announcer(outbox: Outbox, subject: str, settings: Settings) -> Announcer | None:
    """How a sign-out everywhere reaches the other services: the outbox event this service announces it
    by, naming the user by reference; None for a service that announces none (its catalogue has no
    `<service>.user_sessions.ended`)."""
    event_type = user_sessions_ended(outbox.service)
    if event_type not in outbox.catalogue:
        return None
    reference = clinician_reference(subject, clinician_reference_key(settings))

    def announce(session, ended_at: datetime) -> None:
        outbox.publish(session, event_type, {"user_reference": reference, "user_key": user_key(reference),
                                             "ended_at": ended_at})
    return announce


def end_sessions_of(session, table: sa.Table, reference: str, ended_at: datetime,
                    reference_keys: tuple[str, ...]) -> int:
    """End the open sessions of the user whose reference this is whose token was issued by `ended_at`
    (also those begun since, before this service heard); how many. The reference is matched against
    the subjects of open sessions (one HMAC each: a few thousand at most, as a session lasts 12 hours),
    never stored."""
    # Begun no more than 12 hours before the sign-out (older ones had ended by then anyway). A row from
    # before sessions kept their token's iat goes by when it began.
    issued_by = sa.or_(table.c.token_issued_at <= ended_at,
                       sa.and_(table.c.token_issued_at.is_(None), table.c.started_at <= ended_at))
    open_before = sa.and_(table.c.ended_at.is_(None), issued_by, table.c.started_at > ended_at - LIFETIME)
    subjects = session.scalars(sa.select(table.c.subject).where(open_before).distinct()).all()
    matching = [subject for subject in subjects  # under any key still configured: announced before a rotation
                if any([hmac.compare_digest(clinician_reference(subject, key), reference) for key in reference_keys])]
    if not matching:
        return 0
    return session.execute(table.update().where(open_before, table.c.subject.in_(matching))
                           .values(ended_at=utcnow(), end_reason=EVERYWHERE)).rowcount


def ending_sessions_handler(table: sa.Table, service: str) -> Callable:
    """The consumer handler for every `<service>.user_sessions.ended`: end that user's sessions here.
    The key is read when an event comes (it is the one every service shares), not at import."""
    def on_user_sessions_ended(session, event) -> None:
        keys = clinician_reference_keys(Settings.from_env(service))
        reference, ended_at = event.data["user_reference"], _aware(event.data["ended_at"])
        end_sessions_of(session, table, reference, ended_at, keys)
        mark_signed_out_everywhere(session, table, reference, ended_at)
    return on_user_sessions_ended


def mark_signed_out_everywhere(session, table: sa.Table, reference: str, ended_at: datetime) -> None:
    """Remember that the user whose reference this is signed out everywhere at `ended_at`, so no token
    issued before starts a session here (`SessionStore`). One upsert: a mark only ever moves later, so a
    redelivered or older announcement changes nothing."""
    insert = (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(table)
    insert = insert.values(id=reference, subject=reference, started_at=ended_at, last_seen_at=ended_at,
                           ended_at=ended_at, end_reason=MARK, token_expires_at=ended_at + LIFETIME + LEEWAY)
    moved = ("started_at", "last_seen_at", "ended_at", "token_expires_at")
    session.execute(insert.on_conflict_do_update(
        index_elements=[table.c.id], set_={name: insert.excluded[name] for name in moved},
        where=sa.and_(table.c.end_reason == MARK, table.c.ended_at < insert.excluded.ended_at)))


def mark_keys(settings: Settings) -> tuple[str, ...]:
    """The keys a user's mark is named under: the platform-wide clinician reference key (and those a rotation
    retired), as the announcements are. A service that can have none (production RS256 without it: one that
    neither announces nor hears the announcement) names its own marks under its cookie keys instead."""
    try:
        return clinician_reference_keys(settings)
    except ConfigError:
        return tuple(key + ":sign-out-marks" for key in session_keys(settings))


def _issued_at(principal: Principal) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(principal.claims["iat"]), timezone.utc)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class CookieSeal:
    """Seals the token the session cookie carries: only a holder of the key can read it back, and any
    change to the cookie makes it unreadable (it is then no session at all). Sealed under the first key;
    opened under any (`session_keys`: after a rotation, the sessions begun before it go on)."""

    def __init__(self, *keys: str):
        self._seal = Seal(*keys)

    def seal(self, token: str) -> str:
        return self._seal.seal(token)

    def unseal(self, value: str) -> str | None:
        try:
            return self._seal.open(value)
        except Unopenable:
            return None


def session_key(settings: Settings) -> str:
    """WORKLINK_SESSION_KEY, else derived from the JWT secret every service shares. Production with
    tokens not signed by a shared secret has none to derive from: there the key must be set."""
    key = os.environ.get(SESSION_KEY_VARIABLE) or ""
    if key and len(key) < 32:
        raise ConfigError(f"{SESSION_KEY_VARIABLE} must be at least 32 characters")
    if not key and settings.env == "production" and not settings.jwt.algorithm.startswith("HS"):
        raise ConfigError(f"{SESSION_KEY_VARIABLE} must be set in production when tokens are not "
                          "signed with a shared secret")
    return key or settings.jwt.secret + ":session-cookie"


def session_keys(settings: Settings) -> tuple[str, ...]:
    """The cookie key, then those a rotation retired (WORKLINK_SESSION_KEY_PREVIOUS, worklink.keyring):
    they open the cookies sealed before it, so nobody is signed out by a rotation. Drop them after
    12 hours, the longest a session lives."""
    return key_ring(session_key(settings), os.environ, SESSION_KEY_VARIABLE)
