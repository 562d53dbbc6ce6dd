"""JWT verification as an attacker would probe it: algorithm pinned (no "none", no HS/RS confusion),
expiry, issuer and audience required, oversized tokens and hostile key ids refused cleanly."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import uuid
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.platform.conftest import serving_jwks
from worklink.auth import MAX_TOKEN_CHARS, SigningKeys, TokenVerifier, mint_token
from worklink.config import ConfigError, JwtSettings, Settings
from worklink.db import NAMING_CONVENTION, platform_tables
from worklink.problems import Problem
from worklink.web import create_service_app

DEV = JwtSettings()


def claims(settings: JwtSettings = DEV, **changes):
    now = int(time.time())
    base = {"sub": "u1", "role": "gp", "org": "p1", "iss": settings.issuer, "aud": settings.audience,
            "iat": now, "exp": now + 600}
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def refused(verifier: TokenVerifier, token: str) -> Problem:
    with pytest.raises(Problem) as raised:
        verifier.verify(token)
    assert raised.value.status == 401
    return raised.value


def test_an_unsigned_token_is_refused_and_none_cannot_be_configured(tmp_path):
    unsigned = jwt.encode(claims(), None, algorithm="none")
    refused(TokenVerifier(DEV), unsigned)
    for algorithm in ("none", "None", "HS1", ""):
        with pytest.raises(ConfigError):
            TokenVerifier(JwtSettings(algorithm=algorithm))
    settings = Settings.from_env("demo", {"WORKLINK_VAR": str(tmp_path), "WORKLINK_JWT_ALGORITHM": "none"})
    tables = platform_tables(sa.MetaData(naming_convention=NAMING_CONVENTION))
    with pytest.raises(ConfigError):  # the service refuses to start rather than trust every token
        create_service_app("demo", __name__, tables=tables, title="Demo", description="Demo", settings=settings)


def test_a_token_signed_with_the_public_key_as_an_hmac_secret_is_refused(rsa_key):
    """The classic RS256 -> HS256 confusion: the public key is public, so anyone could sign with it."""
    _, public, _ = rsa_key
    verifier = TokenVerifier(JwtSettings(algorithm="RS256", public_key=public))
    header = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = jwt.utils.base64url_encode(json.dumps(claims(JwtSettings())).encode())
    import hashlib
    import hmac
    signature = jwt.utils.base64url_encode(hmac.new(public.encode(), header + b"." + payload, hashlib.sha256).digest())
    refused(verifier, (header + b"." + payload + b"." + signature).decode())


@pytest.mark.parametrize("missing", ["exp", "iss", "aud", "sub", "role", "iat"])
def test_a_token_without_each_required_claim_is_refused(missing):
    token = jwt.encode(claims(**{missing: None}), DEV.secret, algorithm="HS256")
    refused(TokenVerifier(DEV), token)


@pytest.mark.parametrize("org", [["p1", "p2"], 123, {"id": "p1"}, True])
def test_an_organisation_claim_that_is_not_one_id_is_refused(org):
    """A list (an identity provider's groups), a number or an object is no organisation id: the services compare
    it with their records' ids and put it in queries, where a list was a 500 and 123 matched '123' on SQLite."""
    problem = refused(TokenVerifier(DEV), jwt.encode(claims(org=org), DEV.secret, algorithm="HS256"))
    assert "org claim" in problem.detail
    assert TokenVerifier(DEV).verify(jwt.encode(claims(org="p1"), DEV.secret, algorithm="HS256")).organisation == "p1"
    assert TokenVerifier(DEV).verify(jwt.encode(claims(role="resident", org=None), DEV.secret,
                                                algorithm="HS256")).organisation is None


@pytest.mark.parametrize("exp", [253402300800, 10**18])  # 1 January 10000; a billion billion seconds
def test_an_expiry_later_than_any_date_is_refused_not_a_500_at_sign_in(tmp_path, exp):
    """PyJWT takes any whole number as `exp`; a page session keeps the token's expiry as a date, which Python cannot
    make past the year 9999, so signing in with such a token was a 500."""
    token = jwt.encode(claims(exp=exp), DEV.secret, algorithm="HS256")
    assert "later than any date" in refused(TokenVerifier(DEV), token).detail
    settings = Settings.from_env("demo", {"WORKLINK_VAR": str(tmp_path)})
    tables = platform_tables(sa.MetaData(naming_convention=NAMING_CONVENTION))
    app, _ = create_service_app("demo", __name__, tables=tables, title="Demo", description="Demo", settings=settings)
    tables.web_sessions.create(app.extensions["worklink"].database.engine)
    client = app.test_client()
    csrf = client.get("/signin").get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    signed_in = client.post("/signin", data={"csrf_token": csrf, "token": token})
    assert signed_in.status_code == 401 and "later than any date" in signed_in.get_data(as_text=True)


def test_expiry_issuer_and_audience_are_checked_with_a_small_leeway():
    verifier = TokenVerifier(DEV)
    now = int(time.time())
    assert verifier.verify(jwt.encode(claims(exp=now - 10), DEV.secret, algorithm="HS256")).subject == "u1"
    assert "expired" in refused(verifier, jwt.encode(claims(exp=now - 31), DEV.secret, algorithm="HS256")).detail
    refused(verifier, jwt.encode(claims(iss="someone-else"), DEV.secret, algorithm="HS256"))
    refused(verifier, jwt.encode(claims(aud="another-api"), DEV.secret, algorithm="HS256"))
    refused(verifier, jwt.encode(claims(iat=now + 3600), DEV.secret, algorithm="HS256"))  # issued in the future
    refused(verifier, jwt.encode(claims(nbf=now + 3600), DEV.secret, algorithm="HS256"))


def test_a_very_large_token_is_refused_before_it_is_parsed():
    huge = mint_token(DEV, role="gp", org="p1", padding="x" * 1_000_000)  # validly signed, so only its size refuses it
    problem = refused(TokenVerifier(DEV), huge)
    assert f"longer than {MAX_TOKEN_CHARS}" in problem.detail
    assert TokenVerifier(DEV).verify(mint_token(DEV, role="gp", org="p1", padding="x" * 4000)).role == "gp"


def test_a_hostile_key_id_cannot_break_the_challenge_header(rsa_key):
    """PyJWT names an unknown `kid` in its error; the 401's WWW-Authenticate quoted it, so a kid
    with a quote or a line break made a malformed header (or a 500)."""
    private, _, key = rsa_key
    with serving_jwks(key) as jwks_url:
        settings = JwtSettings(algorithm="RS256", jwks_url=jwks_url)
        token = jwt.encode(claims(settings), private, algorithm="RS256",
                           headers={"kid": 'k", error="forged\r\nSet-Cookie: stolen=1'})
        challenge = refused(TokenVerifier(settings), token).headers["WWW-Authenticate"]
    assert "\r" not in challenge and "\n" not in challenge
    description = challenge.split('error_description="', 1)[1]
    assert description.count('"') == 1 and description.endswith('"')  # one quoted string, closed at the end


@contextmanager
def rotating_jwks(keys: dict, fetches: list | None = None, outage: dict | None = None) -> Iterator[str]:
    """A real HTTP JWKS endpoint publishing the public halves of `keys` (kid -> RSA key) as they are at each
    fetch, so a test can withdraw one (each fetch is appended to `fetches`); yields its URL. While
    `outage["mode"]` is "error" it answers 500, while "hang" it answers nothing for `outage["seconds"]`, while "page"
    an HTML page (200), while "reset" a 200 whose connection is reset mid-body."""
    class JwksHandler(BaseHTTPRequestHandler):
        def do_GET(self):
            if fetches is not None:
                fetches.append(time.monotonic())
            mode = (outage or {}).get("mode")
            if mode == "hang":
                time.sleep(outage["seconds"])  # then closes, unanswered: the client gave up
                return
            if mode == "reset":  # a 200 cut off mid-body: the connection reset (RST), not closed
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "5000")
                self.end_headers()
                self.wfile.write(b'{"keys": [')
                self.wfile.flush()
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                return
            if mode == "page":  # a maintenance page, answered 200
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(b"<html><body>Down for maintenance</body></html>")
                return
            if mode:
                self.send_error(500)
                return
            published = [{**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())),
                          "kid": kid, "use": "sig", "alg": "RS256"} for kid, key in list(keys.items())]
            body = json.dumps({"keys": published}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), JwksHandler)  # a hanging fetch holds up no other
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/jwks.json"
    finally:
        server.shutdown()


