"""A wrong self-referral code on the code page says how many tries are left, and the last wrong one says the code no
longer works and to start again. The page said only "That code is not right. Check the message and try again." five
times; the sixth try, with the right code, was told "The code has expired" moments after it was sent."""

from __future__ import annotations

from tests.services.referrals.test_page_forms import post
from tests.services.referrals.test_wrong_code_audited import started

WRONG = ("918273", "564738", "102938", "475869", "231405")


def test_each_wrong_code_says_how_many_tries_are_left_and_the_last_says_start_again(harness):
    h = harness
    pending = started(h)
    codes = [c for c in WRONG if c != pending["code"]][:4] + ["000001" if pending["code"] != "000001" else "000002"]
    said = []
    for code in codes:
        refused = post(h, f"/refer-yourself/{pending['id']}/code", {"code": code}, {})
        assert refused.status_code == 422
        said.append(refused.get_data(as_text=True))
    for page, left in zip(said, ("4 more tries", "3 more tries", "2 more tries", "1 more try")):
        assert f"That code is not right. Check the message and try again. You have {left}." in page
    assert "That code is not right, and it was the last try. Start your referral again to get a new code." in said[4]
    assert "more tr" not in said[4]
    # and it was the last: the right code no longer works
    after = post(h, f"/refer-yourself/{pending['id']}/code", {"code": pending["code"]}, {})
    assert after.status_code == 410
