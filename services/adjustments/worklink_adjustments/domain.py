"""Domain rules of an adjustment suggestion, free of Flask and of the database.

The fit note's rules (gov.uk guidance for healthcare professionals, and GP systems' eMED3
checks) that a suggestion must keep:
- a `not_fit` decision carries no advice (no categories, no recommendations);
- in the first six months of a condition, a period covers at most three months, and an
  open-ended period is allowed only after six months;
- a period shorter than 15 days needs explicit start and end dates;
- a period does not start before the condition's onset (when the clinician gives one);
- only the five professions allowed to issue fit notes may issue one.
Plus the lifecycle: draft -> issued -> amended | withdrawn | superseded | expired.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from datetime import date, timedelta
from typing import Any, Iterable

from worklink.events.contracts.adjustments import (DECISIONS, EMPLOYER_OUTCOMES, FIT_NOTE_CATEGORIES,
                                                   ISSUER_PROFESSIONS, WITHDRAWAL_REASONS)
from worklink.nhs import nhs_number_is_valid
from worklink.uktime import uk_today  # clinical dates (assessment, birth, period, review) are UK dates
from worklink_adjustments.disclosure import PrivateTerms


ASSESSMENT_METHODS = ("face_to_face", "telephone", "video", "written_report")
STATUSES = ("draft", "issued", "amended", "withdrawn", "superseded", "expired")
ACTIVE = ("issued", "amended")
SHORT_PERIOD_DAYS = 15
# How far a period may start from the assessment it rests on. The reference (gov.uk fit note
# guidance) states no bound; three months either side keeps a typing slip (2062 for 2026) from
# being issued and is to be confirmed with the clinical lead.
PERIOD_START_WINDOW_MONTHS = 3
REVIEW_WITHIN_MONTHS = 12  # a review date at most this long after the period ends (or starts, if open)
OLDEST_PATIENT_YEARS = 120
PROFESSION_RULE = ("Only doctors, nurses, occupational therapists, pharmacists and physiotherapists may issue "
                   "fit-note advice.")


class DomainError(Exception):
    status = 400

    def __init__(self, detail: str, **extensions: Any):
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class RuleViolation(DomainError):
    """The suggestion breaks one or more rules; `errors` names each field by JSON Pointer."""

    status = 422

    def __init__(self, errors: list[dict[str, str]]):
        super().__init__(f"The suggestion breaks {len(errors)} rule(s) of a fit note.", errors=errors)
        self.errors = errors


class Conflict(DomainError):
    status = 409


class NotFound(DomainError):
    status = 404


# --- periods -------------------------------------------------------------------------------


def long_date(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    if not 1 <= year <= 9999:  # the calendar's ends: a bound that far away is no bound
        return date.min if year < 1 else date.max
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def in_first_six_months(condition_started_on: date | None, assessment_date: date) -> bool:
    """Unknown onset counts as the first six months: the stricter rule applies."""
    return condition_started_on is None or assessment_date < add_months(condition_started_on, 6)


@dataclass
class Period:
    start: date
    end: date | None
    explicit_end: bool  # the clinician gave an end date (not a duration)

    @property
    def days(self) -> int | None:
        return None if self.end is None else (self.end - self.start).days + 1


def resolve_period(start: date, end: date | None, duration_days: int | None) -> Period:
    if end is not None:
        return Period(start, end, True)
    if duration_days is not None:
        return Period(start, start + timedelta(days=duration_days - 1), False)
    return Period(start, None, False)


# --- the rules ---------------------------------------------------------------------------


@dataclass
class Rules:
    """Collects every broken rule so the clinician sees them all at once."""

    errors: list[dict[str, str]] = field(default_factory=list)

    def fail(self, pointer: str, detail: str) -> None:
        self.errors.append({"location": "json", "pointer": pointer, "detail": detail})

    def raise_if_broken(self) -> None:
        if self.errors:
            raise RuleViolation(self.errors)


def check_suggestion(data: dict[str, Any], *, today: date, known_adjustments: Iterable[str],
                     condition_library: dict[str, tuple[str, list[str]]] | None = None) -> Period:
    """Check a whole suggestion (already shape-validated); returns its resolved period.

    `condition_library` (library id -> (name, synonyms)), when given, checks each condition's
    library id and lets the disclosure rule catch the library's name and synonyms as well as the
    clinician's wording."""
    rules = Rules()
    assessment, period_in = data["assessment"], data["period"]
    _check_people_and_dates(rules, data, today)
    _check_advice(rules, data)
    period = _check_period(rules, period_in, assessment["date"], assessment.get("condition_started_on"))
    _check_plans(rules, data.get("recommendations", []), period)
    known = set(known_adjustments)
    for i, row in enumerate(data.get("recommendations", [])):
        if row.get("adjustment_id") and row["adjustment_id"] not in known:
            rules.fail(f"/recommendations/{i}/adjustment_id", f"No adjustment {row['adjustment_id']!r} in the guidance library.")
        if not row.get("adjustment_id") and not (row.get("free_text") or "").strip():
            rules.fail(f"/recommendations/{i}", "Choose an adjustment from the library or describe one in free text.")
    if condition_library is not None:
        for i, condition in enumerate(data.get("conditions", [])):
            if condition.get("condition_id") and condition["condition_id"] not in condition_library:
                rules.fail(f"/conditions/{i}/condition_id", f"No condition {condition['condition_id']!r} in the "
                                                            "guidance library.")
    _check_disclosure(rules, data, condition_library or {})
    _check_referral_contact(rules, data)
    if data.get("review_date") and data["review_date"] < period.start:
        rules.fail("/review_date", "The review date is before the period starts.")
    elif data.get("review_date") and data["review_date"] > add_months(period.end or period.start, REVIEW_WITHIN_MONTHS):
        rules.fail("/review_date", f"The review date is more than {REVIEW_WITHIN_MONTHS} months after the period "
                                   f"{'ends' if period.end else 'starts'}.")
    rules.raise_if_broken()
    return period


