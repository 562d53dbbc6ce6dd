"""Bearer-token authentication and per-endpoint authorisation.

Tokens are JWTs with `sub`, `role` (one of ROLES), `org` (the organisation the
user acts for: required for ORGANISATION_ROLES, absent for residents, optional for an
alliance admin), `iss`, `aud` and `exp`. Development uses
HS256 with a shared secret; production uses RS256 with a public key or a JWKS URL
(and refuses to start with the development secret, see config.Settings.check).
"""

from __future__ import annotations

import functools
import logging
import math
import random
import re
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

import jwt
from flask import current_app, g, request

from worklink.config import ConfigError, JwtSettings
from worklink.problems import Problem

log = logging.getLogger(__name__)

ROLES = ("resident", "gp", "adviser", "org_admin", "alliance_admin")
ORGANISATION_ROLES = ("gp", "adviser", "org_admin")  # always act for one organisation: their token names it
# Signature algorithms a deployment may choose (never "none"); each verifier accepts only its one.
ALGORITHMS = ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
MAX_TOKEN_CHARS = 8192  # an IdP's token is ~1 KB; a megabyte one would be parsed and hashed before it failed
_CHALLENGE_TEXT = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")  # RFC 6750 3: what error_description may hold
ROLE_PEOPLE = {"resident": "residents", "gp": "GPs and other clinicians", "adviser": "employment advisers",
               "org_admin": "organisation administrators", "alliance_admin": "alliance administrators"}
ROLE_PERSON = {"resident": "a resident", "gp": "a GP or other clinician", "adviser": "an employment adviser",
               "org_admin": "an organisation administrator", "alliance_admin": "an alliance administrator"}


def _a(role: str) -> str:
    return ("An " if role[0] in "aeiou" else "A ") + role


def _people(roles) -> str:
    names = [ROLE_PEOPLE.get(role, role) for role in roles]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _not_for_your_role(role: str, roles) -> str:
    """The refusal in a person's words, for an error page (the API's detail names the role codes)."""
    what = "see this page" if request.method in ("GET", "HEAD") else "do this"
    return f"You are signed in as {ROLE_PERSON.get(role, repr(role))}. Only {_people(roles)} can {what}."


@dataclass(frozen=True)
class Principal:
    subject: str
    role: str
    organisation: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str | None:
        """The person's display name, if the token carries one (OpenID Connect's `name` claim) and it is a name:
        services show it to other organisations in place of the login id (display_name)."""
        value = self.claims.get("name")  # cut as org_name is: the services keep it in 200 characters
        return display_name(value.strip()[:200].strip(), self.subject) if isinstance(value, str) else None

    @property
    def organisation_name(self) -> str | None:
        """The name of the organisation they act for, if the token carries one (`org_name`: the identity
        provider's; `org` stays the id every check uses)."""
        value = self.claims.get("org_name")
        return (value.strip()[:200] or None) if isinstance(value, str) else None

    @property
    def is_alliance_admin(self) -> bool:
        return self.role == "alliance_admin"

    def acts_for(self, organisation: str | None) -> bool:
        """May this user act on a record owned by `organisation`?"""
        return self.is_alliance_admin or (organisation is not None and organisation == self.organisation)


_ADDRESS = re.compile(r"[^\s@]+@[^\s@]+")


def display_name(name: str, subject: str) -> str | None:
    """`name` as a display name shown outside the person's organisation, or None when it is their login id
    in disguise: some identity providers fill the `name` claim with the e-mail address or the subject, an
    internal identifier of their organisation's (a reader then sees their role at their organisation)."""
    if not name or _ADDRESS.search(name) or name.casefold() == subject.strip().casefold():
        return None
    return name


def _unauthenticated(detail: str, error: str | None = "invalid_token") -> Problem:
    challenge = 'Bearer realm="worklink"'
    if error:  # the detail can quote the token (a key id): no quotes or line breaks of its making
        challenge += f', error="{error}", error_description="{_CHALLENGE_TEXT.sub("", detail)[:200]}"'
    return Problem(401, detail, headers={"WWW-Authenticate": challenge})


