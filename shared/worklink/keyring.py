"""Keys that can be rotated without breaking what the old key made.

A rotation sets the new key in the key's variable and moves the old one to `<VARIABLE>_PREVIOUS`
(several, separated by spaces: newest first). The current key seals, signs or keys everything made
from then on; a previous key is still accepted for what it made - a page session's sealed cookie (12 h
at most), an employer's single-use link (its TTL), a patient's audit reference until it is re-keyed -
and the operator drops it once nothing it made is in use. A retired key is kept out of logs as the
current one is: it is read from the environment only.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Mapping

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from worklink.config import ConfigError

MIN_LENGTH = 32


def previous_variable(variable: str) -> str:
    return f"{variable}_PREVIOUS"


def previous_keys(env: Mapping[str, str], variable: str, *, checked: bool = True) -> tuple[str, ...]:
    """The keys a rotation retired from `variable`, newest first. Each must be as long as a current key
    (`checked`: 32 or more characters), since each still opens or matches what it made."""
    name = previous_variable(variable)
    keys = tuple(dict.fromkeys((env.get(name) or "").split()))  # once each, in the order given
    if checked and any(len(key) < MIN_LENGTH for key in keys):
        raise ConfigError(f"{name}: each key must be {MIN_LENGTH} or more characters")
    return keys


def key_ring(current: str, env: Mapping[str, str], variable: str) -> tuple[str, ...]:
    """The current key, then the previous ones (the current one never twice)."""
    return (current, *(key for key in previous_keys(env, variable) if key != current))


class Unopenable(ValueError):
    """Sealed under none of the keys given, or changed since."""


class Seal:
    """Seals text under the first key of a ring and opens what any of them sealed (Fernet: AES-128-CBC with
    HMAC-SHA256, so a changed value opens under none). A key is the text of its variable (hashed to Fernet's size).
    What a previous key sealed is re-sealed under the current one with `reseal`, so the operator can drop it."""

    def __init__(self, *keys: str):
        self._fernets = [Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest())) for key in keys]
        self._ring = MultiFernet(self._fernets)

    def seal(self, text: str) -> str:
        return self._ring.encrypt(text.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._ring.decrypt(sealed.encode()).decode()
        except (InvalidToken, ValueError):
            raise Unopenable("sealed under none of the keys given, or changed") from None

    def is_current(self, sealed: str) -> bool:
        """Sealed under the current (first) key."""
        try:
            self._fernets[0].decrypt(sealed.encode())
        except (InvalidToken, ValueError):
            return False
        return True

    def reseal(self, sealed: str) -> str:
        """The same text sealed under the current key (raises Unopenable as `open` does)."""
        try:
            return self._ring.rotate(sealed.encode()).decode()
        except (InvalidToken, ValueError):
            raise Unopenable("sealed under none of the keys given, or changed") from None
