"""A self-referral code that is not 6 digits cannot be the code: it is refused before the waiting record is read, so it
tries nothing on the record and is neither counted among the 5 attempts nor audited (a wrong 6-digit code is both).
Spaces anywhere are a harmless slip on both routes: a code copied as "123 456" was refused as malformed, though
spaces around it were taken."""

from __future__ import annotations

import pytest

from tests.services.referrals.test_page_forms import post
from tests.services.referrals.test_wrong_code_audited import WRONG, started, trail

MALFORMED = ("12345", "1234567", "12345a", "")


def spaced(code: str) -> str:
    return f" {code[:3]} {code[3:]}  "


def test_spaces_anywhere_in_the_code_are_ignored_through_the_api(harness):
    h = harness
    pending = started(harness)
    made = h.client.post(f"/self-referrals/{pending['id']}/verification", json={"code": spaced(pending["code"])})
    assert made.status_code == 201, made.get_json()


def test_spaces_anywhere_in_the_code_are_ignored_on_the_code_page(harness):
    h = harness
    pending = started(h)
    verified = post(h, f"/refer-yourself/{pending['id']}/code", {"code": spaced(pending["code"])}, {})
    assert verified.status_code == 303 and verified.headers["Location"].startswith("/my-referral/")


@pytest.mark.parametrize("code", MALFORMED)
def test_a_malformed_code_is_neither_counted_nor_audited(harness, code):
    h = harness
    pending = started(h)
    pid = pending["id"]
    for _ in range(5):  # as many as would end the waiting record if they counted
        refused = h.client.post(f"/self-referrals/{pid}/verification", json={"code": code})
        assert refused.status_code == 422 and refused.get_json()["errors"][0]["pointer"] == "/code"
        page = post(h, f"/refer-yourself/{pid}/code", {"code": code}, {})
        assert page.status_code == 422 and "Enter the 6-digit code we sent you" in page.get_data(as_text=True)
    assert [row[2] for row in trail(h, pid)] == ["create"]  # nothing tried on the record
    wrong = h.client.post(f"/self-referrals/{pid}/verification", json={"code": WRONG[0]})
    assert wrong.get_json()["attempts_left"] == 4  # the first attempt that counts
    assert h.client.post(f"/self-referrals/{pid}/verification", json={"code": pending["code"]}).status_code == 201
