"""NHS number check (one place for every service)."""

from __future__ import annotations


def nhs_number_is_valid(value: str) -> bool:
    """Ten digits (not all the same) whose tenth is the modulus-11 check digit of the first nine."""
    digits = value.replace(" ", "")
    if len(digits) != 10 or not (digits.isascii() and digits.isdigit()) or len(set(digits)) == 1:
        # 0000000000 passes modulus 11 but is no one's number; isdigit() alone passes "²" (int() then fails: a
        # 500 where a schema's pattern check had already refused it) and other scripts' digits, kept unmatched
        return False
    total = sum(int(d) * weight for d, weight in zip(digits[:9], range(10, 1, -1)))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])
