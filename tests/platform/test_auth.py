"""Bearer tokens: 401 for missing/invalid/expired tokens, 403 for the wrong role, safe production config."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.platform.conftest import serving_jwks
from worklink.auth import Principal, TokenVerifier, mint_token
from worklink.config import DEV_JWT_SECRET, ConfigError, JwtSettings, Settings
from worklink.web import Problem
from tests.platform.test_web import VALID, assert_problem, auth, client, settings  # noqa: F401 - fixtures


def test_no_token_is_401_with_a_bearer_challenge(client):
    response = client.post("/things", json=VALID)
    body = assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "bearer access token" in body["detail"]


def test_token_with_a_bad_signature_is_401(client, settings):
    forged = mint_token(JwtSettings(secret="another-secret-of-sufficient-length-123"), role="gp", org="p1")
    body = assert_problem(client.post("/things", json=VALID, headers=auth(forged)), 401)
    assert "signature" in body["detail"]
    assert 'error="invalid_token"' in client.post("/things", json=VALID, headers=auth(forged)).headers["WWW-Authenticate"]


def test_expired_token_is_401(client, settings):
    expired = mint_token(settings.jwt, role="gp", org="p1", ttl_seconds=-120)
    body = assert_problem(client.post("/things", json=VALID, headers=auth(expired)), 401)
    assert "expired" in body["detail"]


def test_malformed_authorization_header_is_401(client):
    assert_problem(client.post("/things", json=VALID, headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401)
    assert_problem(client.post("/things", json=VALID, headers={"Authorization": "Bearer not.a.jwt"}), 401)


def test_wrong_role_is_403(client, settings):
    resident = mint_token(settings.jwt, role="resident")
    body = assert_problem(client.post("/things", json=VALID, headers=auth(resident)), 403)
    assert "resident" in body["detail"]


def _token_naming(settings, role: str, **org) -> str:
    now = int(time.time())
    return jwt.encode({"sub": "u9", "role": role, "iss": settings.jwt.issuer, "aud": settings.jwt.audience,
                       "iat": now, "exp": now + 600, **org}, settings.jwt.secret, algorithm="HS256")


@pytest.mark.parametrize("org", [{}, {"org": ""}, {"org": "  "}], ids=["absent", "empty", "blank"])
@pytest.mark.parametrize("role, who", [("gp", "A gp"), ("adviser", "An adviser"), ("org_admin", "An org_admin")])
def test_staff_whose_token_names_no_organisation_are_refused_at_verification(client, settings, role, who, org):
    """Staff act for one organisation. Such a token was accepted, and each endpoint had to refuse "no organisation"
    itself: notifications' webhook list read it as every organisation's. Refused once, for every endpoint."""
    response = client.post("/things", json=VALID, headers=auth(_token_naming(settings, role, **org)))
    body = assert_problem(response, 401)
    assert body["detail"] == f"{who}'s access token must name the organisation they act for (org claim)."
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_residents_and_alliance_admins_still_need_no_organisation(settings):
    verifier = TokenVerifier(settings.jwt)
    for role in ("resident", "alliance_admin"):
        assert verifier.verify(_token_naming(settings, role)).organisation is None
    assert verifier.verify(_token_naming(settings, "alliance_admin", org="org-a")).organisation == "org-a"
    assert verifier.verify(_token_naming(settings, "gp", org="p1")).organisation == "p1"


def test_token_for_another_audience_is_401(client, settings):
    other = mint_token(JwtSettings(audience="someone-else"), role="gp", org="p1")
    assert_problem(client.post("/things", json=VALID, headers=auth(other)), 401)


def test_principal_acts_only_for_its_own_organisation():
    adviser = Principal("u1", "adviser", "org-a")
    assert adviser.acts_for("org-a") and not adviser.acts_for("org-b") and not adviser.acts_for(None)
    assert Principal("u2", "alliance_admin").acts_for("org-b")


def test_production_refuses_the_development_secret():
    with pytest.raises(ConfigError, match="development JWT secret"):
        Settings.from_env("directory", {"WORKLINK_ENV": "production"})
    with pytest.raises(ConfigError, match="at least 32"):
        Settings.from_env("directory", {"WORKLINK_ENV": "production", "WORKLINK_JWT_SECRET": "short"})
    with pytest.raises(ConfigError, match="PUBLIC_KEY or WORKLINK_JWKS_URL"):
        Settings.from_env("directory", {"WORKLINK_ENV": "production", "WORKLINK_JWT_ALGORITHM": "RS256"})
    ok = Settings.from_env("directory", {"WORKLINK_ENV": "production", "WORKLINK_JWT_SECRET": "s" * 40})
    assert ok.jwt.secret != DEV_JWT_SECRET


def test_production_app_will_not_start_with_the_development_secret(monkeypatch, tmp_path):
    from worklink_directory.app import create_app

    monkeypatch.setenv("WORKLINK_ENV", "production")
    monkeypatch.delenv("WORKLINK_JWT_SECRET", raising=False)
    monkeypatch.setenv("WORKLINK_VAR", str(tmp_path))
    with pytest.raises(ConfigError):
        create_app()


def test_rs256_with_a_public_key(rsa_key):
    private, public, _ = rsa_key
    settings = JwtSettings(algorithm="RS256", public_key=public)
    token = mint_token(settings, role="adviser", org="org-9", private_key=private)
    principal = TokenVerifier(settings).verify(token)
    assert (principal.role, principal.organisation) == ("adviser", "org-9")
    hs_token = mint_token(JwtSettings(), role="adviser", org="org-9")  # algorithm confusion must fail
    with pytest.raises(Problem) as raised:
        TokenVerifier(settings).verify(hs_token)
    assert raised.value.status == 401


def test_rs256_with_a_jwks_url(rsa_key):
    private, _, key = rsa_key
    with serving_jwks(key) as jwks_url:
        settings = JwtSettings(algorithm="RS256", jwks_url=jwks_url)
        token = jwt.encode({"sub": "u7", "role": "gp", "org": "p7", "iss": settings.issuer, "aud": settings.audience,
                            "iat": 1, "exp": 4102444800}, private, algorithm="RS256", headers={"kid": "key-1"})
        assert TokenVerifier(settings).verify(token).subject == "u7"


def test_a_verified_token_is_remembered_until_it_expires_and_no_longer():
    settings = JwtSettings(leeway_seconds=0)
    now = [time.time()]
    verifier = TokenVerifier(settings, clock=lambda: now[0])
    token = mint_token(settings, role="gp", org="p1", ttl_seconds=60)
    first = verifier.verify(token)
    assert verifier.verify(token) is first  # remembered: not decoded again

    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(Problem) as raised:  # another text is another token: verified from scratch
        verifier.verify(tampered)
    assert raised.value.status == 401

    now[0] += TokenVerifier.REVERIFY_SECONDS + 1  # past its exp (60 s) as this verifier's clock sees it
    again = verifier.verify(token)  # not served from memory: verified again (still valid by the real clock)
    assert again is not first and again == first


def test_an_expired_token_is_refused_even_after_it_was_remembered():
    settings = JwtSettings(leeway_seconds=0)
    verifier = TokenVerifier(settings)
    token = mint_token(settings, role="gp", org="p1", ttl_seconds=1)
    assert verifier.verify(token).role == "gp"
    time.sleep(1.1)
    with pytest.raises(Problem) as raised:
        verifier.verify(token)
    assert raised.value.status == 401 and "expired" in raised.value.detail