def test_a_key_withdrawn_from_the_jwks_signs_no_new_token_once_the_key_set_is_fetched_again(rsa_key):
    """A compromised signing key is withdrawn from the identity provider's JWKS. PyJWT's per-kid cache
    (cache_keys) has no expiry, so every process went on taking tokens it signed until restarted."""
    class Verifier(TokenVerifier):
        JWKS_LIFESPAN = 0.5  # seconds, instead of minutes

    old = rsa_key[2]
    new = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keys = {"old": old}
    with rotating_jwks(keys) as jwks_url:
        settings = JwtSettings(algorithm="RS256", jwks_url=jwks_url)
        verifier = Verifier(settings)

        def signed(key, kid: str) -> str:
            return jwt.encode({**claims(settings), "jti": uuid.uuid4().hex}, key, algorithm="RS256",
                              headers={"kid": kid})

        assert verifier.verify(signed(old, "old")).subject == "u1"
        keys["new"] = new
        del keys["old"]  # rotated: the old key withdrawn
        time.sleep(1)
        assert verifier.verify(signed(new, "new")).subject == "u1"
        problem = refused(verifier, signed(old, "old"))  # a token it signs now: not one remembered as verified
        assert "old" in problem.detail


def test_a_flood_of_unknown_key_ids_fetches_the_jwks_once_not_once_each(rsa_key):
    """Every token naming a kid the key set lacks asks for the key set again (a key just rotated in): made-up
    kids by the thousand must not become as many requests to the identity provider, each holding a worker."""
    private, _, key = rsa_key
    fetches: list[float] = []
    with rotating_jwks({"key-1": key}, fetches) as jwks_url:
        settings = JwtSettings(algorithm="RS256", jwks_url=jwks_url)
        verifier = TokenVerifier(settings)
        for _ in range(50):
            refused(verifier, jwt.encode(claims(settings), private, algorithm="RS256",
                                         headers={"kid": uuid.uuid4().hex}))
        assert verifier.verify(jwt.encode(claims(settings), private, algorithm="RS256",
                                          headers={"kid": "key-1"})).subject == "u1"
    # The first fetch starts the 30 s cooldown (JWKS_COOLDOWN) on fetching again for an unknown kid (a slow machine
    # may see it end).
    assert len(fetches) <= 2