class SigningKeys:
    """The identity provider's signing keys, by key id, as its JWKS endpoint publishes them.

    The key set is fetched again once it is `lifespan` seconds old, so a key withdrawn from it stops verifying.
    A key id the set lacks (a key just rotated in, or a made-up one) fetches it again at most once per
    `cooldown`. A fetch that fails (the endpoint down, an error, no answer within `timeout`) is not tried again
    for a backoff doubling from `backoff` to `max_backoff`: until then a token needing a key the set does not hold
    is refused at once, where each one waited `timeout` on its own fetch, tying up a worker thread and hammering
    the failing endpoint (PyJWT's cooldown starts only after a fetch that worked). The keys held keep verifying,
    and never wait behind a fetch: one fetch at a time, and only verifications that need it wait for it.
    While fetches fail, the last key set fetched keeps verifying past its lifespan, up to `max_stale` seconds
    old: an identity provider's JWKS down for a few minutes must not make every service refuse every token. A
    key withdrawn from a key set we can fetch stops verifying within `lifespan`, as before.
    Each wait is shortened by up to a fifth at random (`jitter` gives 0..1): the processes of every service start
    together and fail together, so without it they would all ask again in the same second when the IdP returns.
    """

    def __init__(self, url: str, *, lifespan: float, timeout: float, cooldown: float, backoff: float,
                 max_backoff: float, max_stale: float = 0.0, clock: Callable[[], float] = time.monotonic,
                 jitter: Callable[[], float] = random.random):
        self._client = jwt.PyJWKClient(url, cache_jwk_set=False, timeout=timeout)  # its fetch only, no caches
        self._lifespan, self._cooldown, self._max_stale = lifespan, cooldown, max(max_stale, lifespan)
        self._first_backoff, self._max_backoff, self._backoff = backoff, max_backoff, 0.0
        self._clock, self._jitter = clock, jitter
        self._keys: dict[str, Any] = {}  # replaced whole, never changed: read without the lock
        self._fetched_at: float | None = None
        self._retry_at = 0.0  # after a failed fetch: no other before this
        self._fetching = threading.Lock()

    def key(self, kid: str):
        held = self._held()
        if kid in held:
            return held[kid]
        stale = self._stale()
        if kid in stale:  # fetches fail: try again when the backoff allows and no other is trying, else it serves
            if not self._may_fetch() or not self._fetching.acquire(blocking=False):
                return stale[kid]
            try:
                held = self._fetch()
            finally:
                self._fetching.release()
            if kid in held:
                return held[kid]
            raise self._refusal(kid, held)  # fetched, and the key is withdrawn
        with self._fetching:
            held = self._held() or self._stale()  # another verification may have fetched it meanwhile
            if kid not in held and self._may_fetch():
                held = self._fetch()
        if kid in held:
            return held[kid]
        raise self._refusal(kid, held)

    def _held(self) -> dict[str, Any]:
        fresh = self._fetched_at is not None and self._clock() - self._fetched_at < self._lifespan
        return self._keys if fresh else {}

    def _stale(self) -> dict[str, Any]:
        """The last key set fetched, while the last fetch failed and it is under `max_stale` old."""
        failing = self._retry_at > 0
        usable = self._fetched_at is not None and self._clock() - self._fetched_at < self._max_stale
        return self._keys if failing and usable else {}

    def _may_fetch(self) -> bool:
        now = self._clock()
        if now < self._retry_at:
            return False
        return self._fetched_at is None or now - self._fetched_at >= min(self._cooldown, self._lifespan)

    def _fetch(self) -> dict[str, Any]:
        try:
            key_set = jwt.PyJWKSet.from_dict(self._client.fetch_data())
        # ValueError: a 200 answer that is not JSON; OSError: a connection reset while its body is read (PyJWT
        # wraps only errors opening the connection), which was a 500 for the request, not a failed fetch.
        except (jwt.PyJWTError, ValueError, OSError) as exc:
            self._backoff = min(max(self._backoff * 2, self._first_backoff), self._max_backoff)
            self._retry_at = self._clock() + self._backoff * (1 - 0.2 * self._jitter())
            log.warning("JWKS fetch failed; next try in %.0f s: %s", self._backoff, exc)
            return self._held() or self._stale()
        self._keys = {key.key_id: key.key for key in key_set.keys
                      if key.key_id and key.public_key_use in ("sig", None)}
        self._fetched_at, self._retry_at, self._backoff = self._clock(), 0.0, 0.0
        return self._keys

    def _refusal(self, kid: str, held: dict[str, Any]) -> Problem:
        wait = self._retry_at - self._clock()
        if wait <= 0:  # the key set is current and has no such key
            return _unauthenticated(f"The access token is not valid: the identity provider's key set has no "
                                    f"signing key {kid!r}.")
        # Not the client's fault (RFC 6750 has no error for it): its token may be good, signed with a key just
        # rotated in. A 401 would tell it to drop the token, and a page to sign in again, through the same IdP.
        seconds = max(1, math.ceil(wait))
        what = (f"names signing key {kid!r}, which the key set held here lacks," if held else
                "cannot be checked:")
        return Problem(503, f"The access token {what} and the identity provider's key set (JWKS) could not be "
                            f"fetched. Try again in {seconds} s.", headers={"Retry-After": str(seconds)})


