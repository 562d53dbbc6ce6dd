"""What a value on a broadcast event must never be: a person's identifier or a date.

A broadcast schema's field types and patterns refuse free text (catalogue.broadcast_violations),
yet a code's or a number's characters can still spell a person out. `personal_identifier` looks at
one value (a JSON string or number) when an event is sent and when it is read. Each recogniser is
the identifier's own format and check digit where it has one, so a code, count or id is not
mistaken for one. An e-mail address needs no value check: no broadcast string field admits one
(the schema guard probes every pattern with an address), nor does `code()` admit spaces, "+", "/"
or digits alone, the way people write most of these.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

from worklink.nhs import nhs_number_is_valid

_ONLY = "a broadcast event carries ids, codes and timestamps only."
NHS_NUMBER = f"Looks like an NHS number: {_ONLY}"
CHI_NUMBER = f"Looks like a CHI number: {_ONLY}"
NATIONAL_INSURANCE_NUMBER = f"Looks like a National Insurance number: {_ONLY}"
PHONE_NUMBER = f"Looks like a UK phone number: {_ONLY}"
POSTCODE = f"Looks like a full postcode: {_ONLY}"
DATE = f"A date in a field not declared as a date: {_ONLY}"

# Years a date of birth or one of our events can have: an 8-digit count or a version such as
# "1.2.1234" is not mistaken for a date.
_YEARS = range(1900, 2100)
# 1984-02-29 (also a timestamp's start), 1984/02/29, 1984.02.29, 19840229.
_YEAR_FIRST = re.compile(r"^([0-9]{4})([-/.]?)([0-9]{2})\2([0-9]{2})(?:$|[Tt ])")
# 29/02/1984, 29-02-1984, 29.2.1984 (or the month first).
_YEAR_LAST = re.compile(r"^([0-9]{1,2})([-/.])([0-9]{1,2})\2([0-9]{4})$")
# Digits as people write a number: 943 476 5919, 010190-1234, 07700.900123, +44 (0)7700 900123.
_WRITTEN_NUMBER = re.compile(r"^\+?[0-9(][0-9 ().-]{7,18}[0-9]$")
_NOT_DIGITS = str.maketrans("", "", " ().-+")
_NUMBER_STARTS = frozenset("0123456789+(")
_DIGIT = re.compile(r"[0-9]")
_SEPARATOR = re.compile(r"[-_.:/ +()]")
# HMRC's format (NIM39110): two prefix letters - neither D, F, I, Q, U nor V, the second not O,
# never BG, GB, KN, NK, NT, TN or ZZ - six digits, suffix A to D (sometimes left off); in any case, spaced or not. Also
# HMRC's specimen prefix QQ, which test and demo data put in a person's place.
_NATIONAL_INSURANCE = re.compile(
    r"^(?:QQ|(?!BG|GB|KN|NK|NT|TN|ZZ)[ABCEGHJ-PRSTW-Z][ABCEGHJ-NPRSTW-Z])(?:[ .-]?[0-9]{2}){3}(?:[ .-]?[A-D])?$",
    re.I)
# A full postcode (outward and inward code): "TA1 1AA", "ta11aa", "SW1A-1AA". An outward code alone
# ("TA1", a postcode district) is an area, which the directory's events carry on purpose.
_POSTCODE = re.compile(r"^[A-PR-UWYZ][A-HK-Y]?[0-9][A-Z0-9]?[ .-]?[0-9][ABD-HJLNP-UW-Z]{2}$", re.I)


def personal_identifier(value: Any) -> str | None:
    """Why `value` may not ride on a broadcast event (it names or dates a person), else None."""
    if isinstance(value, str):
        return _in_text(value)
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return _in_number(value)
    return None


def _in_text(text: str) -> str | None:
    found = _spelt_by(text)
    if found or not _DIGIT.search(text):  # every identifier and date here has digits
        return found
    # Spelt inside a longer value ("ref-ab123456c", "x.943-476-5919.y"): each stretch that begins at the start
    # or after a separator and ends at the end or before one (values are short: a few dozen stretches at most).
    cuts = [m.start() for m in _SEPARATOR.finditer(text)]
    starts, ends = [0, *(cut + 1 for cut in cuts)], [*cuts, len(text)]
    for start in starts:
        for end in ends:
            if end > start and (start, end) != (0, len(text)) and (found := _spelt_by(text[start:end])):
                return found
    return None


def _spelt_by(text: str) -> str | None:
    """What the whole of `text` spells, if anything."""
    if text[:1] in _NUMBER_STARTS:
        return _date_in(text) or _number_in(text)
    # Each begins with a letter; the lengths are the longest ways to write them.
    if len(text) <= 13 and _NATIONAL_INSURANCE.match(text):
        return NATIONAL_INSURANCE_NUMBER
    if len(text) <= 8 and _POSTCODE.match(text):
        return POSTCODE
    return None


def _in_number(number: int | float | Decimal) -> str | None:
    digits = _whole_digits(number)
    if len(digits) == 10 and _is_nhs_number(digits):
        return NHS_NUMBER
    if len(digits) == 9 and _is_chi_number("0" + digits):  # the leading zero of a birthday's day, lost
        return CHI_NUMBER
    if len(digits) == 8 and _is_date(digits[:4], digits[4:6], digits[6:]):
        return DATE
    return None


def _date_in(text: str) -> str | None:
    if match := _YEAR_FIRST.match(text):
        year, _, month, day = match.groups()
        return DATE if _is_date(year, month, day) else None
    if match := _YEAR_LAST.match(text):
        first, _, second, year = match.groups()
        return DATE if _is_date(year, second, first) or _is_date(year, first, second) else None
    return None


def _number_in(text: str) -> str | None:
    if not _WRITTEN_NUMBER.match(text):
        return None
    digits = text.translate(_NOT_DIGITS)
    if len(digits) == 10 and _is_nhs_number(digits):
        return NHS_NUMBER
    if len(digits) == 10 and _is_chi_number(digits):
        return CHI_NUMBER
    if _is_uk_phone_number(digits, international=text.startswith("+")):
        return PHONE_NUMBER
    return None


def _whole_digits(number: int | float | Decimal) -> str:
    """A whole number's digits, else ""."""
    try:
        return str(int(number)) if number == int(number) else ""
    except (ValueError, OverflowError):  # NaN, infinity, more digits than str() will write
        return ""