class QuickVerifier(TokenVerifier):
    """The JWKS timings in seconds (a fixed backoff), instead of minutes."""
    JWKS_TIMEOUT = 0.5
    JWKS_COOLDOWN = 0.2
    JWKS_RETRY_SECONDS = JWKS_RETRY_MAX_SECONDS = 1.5


def signed(settings: JwtSettings, key, kid: str) -> str:
    return jwt.encode({**claims(settings), "jti": uuid.uuid4().hex}, key, algorithm="RS256", headers={"kid": kid})


def unavailable(verifier: TokenVerifier, token: str) -> Problem:
    with pytest.raises(Problem) as raised:
        verifier.verify(token)
    assert raised.value.status == 503 and int(raised.value.headers["Retry-After"]) >= 1
    assert "could not be fetched" in raised.value.detail
    return raised.value


@pytest.mark.parametrize("mode", ["error", "hang", "page", "reset"])
def test_while_the_jwks_fails_unknown_key_ids_are_refused_at_once_and_held_keys_still_verify(rsa_key, mode):
    """PyJWT's cooldown on fetching the key set again starts only after a fetch that worked: while the identity
    provider's JWKS failed, every token naming a key id not held (made up, or new) waited on its own fetch - up
    to the 5 s timeout each, a flood of them holding every worker - and each hit the failing endpoint."""
    _, _, key = rsa_key
    new = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keys, fetches, outage = {"key-1": key}, [], {"seconds": 3}
    with rotating_jwks(keys, fetches, outage) as jwks_url:
        settings = JwtSettings(algorithm="RS256", jwks_url=jwks_url)
        verifier = QuickVerifier(settings)
        assert verifier.verify(signed(settings, key, "key-1")).subject == "u1"
        time.sleep(QuickVerifier.JWKS_COOLDOWN + 0.1)  # an unknown kid may fetch the key set again
        made_up = [signed(settings, key, uuid.uuid4().hex) for _ in range(30)]
        outage["mode"] = mode
        keys["key-2"] = new  # rotated in, but the endpoint fails
        started = time.monotonic()
        for token in made_up:
            problem = unavailable(verifier, token)
        assert "lacks" in problem.detail
        unavailable(verifier, signed(settings, new, "key-2"))
        assert time.monotonic() - started < QuickVerifier.JWKS_TIMEOUT + 0.8  # one fetch waited on, then none
        assert len(fetches) - 1 <= 2
        assert verifier.verify(signed(settings, key, "key-1")).subject == "u1"  # a held key still verifies
        outage["mode"] = None  # recovered: the backoff still holds ...
        unavailable(verifier, signed(settings, new, "key-2"))
        time.sleep(QuickVerifier.JWKS_RETRY_SECONDS)  # ... until it has passed
        assert verifier.verify(signed(settings, new, "key-2")).subject == "u1"
        refused(verifier, signed(settings, key, uuid.uuid4().hex))  # key set current: a made-up kid is a 401
        before = len(fetches)
        assert "no signing key (kid)" in refused(verifier, jwt.encode(claims(settings), key, algorithm="RS256")).detail
        assert len(fetches) == before  # a token naming no key fetches nothing


