"""Webhook signatures in the Standard Webhooks scheme (https://www.standardwebhooks.com).

Headers on every webhook:
    webhook-id:        the delivery id (the same on every retry: receivers dedupe on it)
    webhook-timestamp: Unix seconds when this attempt was signed
    webhook-signature: space-separated "v1,<base64 HMAC-SHA256>" signatures

The signed content is "<webhook-id>.<webhook-timestamp>.<raw body>" under the key
base64-decoded from the subscriber's "whsec_..." secret. While a rotated-out secret
is still in its grace period the request carries a signature for each secret, so a
receiver may switch keys at its own pace. Receivers reject timestamps more than
TOLERANCE seconds from their clock (replay protection) and compare in constant time.
`verify` is the reference implementation receivers can copy.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Iterable, Mapping

PREFIX = "whsec_"
TOLERANCE = 300  # seconds


class InvalidSignature(Exception):
    pass


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    content = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), content, hashlib.sha256).digest()).decode()


def headers(secrets_in_use: Iterable[str], message_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, message_id, timestamp, body) for s in secrets_in_use),
        "content-type": "application/json",
    }


def verify(secret: str, request_headers: Mapping[str, str], body: bytes, now: float | None = None,
           tolerance: int = TOLERANCE) -> None:
    """Raise InvalidSignature unless `body` was signed with `secret` recently."""
    lowered = {k.lower(): v for k, v in request_headers.items()}
    try:
        message_id = lowered["webhook-id"]
        timestamp = int(lowered["webhook-timestamp"])
        offered = lowered["webhook-signature"].split()
    except (KeyError, ValueError):
        raise InvalidSignature("missing or malformed webhook headers") from None
    now = time.time() if now is None else now
    if abs(timestamp - int(now)) > tolerance:  # in whole numbers: a timestamp of 400 digits is no float
        raise InvalidSignature("timestamp outside the tolerance window")
    expected = sign(secret, message_id, timestamp, body).encode()
    # As bytes: compare_digest refuses str with a non-ASCII character (TypeError), which a sender can put there.
    if not any(hmac.compare_digest(expected, candidate.encode()) for candidate in offered):
        raise InvalidSignature("no matching signature")
