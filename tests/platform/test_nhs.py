"""The NHS number check (worklink.nhs) every service uses."""

from __future__ import annotations

import pytest

from worklink.nhs import nhs_number_is_valid


@pytest.mark.parametrize("typed", ["943476591\u00b2", "\u0669\u0664\u0663\u0664\u0667\u0666\u0665\u0669\u0661\u0669",
                                   "\uff19\uff14\uff13\uff14\uff17\uff16\uff15\uff19\uff11\uff19"])
def test_only_the_digits_0_to_9_make_an_nhs_number(typed):
    """str.isdigit() passes a superscript two (int() then raised: referrals answered a GP's referral with a
    500, its schema running this check after its pattern had refused the number), Arabic-Indic digits and
    full-width ones (which were valid, and never matched the same number typed in 0-9)."""
    assert nhs_number_is_valid(typed) is False
    assert nhs_number_is_valid("9434765919")
