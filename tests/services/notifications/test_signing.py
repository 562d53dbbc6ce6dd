"""The reference verifier receivers copy (signing.verify): whatever a sender puts in the headers, the answer is
InvalidSignature - a 401 at the receiver - never an exception it did not expect (a 500)."""

from __future__ import annotations

import time

import pytest

from worklink_notifications import signing

BODY = b'{"type":"referrals.referral.accepted"}'


@pytest.mark.parametrize("forged", [
    {"webhook-signature": "v1,\u00e9t\u00e9"},  # not ASCII: compare_digest refuses such str with a TypeError
    {"webhook-timestamp": "1" + "0" * 400},  # a whole number too large for a float
    {"webhook-timestamp": "-" + "9" * 400},
    {"webhook-timestamp": "soon"},
    {"webhook-id": "msg_\u00e9"},
])
def test_headers_a_sender_forged_are_an_invalid_signature(forged):
    secret = signing.new_secret()
    genuine = signing.headers([secret], "msg_1", BODY)
    signing.verify(secret, genuine, BODY)
    with pytest.raises(signing.InvalidSignature):
        signing.verify(secret, {**genuine, **forged}, BODY)


def test_a_timestamp_more_than_5_minutes_from_the_receivers_clock_is_refused_either_way():
    secret, now = signing.new_secret(), int(time.time())
    for offset in (-signing.TOLERANCE, signing.TOLERANCE):
        signing.verify(secret, signing.headers([secret], "msg_1", BODY, timestamp=now + offset), BODY, now=now)
    for offset in (-signing.TOLERANCE - 1, signing.TOLERANCE + 1):
        with pytest.raises(signing.InvalidSignature, match="tolerance"):
            signing.verify(secret, signing.headers([secret], "msg_1", BODY, timestamp=now + offset), BODY, now=now)