def test_a_held_key_does_not_wait_behind_a_hanging_fetch(rsa_key):
    """PyJWT held one lock over each lookup, fetches included: a token signed with a held key waited while another
    token's fetch hung on the endpoint."""
    _, _, key = rsa_key
    fetches, outage = [], {"seconds": 3}
    with rotating_jwks({"key-1": key}, fetches, outage) as jwks_url:
        settings = JwtSettings(algorithm="RS256", jwks_url=jwks_url)
        verifier = QuickVerifier(settings)
        verifier.verify(signed(settings, key, "key-1"))
        time.sleep(QuickVerifier.JWKS_COOLDOWN + 0.1)
        outage["mode"] = "hang"
        unknown, answers = signed(settings, key, "key-9"), []
        waiting = threading.Thread(target=lambda: answers.append(unavailable(verifier, unknown)))
        waiting.start()
        deadline = time.monotonic() + 2
        while len(fetches) < 2 and time.monotonic() < deadline:  # its fetch has begun
            time.sleep(0.01)
        assert len(fetches) == 2
        token = signed(settings, key, "key-1")
        started = time.monotonic()
        assert verifier.verify(token).subject == "u1"
        assert time.monotonic() - started < QuickVerifier.JWKS_TIMEOUT / 2
        waiting.join()
        assert len(answers) == 1  # the token needing the fetch waited for it, then was a 503


def test_the_backoff_doubles_while_the_jwks_keeps_failing():
    """An identity provider down for an hour is asked about once a minute by each process, not once every 2 s."""
    now = [0.0]
    with rotating_jwks({}, fetches := [], {"mode": "error"}) as jwks_url:
        keys = SigningKeys(jwks_url, lifespan=300, timeout=1, cooldown=30, backoff=2, max_backoff=5,
                           clock=lambda: now[0], jitter=lambda: 0.0)
        for moment in (0, 1, 2, 5, 6, 10, 11, 15, 16):
            now[0] = moment
            with pytest.raises(Problem) as raised:
                keys.key("key-1")
            assert raised.value.status == 503
        # Tried at 0, then 2 s later, 4 s after that, then every 5 s (the most): at 0, 2, 6, 11 and 16.
        assert len(fetches) == 5 and raised.value.headers["Retry-After"] == "5"


def test_processes_failing_together_do_not_ask_again_together():
    """Every worker of every service fails its first fetch in the same moment when the IdP goes down: each
    waits a slightly different time before asking again (up to a fifth less than the backoff)."""
    now = [0.0]
    with rotating_jwks({}, fetches := [], {"mode": "error"}) as jwks_url:
        workers = [SigningKeys(jwks_url, lifespan=300, timeout=1, cooldown=30, backoff=10, max_backoff=60,
                               clock=lambda: now[0], jitter=lambda share=share: share) for share in (0.0, 0.5, 1.0)]
        for keys in workers:
            with pytest.raises(Problem):
                keys.key("key-1")
        retry_after = []
        for keys in workers:
            with pytest.raises(Problem) as raised:
                keys.key("key-1")
            retry_after.append(raised.value.headers["Retry-After"])
        assert retry_after == ["10", "9", "8"] and len(fetches) == 3
        now[0] = 8.5  # only the worker whose wait was cut by a fifth asks again
        for keys in workers:
            with pytest.raises(Problem):
                keys.key("key-1")
        assert len(fetches) == 4


def test_a_token_is_a_503_not_a_401_while_no_key_set_can_be_had(rsa_key, tmp_path):
    """A token that cannot be checked is not the client's fault: a 401 (invalid_token) tells a program to drop
    it, and it is the answer the same token gets once the keys can be had again."""
    _, _, key = rsa_key
    fetches: list[float] = []
    with rotating_jwks({"key-1": key}, fetches, {"mode": "error"}) as jwks_url:
        settings = Settings.from_env("demo", {"WORKLINK_VAR": str(tmp_path), "WORKLINK_JWT_ALGORITHM": "RS256",
                                              "WORKLINK_JWKS_URL": jwks_url})
        tables = platform_tables(sa.MetaData(naming_convention=NAMING_CONVENTION))
        app, _ = create_service_app("demo", __name__, tables=tables, title="Demo", description="Demo",
                                    settings=settings)
        client = app.test_client()
        for _ in range(3):
            answer = client.get("/audit/entries", headers={
                "Authorization": f"Bearer {signed(settings.jwt, key, 'key-1')}"})
            assert answer.status_code == 503 and answer.mimetype == "application/problem+json"
            assert answer.headers["Retry-After"] and "WWW-Authenticate" not in answer.headers
            assert "cannot be checked" in answer.get_json()["detail"]
    assert len(fetches) == 1


