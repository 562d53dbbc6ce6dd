"""The waiting self-referral's id is a secret: with the code it verifies, and alone it says where the
code went and spends the attempts. The API's verification address must not put it in the request log."""

from __future__ import annotations

import logging

from worklink.logs import JsonFormatter
from tests.services.referrals.test_api import self_referral


def test_the_verification_request_log_line_does_not_hold_the_pending_id(harness, caplog):
    h = harness
    pending = h.client.post("/self-referrals", json=self_referral("sam@example.org")).get_json()
    caplog.set_level(logging.INFO, logger="worklink.http")
    caplog.clear()
    for code in ("000000", pending["code"]):  # a wrong code, then the right one
        h.client.post(f"/self-referrals/{pending['id']}/verification", json={"code": code})
    lines = [r for r in caplog.records if r.name == "worklink.http"]
    assert [line.status for line in lines] == [400, 201]
    for line in lines:
        assert line.path == "/self-referrals/[redacted]/verification"
        assert pending["id"] not in JsonFormatter().format(line)
    answer = h.client.post(f"/self-referrals/{pending['id']}/verification", json={"code": pending["code"]})
    assert answer.headers["Cache-Control"] == "no-store" and answer.headers["Referrer-Policy"] == "no-referrer"
