"""Error messages for the pages, in the NHS.UK style: each names its field and says how to fix it
("Enter the patient's first name"), instead of marshmallow's "Missing data for required field.",
which the API keeps (an API client has the pointer; a person reading an error summary has only the
words). A message the schema or the rules already wrote for people is kept as it is."""

from __future__ import annotations

import re

# marshmallow's own words: about a missing answer, or about one that is not the right shape
_MISSING = ("Missing data for required field.", "Field may not be null.", "Shorter than minimum length 1.",
            "Say why this could not be agreed in full.")  # the last: which one? (the employer's page says)
_GENERIC = re.compile(r"^(Missing data|Field may not|Not a valid|Must be one of|Shorter than|Longer than|"
                      r"Length must be|Must be greater|Must be less|String does not match|Invalid value|"
                      r"Say why this could not)")

# field id (its pointer with dashes, row numbers as N) -> (when missing, when not valid)
SUGGESTION = {
    "issuer-name": ("Enter your name", "Enter your name, 2 to 200 characters"),
    "issuer-profession": ("Select your profession", "Select your profession"),
    "patient-nhs_number": ("Enter the patient's NHS number",
                           "Enter the patient's NHS number in the correct format, 10 digits like 943 476 5919"),
    "patient-given_name": ("Enter the patient's first name", "The patient's first name must be 100 characters or fewer"),
    "patient-family_name": ("Enter the patient's last name", "The patient's last name must be 100 characters or fewer"),
    "patient-birth_date": ("Enter the patient's date of birth", "Date of birth must be a real date"),
    "patient-email": (None, "Enter the patient's email address in the correct format, like name@example.com"),
    "patient-phone": (None, "Enter the patient's phone number with 6 to 15 digits, like 07700 900123"),
    "patient-postcode": (None, "Enter a real postcode, like GL1 2AB"),
    "assessment-date": ("Enter the date you assessed the patient", "Date of assessment must be a real date"),
    "assessment-method": ("Select how you assessed the patient", "Select how you assessed the patient"),
    "assessment-condition_started_on": (None, "The date the condition started must be a real date"),
    # the form has three to five boxes: "between 1 and 5" can only mean none was typed
    "conditions": ("Enter the condition affecting the patient's fitness for work",
                   "Enter the condition affecting the patient's fitness for work"),
    "conditions-N-text": ("Enter the condition", "The condition must be 2 to 200 characters"),
    "decision": ("Select whether the patient may be fit for work or is not fit for work",
                 "Select whether the patient may be fit for work or is not fit for work"),
    "categories": (None, "Select what the advice includes from the list"),
    "functional_effects": (None, "The functional effects must be 2000 characters or fewer"),
    "recommendations": (None, "Choose at most 20 recommendations"),
    "recommendations-N-difficulty": (None, "The difficulty must be 300 characters or fewer"),
    "recommendations-N-free_text": (None, "The recommendation must be 1000 characters or fewer"),
    "recommendations-N-schedule": ("Write the plan for each week you name, like Week 5: full hours",
                                   "Each week of the plan must be 200 characters or fewer, weeks 1 to 26"),
    "period-start": ("Enter the date the advice starts", "The start date must be a real date"),
    "period-end": (None, "The end date must be a real date"),
    "period-duration_days": (None, "Enter the number of days as a whole number from 1 to 3650, like 28"),
    "review_date": (None, "The review date must be a real date"),
    "job-title": (None, "The job title must be 120 characters or fewer"),
    "job-employer_name": (None, "The employer's name must be 200 characters or fewer"),
    "job-tasks": (None, "Select the job's tasks from the list"),
    "job-notes": (None, "The notes about the job must be 500 characters or fewer"),
}


# The rules' words (the API's, as they are) said as the page's date boxes ask for a date.
RULE_WORDS = {"The date of birth is in the future.": "Date of birth must be in the past",
              "The assessment date is in the future.": "Date of assessment must be today or in the past"}


def worded(errors: dict[str, list[str]], wording: dict[str, tuple[str | None, str | None]]) -> dict[str, list[str]]:
    """The form's errors (field id -> messages) with marshmallow's words replaced by the field's own."""
    return {field: list(dict.fromkeys(_word(field, message, wording) for message in messages))
            for field, messages in errors.items()}


def _word(field: str, message: str, wording: dict[str, tuple[str | None, str | None]]) -> str:
    if not _GENERIC.match(message):
        return RULE_WORDS.get(message, message)
    missing, invalid = wording.get(field) or wording.get(re.sub(r"-\d+(?=-|$)", "-N", field), (None, None))
    chosen = missing if message in _MISSING else invalid
    return chosen or invalid or missing or message


def employer_wording(rows: list[dict]) -> dict[str, tuple[str | None, str | None]]:
    """The employer's page: each recommendation by its number and title."""
    wording: dict[str, tuple[str | None, str | None]] = {
        "responder_name": ("Enter your name", "Enter your name, 2 to 200 characters"),
        "responder_role": (None, "Your role must be 200 characters or fewer"),
        "effective_from-day": (None, "The date the changes start must be a real date"),  # its boxes' id
        "comments": (None, "Your comments must be 2000 characters or fewer"),
    }
    for i, row in enumerate(rows):
        title = f"{i + 1}. {row.get('title') or 'Recommended change'}"
        select = f"Select whether you agreed, partly agreed or could not make '{title}'"
        wording[f"items-{i}-outcome"] = (select, select)
        wording[f"items-{i}-reason"] = (f"Say why '{title}' could not be agreed in full",
                                        "The reason must be 1000 characters or fewer")
    return wording


# GOV.UK and NHS.UK style: ordinals in words from first to ninth, then numerals ("10th", "21st").
_ORDINAL_WORDS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth")


def ordinal(n: int) -> str:
    """Which one of several, as people say it: "second" (an amended suggestion's issue), "12th", "21st"."""
    if 1 <= n <= len(_ORDINAL_WORDS):
        return _ORDINAL_WORDS[n - 1]
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
