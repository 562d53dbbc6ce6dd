"""JWT verification as an attacker would probe it: algorithm pinned (no "none", no HS/RS confusion),
expiry, issuer and audience required, oversized tokens and hostile key ids refused cleanly."""

from __future__ import annotations

import json
import threading
import time
import uuid
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Iterator

import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.platform.conftest import serving_jwks
from worklink.auth import MAX_TOKEN_CHARS, TokenVerifier, mint_token
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
    huge = mint_token(DEV, role="gp", padding="x" * 1_000_000)  # validly signed, so only its size refuses it
    problem = refused(TokenVerifier(DEV), huge)
    assert f"longer than {MAX_TOKEN_CHARS}" in problem.detail
    assert TokenVerifier(DEV).verify(mint_token(DEV, role="gp", padding="x" * 4000)).role == "gp"


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
def rotating_jwks(keys: dict, fetches: list | None = None) -> Iterator[str]:
    """A real HTTP JWKS endpoint publishing the public halves of `keys` (kid -> RSA key) as they are at each
    fetch, so a test can withdraw one (each fetch is appended to `fetches`); yields its URL."""
    class JwksHandler(BaseHTTPRequestHandler):
        def do_GET(self):
            if fetches is not None:
                fetches.append(time.monotonic())
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

    server = HTTPServer(("127.0.0.1", 0), JwksHandler)
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
    # The first fetch starts PyJWT's 30 s cooldown on fetching again for an unknown kid (a slow machine may see it end).
    assert len(fetches) <= 2