def check_what_parsed(data: dict[str, Any], today: date) -> list[dict[str, str]]:
    """The rules that can be checked on the parts of a suggestion that parsed (the rest has shape
    errors), so a form shows every problem in one round: the NHS number's check digit with the
    missing name. Library checks wait for a whole suggestion."""
    rules = Rules()
    _check_people_and_dates(rules, data, today)
    if "decision" in data:  # "describe the functional effects" came only once the rest was fixed, a round later
        _check_advice(rules, data)
    assessment, period_in = data.get("assessment") or {}, data.get("period") or {}
    if assessment.get("date") and period_in.get("start"):
        _check_period(rules, period_in, assessment["date"], assessment.get("condition_started_on"))
    if data.get("conditions") and "consent" in data:
        _check_disclosure(rules, data, {})
    if "consent" in data and "patient" in data:
        _check_referral_contact(rules, data)
    return rules.errors


def _check_referral_contact(rules: Rules, data: dict[str, Any]) -> None:
    """A referral is the adviser contacting the patient: without a phone or an email it reached the
    adviser with "Contact: None given" (the referrals service's own intake refuses one too)."""
    patient = data.get("patient") or {}
    if (data.get("consent") or {}).get("refer_to_employment_adviser") and not (patient.get("phone")
                                                                              or patient.get("email")):
        rules.fail("/patient/phone", "Add the patient's phone number or email address: the employment adviser "
                                     "contacts them to start the referral.")