def test_a_page_session_is_kept_not_sent_to_sign_in_while_no_key_set_can_be_had(rsa_key, tmp_path):
    """The cookie's token could not be checked, and a page sent the user to sign in again - through the identity
    provider whose keys were failing."""
    class ShortLived(TokenVerifier):
        REVERIFY_SECONDS = JWKS_LIFESPAN = JWKS_MAX_STALE_SECONDS = 0.5

    _, _, key = rsa_key
    outage: dict = {}
    with rotating_jwks({"key-1": key}, outage=outage) as jwks_url:
        settings = Settings.from_env("demo", {"WORKLINK_VAR": str(tmp_path), "WORKLINK_JWT_ALGORITHM": "RS256",
                                              "WORKLINK_JWKS_URL": jwks_url})
        metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
        tables = platform_tables(metadata)
        app, _ = create_service_app("demo", __name__, tables=tables, title="Demo", description="Demo",
                                    settings=settings)
        metadata.create_all(app.extensions["worklink"].database.engine)  # sessions, and the audit page's trail
        app.extensions["worklink"].tokens = ShortLived(settings.jwt)
        client = app.test_client()
        csrf = client.get("/signin").get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
        token = jwt.encode({**claims(settings.jwt), "role": "alliance_admin", "jti": uuid.uuid4().hex}, key,
                           algorithm="RS256", headers={"kid": "key-1"})
        assert client.post("/signin", data={"csrf_token": csrf, "token": token}).status_code == 302
        assert client.get("/audit").status_code == 200
        outage["mode"] = "error"
        time.sleep(0.6)  # the token and the key set are both due to be checked again
        answer = client.get("/audit")
        assert answer.status_code == 503 and answer.headers["Retry-After"]
        outage["mode"] = None
        time.sleep(int(answer.headers["Retry-After"]))
        assert client.get("/audit").status_code == 200  # still signed in


def test_while_the_jwks_fails_the_last_key_set_verifies_until_it_is_too_old():
    """Keys held only for their 5-minute lifespan made an identity provider's JWKS down for 5 minutes a 503 for
    every token at every service. While fetches fail, the last key set fetched verifies up to max_stale old;
    once the endpoint answers again, a key it withdrew stops verifying at once."""
    now, outage = [0.0], {}
    keys = {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in ("key-0", "key-1")}
    with rotating_jwks(keys, fetches := [], outage) as jwks_url:
        signing = SigningKeys(jwks_url, lifespan=300, timeout=1, cooldown=30, backoff=2, max_backoff=60,
                              max_stale=3600, clock=lambda: now[0])
        assert signing.key("key-1") is not None and len(fetches) == 1
        outage["mode"] = "error"
        for moment in (301, 302, 900, 3599):  # past its lifespan, fetches failing: the last key set serves
            now[0] = moment
            assert signing.key("key-1") is not None
        assert 2 <= len(fetches) <= 5  # tried again now and then (the backoff), never once per token
        with pytest.raises(Problem) as unknown:
            signing.key("key-2")  # a key the last set lacks cannot be checked
        assert unknown.value.status == 503
        now[0] = 3601  # too old to trust
        with pytest.raises(Problem) as too_old:
            signing.key("key-1")
        assert too_old.value.status == 503
        outage["mode"], now[0] = None, 3700  # the endpoint answers again, and has withdrawn key-1
        del keys["key-1"]
        with pytest.raises(Problem) as withdrawn:
            signing.key("key-1")
        assert withdrawn.value.status == 401


def test_a_withdrawn_key_stops_verifying_when_the_key_set_is_fetched_again_after_failures():
    now, outage = [0.0], {}
    keys = {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in ("key-0", "key-1")}
    with rotating_jwks(keys, [], outage) as jwks_url:
        signing = SigningKeys(jwks_url, lifespan=300, timeout=1, cooldown=30, backoff=2, max_backoff=60,
                              max_stale=3600, clock=lambda: now[0])
        signing.key("key-1")
        outage["mode"], now[0] = "error", 301
        assert signing.key("key-1") is not None  # the fetch failed: the last key set serves
        outage["mode"], now[0] = None, 400  # past the backoff, the endpoint back, the key withdrawn
        del keys["key-1"]
        with pytest.raises(Problem) as withdrawn:
            signing.key("key-1")
        assert withdrawn.value.status == 401 and "key-1" in withdrawn.value.detail
