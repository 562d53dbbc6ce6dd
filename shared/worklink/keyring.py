"""Keys that can be rotated without breaking what the old key made.

A rotation sets the new key in the key's variable and moves the old one to `<VARIABLE>_PREVIOUS`
(several, separated by spaces: newest first). The current key seals, signs or keys everything made
from then on; a previous key is still accepted for what it made - a page session's sealed cookie (12 h
at most), an employer's single-use link (its TTL), a patient's audit reference until it is re-keyed -
and the operator drops it once nothing it made is in use. A retired key is kept out of logs as the
current one is: it is read from the environment only.
"""

from __future__ import annotations

from typing import Mapping

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