def _check_people_and_dates(rules: Rules, data: dict[str, Any], today: date) -> None:
    """Checks each of whichever of its fields are present."""
    patient, assessment = data.get("patient") or {}, data.get("assessment") or {}
    if patient.get("nhs_number") and not nhs_number_is_valid(patient["nhs_number"]):
        rules.fail("/patient/nhs_number", "This is not a valid NHS number: its check digit does not match.")
    if patient.get("birth_date") and patient["birth_date"] > today:
        rules.fail("/patient/birth_date", "The date of birth is in the future.")
    elif patient.get("birth_date") and patient["birth_date"] < add_months(today, -12 * OLDEST_PATIENT_YEARS):
        rules.fail("/patient/birth_date", f"The date of birth is more than {OLDEST_PATIENT_YEARS} years ago.")
    issuer = data.get("issuer") or {}
    if "profession" in issuer and issuer["profession"] not in ISSUER_PROFESSIONS:  # "" too
        rules.fail("/issuer/profession", PROFESSION_RULE)
    if assessment.get("date") and assessment["date"] > today:
        rules.fail("/assessment/date", "The assessment date is in the future.")
    elif assessment.get("date") and patient.get("birth_date") and assessment["date"] < patient["birth_date"]:
        rules.fail("/assessment/date", "The assessment date is before the patient's date of birth.")
    started = assessment.get("condition_started_on")
    if started and assessment.get("date") and started > assessment["date"]:
        rules.fail("/assessment/condition_started_on", "The condition cannot start after the assessment.")


def _check_advice(rules: Rules, data: dict[str, Any]) -> None:
    if data["decision"] == "not_fit":
        if data.get("categories"):
            rules.fail("/categories", "A 'not fit for work' decision cannot carry advice: remove the categories "
                                      "or choose 'may be fit for work'.")
        if data.get("recommendations"):
            rules.fail("/recommendations", "A 'not fit for work' decision cannot carry recommendations: remove them "
                                           "or choose 'may be fit for work'.")
    elif not (data.get("functional_effects") or "").strip():
        rules.fail("/functional_effects", "Describe the functional effects of the condition in plain words.")


def _check_period(rules: Rules, period_in: dict[str, Any], assessed_on: date, started: date | None) -> Period:
    start = period_in["start"]
    earliest, latest = (add_months(assessed_on, -PERIOD_START_WINDOW_MONTHS),
                        add_months(assessed_on, PERIOD_START_WINDOW_MONTHS))
    if not earliest <= start <= latest:
        rules.fail("/period/start", f"The period must start within {PERIOD_START_WINDOW_MONTHS} months of the "
                                    f"assessment ({long_date(earliest)} to {long_date(latest)}).")
        return Period(start, period_in.get("end"), True)  # nothing more to check against a wrong start
    if started and started <= assessed_on and start < started:  # (an onset after the assessment is refused itself)
        # The note covers time the condition affected the patient's work: before its onset there was none.
        rules.fail("/period/start", "The period must start on or after the day the condition started "
                                    f"({long_date(started)}).")
    period = resolve_period(start, period_in.get("end"), period_in.get("duration_days"))
    if period_in.get("end") and period_in.get("duration_days"):
        rules.fail("/period", "Give either an end date or a duration, not both.")
    if period.end is not None and period.end < period.start:
        rules.fail("/period/end", "The period ends before it starts.")
        return period
    first_six = in_first_six_months(started, assessed_on)
    if period.end is None and first_six:
        rules.fail("/period/end", "An open-ended period is only allowed once the condition has lasted six months; "
                                  "give an end date or a duration.")
    # The end date is inclusive: three months from 1 November end on 31 January.
    if period.end is not None and first_six and period.end >= add_months(period.start, 3):
        rules.fail("/period", "In the first six months of a condition a fit note can cover at most 3 months.")
    if period.days is not None and period.days < SHORT_PERIOD_DAYS and not period.explicit_end:
        rules.fail("/period/end", f"A period shorter than {SHORT_PERIOD_DAYS} days needs explicit start and end dates.")
    return period


def _check_plans(rules: Rules, rows: list[dict[str, Any]], period: Period) -> None:
    """A week-by-week plan is advice for the period: each week once, and none starting after the period ends
    (the employer read a ten-week return on a four-week note as advice the clinician never covered)."""
    for i, row in enumerate(rows):
        planned: set[int] = set()
        for n, week in enumerate(row.get("schedule") or []):
            pointer = f"/recommendations/{i}/schedule/{n}/week"
            if week["week"] in planned:
                rules.fail(pointer, f"Week {week['week']} of the plan is given twice.")
            planned.add(week["week"])
            if period.end is not None and period.start + timedelta(weeks=week["week"] - 1) > period.end:
                rules.fail(pointer, f"Week {week['week']} of the plan starts after the period ends on "
                                    f"{long_date(period.end)}: shorten the plan or lengthen the period.")


