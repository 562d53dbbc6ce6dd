"""Pseudonymous references that broadcast events carry instead of a login id (and, with a key
of its own, the person id referrals gives notifications and the person adjustments' audit trail names:
`keyed_reference` under a `service_key`).

A token's `sub` can be an e-mail address, so it never travels in a broadcast event. The
clinician reference is the hex HMAC-SHA256 of the subject under one platform-wide key:
stable for that key, so a service that knows its users' subjects and the key (notifications,
to find whom an event names) can recognise it, and no one else can read a subject out of it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Mapping

from worklink.config import ConfigError, Settings
from worklink.keyring import key_ring

KEY_VARIABLE = "WORKLINK_CLINICIAN_REFERENCE_KEY"


def keyed_reference(value: str, key: str) -> str:
    """Hex HMAC-SHA256 of `value` under `key` (64 hex digits): a pseudonym only a holder of the key can
    make or match, so knowing what it was made from (a login id, a name and birth date) is not enough."""
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


def service_key(env: Mapping[str, str], variable: str, development_key: str) -> str:
    """A key one service alone holds for its person pseudonyms: `variable`, 32 or more characters in
    production, where the development key is refused (anyone can read it here)."""
    key = env.get(variable) or ""
    if env.get("WORKLINK_ENV", "development") == "production" and (len(key) < 32 or key == development_key):
        raise ConfigError(f"{variable} must be set to 32 or more characters in production")
    return key or development_key


def clinician_reference(subject: str, key: str) -> str:
    """The clinician's reference in broadcast events: 64 hex digits."""
    return keyed_reference(subject, key)


def clinician_reference_key(settings: Settings) -> str:
    """Keys the clinician reference; every service that makes or recognises one uses it.

    WORKLINK_CLINICIAN_REFERENCE_KEY, else derived from the JWT secret all services already
    share. Production with tokens not signed by a shared secret has no such secret to derive
    from, so there the key must be set."""
    key = os.environ.get(KEY_VARIABLE) or ""
    if not key and settings.env == "production" and not settings.jwt.algorithm.startswith("HS"):
        raise ConfigError(f"{KEY_VARIABLE} must be set in production when tokens are not "
                          "signed with a shared secret")
    if key and settings.env == "production" and len(key) < 32:  # as every other key (and its _PREVIOUS) is
        raise ConfigError(f"{KEY_VARIABLE} must be 32 or more characters in production")
    return key or settings.jwt.secret + ":clinician-reference"


def clinician_reference_keys(settings: Settings) -> tuple[str, ...]:
    """The clinician reference key, then those a rotation retired (WORKLINK_CLINICIAN_REFERENCE_KEY_PREVIOUS,
    worklink.keyring): references are made under the first; one made under any of them is recognised (an
    inbox item addressed before the rotation, an event still in flight, a sign-out mark). Drop them once
    what they named has aged out (marks: 12 hours; inbox items: notifications' retention)."""
    return key_ring(clinician_reference_key(settings), os.environ, KEY_VARIABLE)