class TokenVerifier:
    """Verifies bearer tokens, remembering the ones it verified.

    A user sends the same token with every request until it expires; checking its signature
    and claims each time is a measurable share of a request's CPU. A verified token (keyed by
    its whole text, signature included, so nothing unverified can match) is trusted until
    its expiry (with the leeway) or for REVERIFY_SECONDS, whichever is sooner, so a signing
    key withdrawn from the JWKS stops being honoured within minutes.
    """

    CACHE_SIZE = 4096
    REVERIFY_SECONDS = 300
    JWKS_LIFESPAN = REVERIFY_SECONDS  # how long a fetched JWKS is used before it is fetched again
    JWKS_TIMEOUT = 5  # seconds a fetch may wait for the endpoint (PyJWT's default is 30): verifications needing it wait
    JWKS_COOLDOWN = 30  # seconds: a key id not in the key set fetches it at most this often
    JWKS_RETRY_SECONDS = 2  # after a failed fetch, none again for this long, doubling while they fail ...
    JWKS_RETRY_MAX_SECONDS = 60  # ... up to this
    JWKS_MAX_STALE_SECONDS = 3600  # while fetches fail, the last key set verifies until it is this old

    def __init__(self, settings: JwtSettings, clock: Callable[[], float] = time.time):
        if settings.algorithm not in ALGORITHMS:
            raise ConfigError(f"WORKLINK_JWT_ALGORITHM must be one of {', '.join(ALGORITHMS)}, "
                              f"not {settings.algorithm!r}")
        self.settings = settings
        # No per-kid cache that outlives the key set (PyJWT's cache_keys is an LRU without expiry: a key withdrawn
        # from the JWKS was honoured for ever).
        self._jwks = (SigningKeys(settings.jwks_url, lifespan=self.JWKS_LIFESPAN, timeout=self.JWKS_TIMEOUT,
                                  cooldown=self.JWKS_COOLDOWN, backoff=self.JWKS_RETRY_SECONDS,
                                  max_backoff=self.JWKS_RETRY_MAX_SECONDS, max_stale=self.JWKS_MAX_STALE_SECONDS)
                      if settings.jwks_url else None)
        self._clock = clock
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _key(self, token: str):
        if self._jwks is not None:
            kid = jwt.get_unverified_header(token).get("kid")
            if not isinstance(kid, str) or not kid:
                raise _unauthenticated("The access token names no signing key (kid) of the identity provider's.")
            return self._jwks.key(kid)
        if self.settings.algorithm.startswith("HS"):
            return self.settings.secret
        return self.settings.public_key

    def verify(self, token: str) -> Principal:
        if len(token) > MAX_TOKEN_CHARS:
            raise _unauthenticated(f"The access token is longer than {MAX_TOKEN_CHARS} characters.")
        now = self._clock()
        with self._lock:
            known = self._verified.get(token)
            if known is not None and now < known[1]:
                self._verified.move_to_end(token)
                return known[0]
        principal = self._verify(token)
        trusted_until = min(float(principal.claims["exp"]) + self.settings.leeway_seconds,
                            now + self.REVERIFY_SECONDS)
        with self._lock:
            self._verified[token] = (principal, trusted_until)
            if len(self._verified) > self.CACHE_SIZE:
                self._verified.popitem(last=False)
        return principal

    def _verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(token, self._key(token), algorithms=[self.settings.algorithm],
                                audience=self.settings.audience, issuer=self.settings.issuer,
                                leeway=self.settings.leeway_seconds,
                                options={"require": ["sub", "exp", "iat", "role"]})
        except jwt.ExpiredSignatureError:
            raise _unauthenticated("The access token has expired.") from None
        except jwt.InvalidSignatureError:
            raise _unauthenticated("The access token's signature is not valid.") from None
        except (jwt.InvalidTokenError, jwt.PyJWKClientError) as exc:
            raise _unauthenticated(f"The access token is not valid: {exc}.") from None
        if claims["role"] not in ROLES:
            raise _unauthenticated(f"Unknown role {claims['role']!r} in the access token.")
        if not _is_a_date(claims["exp"]):  # PyJWT takes any whole number; the page session keeps it as a date
            raise _unauthenticated("The access token's expiry (exp) is later than any date.")
        if not isinstance(claims.get("org", ""), str):
            # One organisation's id, compared with the records' ids: a list (an IdP's groups) failed a query with
            # a 500, and a number matched the text id on SQLite.
            raise _unauthenticated("The access token's org claim must be one organisation's id, as a string.")
        if claims["role"] in ORGANISATION_ROLES and not claims.get("org", "").strip():
            # Fail closed once, here: an endpoint that forgot to refuse "no organisation" read it as "every
            # organisation" (notifications listed every organisation's webhooks to such an org_admin).
            raise _unauthenticated(f"{_a(claims['role'])}'s access token must name the organisation they act for "
                                   "(org claim).")
        return Principal(subject=str(claims["sub"]), role=claims["role"],
                         organisation=claims.get("org"), claims=claims)