# What the employer never sees (the letter and the employer's page do not print it): the patient's
# identity and contact details, the conditions themselves (a disclosed one is printed as agreed),
# the employer's own name, and codes. Every other text of a suggestion is scanned, so a field
# added later is checked unless it is listed here (tests/.../test_disclosure.py checks that every
# text the letter, its PDF and the employer's page print is scanned).
NOT_SHOWN_TO_EMPLOYER = re.compile(
    r"^/(patient/.*|conditions/.*|job/(employer_name|notes|tasks(/.*)?)|decision|categories(/.*)?|"
    r"assessment/.*|issuer/profession|supersedes_id|recommendations/\d+/(adjustment_id|fit_note_category)|"
    r"consent/.*|signposting/.*)$")
LIBRARY_WORDING = re.compile(r"^/recommendations/(\d+)/(title|employer_text)$")


@lru_cache(maxsize=4096)
def _not_shown(pointer: str) -> bool:
    """Whether the employer never sees what `pointer` names: asked of every part of every suggestion checked (at
    each write and issue), and pointers repeat (schema keys and list positions), so each is matched once."""
    return NOT_SHOWN_TO_EMPLOYER.match(pointer) is not None


def employer_facing_texts(data: Any, pointer: str = "") -> list[tuple[str, str]]:
    """Every (JSON Pointer, text) of a suggestion that reaches the employer."""
    if isinstance(data, str):
        return [(pointer, data)] if data.strip() and not _not_shown(pointer) else []
    if isinstance(data, dict):
        children = data.items()
    elif isinstance(data, list):
        children = enumerate(data)
    else:
        return []
    found = []
    for key, value in children:
        child = f"{pointer}/{key}"
        if isinstance(value, str):  # taken here, as at the top, without a call for each text
            if value.strip() and not _not_shown(child):
                found.append((child, value))
        elif isinstance(value, (dict, list)) and not _not_shown(f"{child}/"):
            found += employer_facing_texts(value, child)  # unless the employer never sees it (the patient...)
    return found


class ConditionLibrary(dict):
    """The library's conditions, id -> (name, synonyms), with the ids looked up by any of their names. Built once
    per guidance version (knowledge.GuidanceIndex) rather than for every suggestion checked."""

    @cached_property
    def by_name(self) -> dict[str, str]:
        return {term.strip().lower(): cid for cid, (name, synonyms) in self.items() for term in (name, *synonyms)}


def private_terms(data: dict[str, Any], condition_library: dict[str, tuple[str, list[str]]]) -> PrivateTerms:
    """The words that would name a condition the patient did not agree to disclose to their employer.
    `condition_library` (library id -> (name, synonyms)) adds the library's name and synonyms of each;
    a condition written in the clinician's words that is a library name or synonym gets them too."""
    shared = data["consent"].get("share_with_employer")
    if not isinstance(condition_library, ConditionLibrary):
        condition_library = ConditionLibrary(condition_library)
    by_name = condition_library.by_name
    names, synonyms = [], []
    for condition in data.get("conditions", []):
        if condition.get("disclose") and shared:
            continue
        text = condition.get("text") or ""  # absent only in a part-parsed form (check_what_parsed)
        names.append(text)
        library_id = condition.get("condition_id") or by_name.get(text.strip().lower())
        if library_id in condition_library:
            name, more = condition_library[library_id]
            names.append(name)
            synonyms += list(more)
    return PrivateTerms(names, synonyms)


