"""The pseudonymous clinician reference: one definition that publisher and recogniser share."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from worklink.config import ConfigError, JwtSettings, Settings
from worklink.pseudonyms import KEY_VARIABLE, clinician_reference, clinician_reference_key


def test_the_reference_is_the_hex_hmac_of_the_subject_and_hides_it():
    reference = clinician_reference("ada@practice.example", "k1")
    assert reference == hmac.new(b"k1", b"ada@practice.example", hashlib.sha256).hexdigest()
    assert len(reference) == 64 and "@" not in reference and "practice" not in reference
    assert clinician_reference("ada@practice.example", "k1") == reference  # stable for one key
    assert clinician_reference("ada@practice.example", "k2") != reference
    assert clinician_reference("bob@practice.example", "k1") != reference


def test_the_key_is_the_variable_else_derived_from_the_shared_jwt_secret(monkeypatch):
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    settings = Settings("notifications", jwt=JwtSettings(secret="s" * 40))
    assert clinician_reference_key(settings) == "s" * 40 + ":clinician-reference"
    monkeypatch.setenv(KEY_VARIABLE, "set-by-the-operator")
    assert clinician_reference_key(settings) == "set-by-the-operator"


def test_production_without_a_shared_secret_must_set_the_key(monkeypatch):
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    settings = Settings("adjustments", env="production", jwt=JwtSettings(algorithm="RS256", jwks_url="https://x"))
    with pytest.raises(ConfigError, match=KEY_VARIABLE):
        clinician_reference_key(settings)
    monkeypatch.setenv(KEY_VARIABLE, "set-by-the-operator")  # as short as a password: refused, as other keys are
    with pytest.raises(ConfigError, match="32 or more"):
        clinician_reference_key(settings)
    monkeypatch.setenv(KEY_VARIABLE, "set-by-the-operator-" * 2)
    assert clinician_reference_key(settings) == "set-by-the-operator-" * 2


def test_the_adjustments_contract_and_service_use_the_shared_definition():
    from worklink.events.contracts import adjustments
    from worklink_adjustments import app

    assert adjustments.clinician_reference is clinician_reference
    assert app.clinician_reference_key is clinician_reference_key