def _is_a_date(timestamp: Any) -> bool:
    """A Unix time a date can hold (year 9999 at most): a page session stores its token's expiry as one, and an
    expiry past it (or an absurd number) failed sign-in with a 500."""
    try:
        datetime.fromtimestamp(float(timestamp), timezone.utc)
        return True
    except (OverflowError, ValueError, OSError):
        return False


def mint_token(settings: JwtSettings, *, role: str, org: str | None = None, subject: str | None = None,
               ttl_seconds: int = 3600, private_key: str | None = None, **extra: Any) -> str:
    """Issue a token (development tooling and tests; production tokens come from the IdP)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    now = int(time.time())
    # jti: two tokens are never the same, as an IdP's are not - a page session is its token's (web.sessions)
    claims = {"sub": subject or f"dev-{role}-{uuid.uuid4().hex[:8]}", "role": role, "iss": settings.issuer,
              "aud": settings.audience, "iat": now, "exp": now + ttl_seconds, "jti": uuid.uuid4().hex, **extra}
    if org:
        claims["org"] = org
    key = settings.secret if settings.algorithm.startswith("HS") else private_key
    if key is None:
        raise ValueError(f"{settings.algorithm} needs a private key to sign")
    return jwt.encode(claims, key, algorithm=settings.algorithm)


def authenticate() -> Principal:
    """The caller's principal, or a 401 problem. Cached on `g` for the request.

    API routes take a bearer token only. Pages (see worklink.web.pages) also take the
    signed-in user's token from an HttpOnly cookie while its session is open (signed out,
    idle and too-old sessions end: worklink.web.sessions), and send a visitor without a
    valid one to the sign-in page.
    """
    if "principal" in g:
        return g.principal
    from worklink.web.pages import SignInRequired, is_page_request, session_cookie_name

    verifier = current_app.extensions["worklink"].tokens
    header = request.headers.get("Authorization", "")
    if not header and is_page_request():
        # The cookie holds the token sealed (worklink.web.sessions.CookieSeal): anything else is no session.
        token = current_app.extensions["worklink"].cookie_seal.unseal(request.cookies.get(session_cookie_name(), ""))
        if token is None:
            raise SignInRequired()
        try:
            principal = verifier.verify(token)
        except Problem as problem:
            if problem.status != 401:  # not the token's fault (its keys cannot be had): signing in again won't help
                raise
            raise SignInRequired() from None
        # Signed out, idle or too old: worklink.web.sessions.SessionEnded (a SignInRequired). When it will end
        # is the page's to warn of (worklink/base.html).
        g.session_times = current_app.extensions["worklink"].sessions.check(token, principal)
        g.principal = principal
        return g.principal
    scheme, _, token = header.partition(" ")
    if not header:
        raise _unauthenticated("This endpoint needs a bearer access token.", error=None)
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthenticated("The Authorization header must be 'Bearer <token>'.", error="invalid_request")
    g.principal = verifier.verify(token.strip())
    return g.principal


def current_principal() -> Principal | None:
    return g.get("principal")


def optional_principal() -> Principal | None:
    """The signed-in user if a valid token came with the request, else None (never raises)."""
    if "principal" not in g:
        try:
            authenticate()
        except Exception:  # noqa: BLE001 - anonymous is a fine answer here
            return None
    return g.get("principal")


def requires(*roles: str) -> Callable:
    """Endpoint policy: caller must be authenticated and hold one of `roles` (any role if none given)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown}")

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            principal = authenticate()
            if roles and principal.role not in roles:
                raise Problem(403, f"This is for {_people(roles)}. Role {principal.role!r} may not do this; "
                                   f"it needs one of: {', '.join(roles)}.",
                              page_detail=_not_for_your_role(principal.role, roles))
            return view(*args, **kwargs)

        # flask-smorest reads `_apidoc`: mark the operation as needing a bearer token.
        apidoc = dict(getattr(wrapper, "_apidoc", {}))
        apidoc["manual_doc"] = {**apidoc.get("manual_doc", {}), "security": [{"bearerAuth": []}]}
        wrapper._apidoc = apidoc
        wrapper._worklink_roles = roles
        return wrapper

    return decorate


def require_organisation(organisation: str | None, roles: Iterable[str] | None = None) -> Principal:
    """Object-level check: the caller must act for the record's owning organisation."""
    principal = authenticate()
    if roles is not None and principal.role not in roles:
        raise Problem(403, f"Role {principal.role!r} may not do this.")
    if not principal.acts_for(organisation):
        raise Problem(403, "This record belongs to another organisation.")
    return principal