def disclosed_condition_texts(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The conditions the letter names because the patient agreed: printed as the clinician typed them, so
    one must not quote a condition kept private ("Anxiety since the HIV diagnosis")."""
    if not (data.get("consent") or {}).get("share_with_employer"):
        return []
    return [(f"/conditions/{i}/text", condition.get("text") or "")
            for i, condition in enumerate(data.get("conditions") or []) if condition.get("disclose")]


def _check_disclosure(rules: Rules, data: dict[str, Any], condition_library: dict[str, tuple[str, list[str]]]) -> None:
    """Words meant for the employer must not name a condition the patient keeps private."""
    private = private_terms(data, condition_library)
    if not private:
        return
    for pointer, text in employer_facing_texts(data) + disclosed_condition_texts(data):
        named = private.named_in(text)
        if not named:
            continue
        if library := LIBRARY_WORDING.match(pointer):  # the letter prints the library adjustment's wording
            i = int(library.group(1))
            rules.fail(f"/recommendations/{i}/adjustment_id",
                       f"The library wording of '{data['recommendations'][i].get('title')}' names '{named[0]}', "
                       "which the patient has not agreed to disclose to their employer. Choose another adjustment "
                       "or describe it in free text.")
        else:
            rules.fail(pointer, f"This text names '{named[0]}', which the patient has not agreed to disclose to "
                                "their employer. Describe the effects instead.")


# --- lifecycle -------------------------------------------------------------------------

TRANSITIONS = {
    "update": ("draft",),
    "issue": ("draft",),
    "amend": ACTIVE,
    "withdraw": ACTIVE,
    "supersede": ACTIVE,
    "expire": ACTIVE,
    "review_due": ACTIVE,
    "request_referral": ACTIVE,
    "employer_response": ACTIVE,
    # A referral outlives the advice it came from: the patient can withdraw consent to it at any time.
    "withdraw_referral_consent": ("issued", "amended", "withdrawn", "superseded", "expired"),
}


def check_transition(action: str, status: str) -> None:
    allowed = TRANSITIONS[action]
    if status not in allowed:
        raise Conflict(f"A suggestion that is {status} cannot be {_past(action)}; only one that is "
                       f"{' or '.join(allowed)} can.", current_status=status, action=action)


def _past(action: str) -> str:
    return {"update": "edited", "issue": "issued", "amend": "amended", "withdraw": "withdrawn",
            "supersede": "superseded", "expire": "expired", "review_due": "marked due for review",
            "withdraw_referral_consent": "used to record a withdrawn referral consent",
            "request_referral": "used for a referral", "employer_response": "answered by an employer"}[action]


def check_version(expected: int, actual: int) -> None:
    if expected != actual:
        raise Conflict(f"The suggestion changed since you read it (you sent version {expected}, it is now "
                       f"{actual}). Reload it and make your change again.", current_version=actual)


def overall_outcome(item_outcomes: list[str]) -> str:
    if item_outcomes and all(o == "agreed" for o in item_outcomes):
        return "agreed"
    if item_outcomes and all(o == "not_possible" for o in item_outcomes):
        return "not_possible"
    return "partially_agreed"


def categories_for(decision: str, categories: list[str], recommended: list[dict[str, Any]]) -> list[str]:
    """The fit-note boxes ticked: the clinician's, plus those of the library adjustments chosen."""
    if decision == "not_fit":
        return []
    chosen = set(categories) | {a["fit_note_category"] for a in recommended if a}
    return [c for c in FIT_NOTE_CATEGORIES if c in chosen]


__all__ = ["DECISIONS", "EMPLOYER_OUTCOMES", "FIT_NOTE_CATEGORIES", "ISSUER_PROFESSIONS", "WITHDRAWAL_REASONS",
           "PROFESSION_RULE", "ASSESSMENT_METHODS", "STATUSES", "ACTIVE", "DomainError", "RuleViolation", "Conflict", "NotFound",
           "ConditionLibrary", "nhs_number_is_valid", "check_suggestion", "check_what_parsed", "check_transition", "check_version",
           "resolve_period", "add_months", "overall_outcome", "categories_for", "uk_today"]
