"""Whole numbers a person typed into a page's form or a link carries (`?page=2`), read without a 500.

`str.isdigit()` is no guard before `int()`: it also says yes to "²" and other characters `int()` refuses
(a ValueError, so a 500 page), and to thousands of digits, more than `int()` reads (4,300).
"""

from __future__ import annotations

import re

_PLAIN_DIGITS = re.compile(r"[0-9]+")


def whole_number(text: str | None, maximum: int) -> int | None:
    """`text` as a whole number from 0 to `maximum`, written in the digits 0-9; else None."""
    if text is None or not _PLAIN_DIGITS.fullmatch(text):
        return None
    significant = text.lstrip("0") or "0"
    if len(significant) > len(str(maximum)) or int(significant) > maximum:
        return None
    return int(significant)