def _is_nhs_number(digits: str) -> bool:
    """Ten digits passing modulus 11, from the ranges NHS numbers are issued in (3xx to 9xx; Northern
    Ireland's H&C numbers are the 320 to 399 range of the same scheme). Ten digits from 1 or 2 are
    left alone here: that is a Unix time in seconds until 2065, and no NHS number begins so."""
    return digits[0] >= "3" and nhs_number_is_valid(digits)


def _is_chi_number(digits: str) -> bool:
    """Scotland's CHI number: the date of birth as DDMMYY, four digits, the last a modulus-11 check
    digit as the NHS number's. Only in text or as nine digits (a leading zero lost): as ten digits a
    number is as likely a Unix time in seconds, which a birthday's digits cannot tell apart."""
    # As 20YY: 29 February 00 is a birthday only in 2000 (1900 was no leap year); other years agree.
    return _is_date("20" + digits[4:6], digits[2:4], digits[:2]) and nhs_number_is_valid(digits)


def _is_uk_phone_number(digits: str, *, international: bool) -> bool:
    """A UK number in national form (0 then 9 or 10 digits, from the 01/02/03/05/07/08/09 ranges)
    or international (+44, 0044 or 44 then the number without its 0, or with "(0)")."""
    for prefix in ("0044", "44"):
        if digits.startswith(prefix) and (international or prefix == "0044" or len(digits) == 12):
            digits = "0" + digits[len(prefix):].removeprefix("0")
            break
    else:
        if international:
            return False  # another country's number: not ours to recognise
    return len(digits) in (10, 11) and digits[0] == "0" and digits[1] in "1235789"


def _is_date(year: str, month: str, day: str) -> bool:
    if int(year) not in _YEARS:
        return False
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return False
    return True
