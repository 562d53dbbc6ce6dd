"""Whole numbers from pages' forms and links (worklink.web.numbers)."""

from __future__ import annotations

import pytest

from worklink.web.numbers import whole_number


@pytest.mark.parametrize("text, expected", [("1", 1), ("007", 7), ("0", 0), ("130", 130), ("131", None),
                                            ("", None), (None, None), (" 1", None), ("1.5", None), ("-1", None),
                                            ("\u00b2", None), ("\u0663", None), ("9" * 5000, None),
                                            ("0" * 5000 + "12", 12)])
def test_a_whole_number_is_read_only_from_the_digits_0_to_9_within_its_range(text, expected):
    """`isdigit() and int()` passed "²" to int() (a 500) and read thousands of digits (a 500 past 4,300)."""
    assert whole_number(text, 130) == expected
