"""The clinician's point-of-care pages and the employer's reply page (NHS.UK frontend, no JavaScript needed).

Flow: find guidance (by condition, difficulty, job task or words) -> tick adjustments ->
fill the suggestion -> review it with the letter preview -> issue -> print letter and summary.
"""

from __future__ import annotations

import os
import re
import uuid
from typing import Any, Callable

from flask import Response, redirect, render_template, request, url_for
from marshmallow import ValidationError
from werkzeug.datastructures import MultiDict

from worklink.audit import person_record
from worklink.auth import current_principal, requires
from worklink.problems import PROBLEM_TYPE_BASE, Problem, field_errors, problem_response
from worklink.web import service_context
from worklink.web.app import accepts_form
from worklink.web.dates import date_parts, typed_date
from worklink.web.numbers import whole_number
from worklink.web.pages import PagesBlueprint, is_page_request
from worklink_adjustments import knowledge, letters, services
from worklink_adjustments.api.common import clinician, deps, today
from worklink_adjustments.config import referrals_url
from worklink_adjustments.services import RESOURCE
from worklink_adjustments.api.guidance import index, reading
from worklink_adjustments.domain import ACTIVE, DomainError, RuleViolation, check_what_parsed, uk_today
from worklink_adjustments.letters import CATEGORY_LABELS, PROFESSION_LABELS, METHOD_LABELS
from worklink_adjustments.models import Adjustment, Suggestion
from worklink_adjustments.pages.wording import SUGGESTION, employer_wording, ordinal, worded
from worklink_adjustments.schemas import (VERSIONS, EmployerResponseSchema, SuggestionInSchema,
                                          SuggestionUpdateSchema)

pages = PagesBlueprint("adjustment_pages", __name__, template_folder="templates")
pages.add_app_template_filter(lambda moment: letters.long_date(uk_today(moment)), "uk_date")  # in the UK, in words
pages.add_app_template_filter(letters.long_date, "long_date")
pages.add_app_template_filter(ordinal, "ordinal")  # an amended suggestion's issue: "second"
# A referral's step as the clinician reads it (the codes are the referrals service's lifecycle steps).
REFERRAL_WORDS = {"put_on_hold": "on hold", "resumed": "active again (resumed)",
                  "entered_in_error": "withdrawn (entered in error)", "held": "waiting for an adviser service",
                  "routed": "sent to an adviser service", "first_contact_made": "first contact made"}


@pages.app_template_filter("referral_words")
def referral_words(step: str | None) -> str:
    """A referral's step in words; none at all: not referred (the lists showed "None")."""
    return REFERRAL_WORDS.get(step or "", (step or "not referred").replace("_", " "))
NAV = [("Your suggestions", "/"), ("Find guidance", "/find")]
EMPLOYER_NAV: list = []  # an employer has no account: the clinicians' menu only led them to a sign-in page
EXTRA_ROWS = 2
CATEGORY_OPTIONS = [(code, label.capitalize()) for code, label in CATEGORY_LABELS.items()]
# Built once: a marshmallow Schema deep-copies its fields on construction; `load` keeps no state.
SUGGESTION_FORM = SuggestionInSchema()
SUGGESTION_CHANGE_FORM = SuggestionUpdateSchema()
EMPLOYER_FORM = EmployerResponseSchema()


def transaction():
    return service_context().database.transaction()


def render(template: str, status: int = 200, **context) -> Response:
    context.setdefault("nav", NAV)
    html = render_template(template, categories=CATEGORY_LABELS, professions=PROFESSION_LABELS,
                           methods=METHOD_LABELS, **context)
    return Response(html, status=status, mimetype="text/html")


HOME_PAGE_SIZE = 25


@pages.get("/")
@requires("gp", "alliance_admin", "org_admin")
def home():
    """The practice's suggestions, newest change first, a page at a time. An admin's home is a person's rights."""
    if current_principal().role != "gp":
        return redirect("/people", 303)
    return _home(_page_number(request.args.get("page", "1")), "")


@pages.post("/")
@requires("gp")
def find_patient():
    """One patient's suggestions, by NHS number: posted, never in the address, where browser history,
    proxy logs and the Referer of every link followed from the page would keep it."""
    return _home(_page_number(request.form.get("page", "1")), request.form.get("nhs_number", "").strip()[:20])


def _page_number(typed: str) -> int:
    return whole_number(typed, 9_999) or 1


def _home(page_number: int, typed: str) -> Response:
    nhs_number = re.sub(r"[\s-]", "", typed)
    errors = {}
    if not re.fullmatch(r"[0-9]{10}", nhs_number) and (nhs_number or request.method == "POST"):
        errors["nhs_number"] = ["Enter a 10-digit NHS number, like 943 476 5919"]
        nhs_number = ""
    with transaction() as session:
        listing = services.list_for_practice(session, deps(), clinician(), nhs_number=nhs_number or None,
                                             limit=HOME_PAGE_SIZE, offset=(page_number - 1) * HOME_PAGE_SIZE)
    pages_total = max(1, -(-listing["total"] // HOME_PAGE_SIZE))
    return render("adjustments/home.html", status=422 if errors else 200, listing=listing, errors=errors,
                  typed=typed, nhs_number=nhs_number, page_number=page_number, pages_total=pages_total,
                  long_date=letters.long_date)


@pages.get("/find")
@requires("gp")
def find():
    args = request.args
    query = {"q": args.get("q", "").strip()[:200], "condition": args.get("condition") or None,
             "limitation": [v for v in args.getlist("limitation") if v], "task": args.get("task") or None}
    with reading() as session:
        guidance = index(session)
        query["condition"] = query["condition"] if query["condition"] in guidance.conditions else None
        query["task"] = query["task"] if query["task"] in guidance.work_functions else None
        query["limitation"] = [v for v in query["limitation"] if v in guidance.limitations]
        searched = any((query["q"], query["condition"], query["limitation"], query["task"]))
        result = guidance.search(condition=query["condition"], limitations=query["limitation"], task=query["task"],
                                 text=query["q"], limit=25) if searched else None
        phrases = guidance.phrases_for([lim["id"] for lim in result.limitations[:6]],
                                       [h.adjustment["id"] for h in result.hits]) if result else []
    return render("adjustments/find.html", guidance=guidance, query=query, result=result, phrases=phrases[:6],
                  options=_options, costs=COST_WORDS, draft=uuid.uuid4(), replaces=_as_uuid(args.get("replaces", "")))


# The library's cost bands in words (the codes read "cost 100 1000" on the page).
COST_WORDS = {"none": "no cost", "under_100": "costs under £100", "100_1000": "costs £100 to £1,000",
              "over_1000": "costs over £1,000"}


def _options(entries: dict[str, dict]) -> list[tuple[str, str]]:
    """A guidance index's entries (conditions, limitations, tasks) as (id, name) choices, by name."""
    return [(e["id"], e["name"]) for e in sorted(entries.values(), key=lambda e: e["name"])]


@pages.get("/write")
@requires("gp")
def write():
    with reading() as session:
        guidance = index(session)
        picked = _library_picks(guidance, request.args.getlist("adjustment"))
        condition = guidance.conditions.get(request.args.get("condition", ""))
        searched = [lid for lid in request.args.getlist("limitation") if lid in guidance.limitations]
        task = request.args.get("task") if request.args.get("task") in guidance.work_functions else None
    form = MultiDict({"decision": "may_be_fit", "assessment.date": today().isoformat(),
                      "period.start": today().isoformat(), "assessment.method": "face_to_face",
                      "draft_id": str(_as_uuid(request.args.get("draft", "")) or uuid.uuid4())})
    if name := current_principal().name:  # the signed-in clinician, as their token names them
        form["issuer.name"] = name
    if condition:
        form["conditions.0.text"] = condition["name"]
        form["conditions.0.condition_id"] = condition["id"]
    which = _replacing(form, _as_uuid(request.args.get("replaces", "")))
    if task and task not in form.getlist("job.tasks"):  # the job task searched for (find page): not chosen again
        form.add("job.tasks", task)
    for i, adjustment in enumerate(picked):
        form[f"recommendations.{i}.adjustment_id"] = adjustment["id"]
        if difficulty := _difficulty_addressed(guidance, adjustment["id"], searched):
            form[f"recommendations.{i}.difficulty"] = difficulty
        form.add("categories", adjustment["fit_note_category"]) if adjustment["fit_note_category"] not in \
            form.getlist("categories") else None
    return suggestion_form(form, picked, guidance, which=which)


def _replacing(form: MultiDict, replaces: uuid.UUID | None) -> str | None:
    """A new suggestion replacing an issued one (the review page's "Write a new suggestion to replace this one", after
    a new assessment): the patient and their job filled in from it, and the form names it (supersedes_id, issuing ends
    the older one and its employer link). Its caption, or None when there is nothing to replace."""
    if replaces is None:
        return None
    with transaction() as session:  # a read of a person's record: audited
        older = services.read(session, deps(), clinician(), replaces)
    if older["status"] not in ("issued", "amended") or older["erased_at"]:
        return None
    form["supersedes_id"] = str(older["id"])
    for section, names in (("patient", PATIENT_FIELDS), ("job", JOB_FIELDS)):
        for name in names:
            if (value := (older.get(section) or {}).get(name)) not in (None, ""):
                form[f"{section}.{name}"] = value.isoformat() if hasattr(value, "isoformat") else str(value)
    form.setlist("job.tasks", list((older.get("job") or {}).get("tasks") or []))
    patient = older["patient"]
    return "Replaces the suggestion for " + which_suggestion(patient["given_name"], patient["family_name"],
                                                              older["assessment"]["date"])


def _difficulty_addressed(guidance, adjustment_id: str, searched: list[str]) -> str | None:
    """The name of the first difficulty the clinician searched guidance for that this adjustment
    addresses (a rule of the library links them): a start for "Difficulty it addresses"."""
    for limitation_id in searched:
        if any(rule["adjustment_id"] == adjustment_id for rule in guidance.rules_by_limitation.get(limitation_id, ())):
            return guidance.limitations[limitation_id]["name"]
    return None


def suggestion_form(form: MultiDict, picked: list[dict], guidance, problems: list[dict] | None = None,
                    status: int = 200, action: str = "/write", heading: str = "Write the suggestion",
                    back: str | None = None, which: str | None = None) -> Response:
    own_words = sum(1 for i in range(20) if form.get(f"recommendations.{i}.free_text")
                    and not form.get(f"recommendations.{i}.adjustment_id"))
    problems = on_page_rows(problems or [], recommendation_rows(form))
    errors = to_answering_fields(worded(by_field(problems), SUGGESTION), form, len(picked))
    # A date with only some boxes wrong ("... must include a month"): those boxes, by the date's id.
    boxes_to_fix = {date_box(p["pointer"].strip("/").replace("/", ".")): p["boxes"]
                    for p in problems if p.get("boxes")}
    return render("adjustments/write.html", status=status, form=with_date_boxes(form), picked=picked,
                  guidance=guidance, errors=in_page_order(errors, boxes_to_fix), boxes_to_fix=boxes_to_fix,
                  extra_rows=max(EXTRA_ROWS, own_words + 1), condition_rows=condition_rows(form), action=action,
                  back=back, heading=heading, which=which,
                  category_options=CATEGORY_OPTIONS, task_options=_options(guidance.work_functions))


# The page offers three conditions; the API takes five, and a suggestion written with more is changed on the page
# with a row for each (with three rows, amending it dropped the fourth and fifth without a word).
CONDITION_ROWS, MAX_CONDITIONS = 3, 5


def condition_rows(form) -> int:
    typed = [i for i in range(MAX_CONDITIONS) if form.get(f"conditions.{i}.text", "").strip()]
    return max(CONDITION_ROWS, typed[-1] + 1 if typed else 0)


# A message about a group that has no box of its own goes to the box that answers it: the summary's link must
# land on something to type in, and the box names its message (aria-describedby). No condition at all: the first.
ANSWERED_BY = {"conditions": "conditions-0-text",
               "supersedes_id": "patient-nhs_number"}  # a replacement "is for another patient": the number typed


def to_answering_fields(errors: dict[str, list[str]], form, picks: int) -> dict[str, list[str]]:
    """`picks`: how many library recommendations the page shows (rows 0 to picks - 1, each with its remove box)."""
    first = next(iter(recommendation_rows(form)), 0)
    answered_by = ANSWERED_BY | {
        # "not fit for work cannot carry recommendations", "at most 20": the first one to take back
        "recommendations": f"recommendations-{first}-remove" if first < picks else f"recommendations-{first}-free_text",
        # "an end date or a duration, not both", "at most 3 months": the length given is what to change
        "period": "period-end" if _typed_end(form) or not form.get("period.duration_days", "").strip()
                  else "period-duration_days",
        # a library pick the library no longer has, or whose wording names a private condition
        **{f"recommendations-{i}": f"recommendations-{i}-remove" for i in range(picks)}}
    moved: dict[str, list[str]] = {}
    for field, messages in errors.items():
        moved.setdefault(answered_by.get(field, field), []).extend(messages)
    return moved


def _typed_end(form) -> bool:
    return bool(form.get("period.end", "").strip()
                or any(form.get(f"{date_box('period.end')}-{part}", "").strip() for part in ("day", "month", "year")))


def recommendation_rows(form) -> list[int]:
    """The write page's recommendation rows the suggestion is made of, in order (form_to_data's): a library pick not
    removed, and a row of the clinician's own words with a recommendation typed. A problem's /recommendations/<n> is
    about the nth of them, which is not the page's row n once a row before it was left empty or removed."""
    rows = []
    for i in range(20):
        adjustment = form.get(f"recommendations.{i}.adjustment_id", "").strip()
        if adjustment and form.get(f"recommendations.{i}.remove") == "yes":
            continue
        if adjustment or form.get(f"recommendations.{i}.free_text", "").strip():
            rows.append(i)
    return rows


def on_page_rows(problems: list[dict], rows: list[int]) -> list[dict]:
    """The problems with each /recommendations/<n> pointer turned to the page's row that sent it."""
    def on_page(problem: dict) -> dict:
        found = re.match(r"/recommendations/(\d+)(?=/|$)", problem["pointer"])
        if not found or int(found.group(1)) >= len(rows):
            return problem
        return problem | {"pointer": f"/recommendations/{rows[int(found.group(1))]}{problem['pointer'][found.end():]}"}
    return [on_page(problem) for problem in problems]


# The write page's dates, each typed into NHS.UK's three boxes (day, month, year) named after the field's
# id ("patient-birth_date-day"): field -> how a message names the date.
DATE_FIELDS = {"patient.birth_date": "Date of birth", "assessment.date": "Date of assessment",
               "assessment.condition_started_on": "The date the condition started", "period.start": "The start date",
               "period.end": "The end date", "review_date": "The review date"}


def date_box(field: str) -> str:
    """A date field's boxes' name (and id) before "-day", "-month", "-year"."""
    return field.replace(".", "-")


def with_date_boxes(form) -> MultiDict:
    """The form with each date that came as one ISO value (the page's defaults, a stored suggestion, a
    program posting the API's format) put into its three boxes, unless a box was typed."""
    filled = MultiDict(form)
    for field in DATE_FIELDS:
        boxes = {f"{date_box(field)}-{part}": value for part, value in date_parts(form.get(field)).items()}
        if boxes and not any(form.get(box) for box in boxes):
            for box, value in boxes.items():
                filled[box] = value  # in place of an empty box sent with it
    return filled


def typed_dates(form) -> tuple[dict[str, str], list[dict]]:
    """The write page's dates as the API takes them (ISO), and a problem for each typed date that is not
    one ("Date of birth must include a month"). One value under the field's own name is taken as it is."""
    dates, problems = {}, []
    for field, named in DATE_FIELDS.items():
        if form.get(field, "").strip():
            dates[field] = form[field].strip()
            continue
        typed = typed_date(form, date_box(field), named)
        if typed.value:
            dates[field] = typed.value.isoformat()
        elif typed.problem:
            problems.append({"pointer": "/" + field.replace(".", "/"), "detail": typed.problem,
                             "boxes": typed.parts})
    return dates, problems


def checked_form(schema, form) -> tuple[dict[str, Any] | None, list[dict]]:
    """The write form as the API's data, or every problem found with it in one round: a date's own (which
    part is missing) in place of the schema's "missing" for it, then the rules on whatever parsed."""
    dates, date_problems = typed_dates(form)
    named = {p["pointer"] for p in date_problems}
    try:
        data = schema.load(form_to_data(form, dates))
    except ValidationError as exc:
        return None, date_problems + [p for p in shape_and_rule_errors(exc) if p["pointer"] not in named]
    if date_problems:
        return None, date_problems + [p for p in check_what_parsed(data, today()) if p["pointer"] not in named]
    return data, []


# The write page's fields top to bottom (write.html), by id, a row's as "-N-": the error summary lists
# its messages in this order (NHS.UK), not in the order the schema and the rules found them. "" (about no
# one field) first; anything not listed last.
WRITE_PAGE_ORDER = (
    "", "patient-nhs_number", "patient-given_name", "patient-family_name", "patient-birth_date-day", "patient-email",
    "patient-phone", "patient-postcode", "assessment-date-day", "assessment-method",
    "assessment-condition_started_on-day", "conditions", "conditions-N", "conditions-N-text",
    "conditions-N-disclose", "decision", "categories", "functional_effects", "recommendations", "recommendations-N",
    "recommendations-N-remove", "recommendations-N-difficulty", "recommendations-N-free_text",
    "recommendations-N-schedule", "period", "period-start-day", "period-end-day", "period-duration_days", "reassessment_needed", "review_date-day",
    "job-title", "job-employer_name", "job-tasks", "job-notes", "signposting-occupational_health",
    "signposting-access_to_work",
    "consent-share_with_employer", "consent-refer_to_employment_adviser", "consent-referral_updates_by_email",
    "consent-outcomes_to_gp", "issuer-name", "issuer-profession")
_DATE_IDS = {date_box(field) for field in DATE_FIELDS}


def in_page_order(errors: dict[str, list[str]], boxes_to_fix: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
    """The write page's errors (field id -> messages) in the order of its fields. A date's message goes to
    the first of its boxes to correct, the day's for the whole date (the shared date input shows it there
    and the summary links to it)."""
    moved: dict[str, list[str]] = {}
    for field, messages in errors.items():
        box = f"{field}-{(boxes_to_fix.get(field) or ('day',))[0]}" if field in _DATE_IDS else field
        moved.setdefault(box, []).extend(messages)
    return dict(sorted(moved.items(), key=lambda item: _page_position(item[0])))


def _page_position(field: str) -> tuple:
    """Where a field is on the write page: its section's place, its row (conditions, recommendations), then
    its place in the row."""
    field = re.sub(r"-(month|year)$", "-day", field)  # a date's boxes are one question
    pattern = re.sub(r"-\d+(?=-|$)", "-N", field)
    rows = [int(n) for n in re.findall(r"-(\d+)(?=-|$)", field)]
    last = len(WRITE_PAGE_ORDER)

    def place(name: str) -> int:
        return WRITE_PAGE_ORDER.index(name) if name in WRITE_PAGE_ORDER else last
    return place(pattern.split("-N", 1)[0]), rows, place(pattern)


def by_field(problems: list[dict], moved: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Problem-style errors ({pointer, detail}) as the form macros' errors: field id -> messages.

    A field's id is its pointer's path with dashes ("/patient/nhs_number" -> "patient-nhs_number");
    a pointer to a hidden input points at its row; `moved` sends an id to the field that fixes it;
    an error about no one field ("" or "/_schema") is listed in the summary, unlinked.
    """
    errors: dict[str, list[str]] = {}
    for problem in problems:
        pointer = re.sub(r"/schedule/\d+(/\w+)?$", "/schedule", problem["pointer"])  # one box for the weeks
        pointer = re.sub(r"^(/categories|/job/tasks)/\d+$", r"\1", pointer)  # a box of a group: the group's id
        field = re.sub(r"/(_schema|adjustment_id|condition_id)$", "", pointer).strip("/").replace("/", "-")
        errors.setdefault((moved or {}).get(field, field), []).append(problem["detail"])
    return errors


@pages.post("/write")
@requires("gp")
def write_submit():
    form, who = request.form, clinician()
    draft_id = _as_uuid(form.get("draft_id", ""))
    with transaction() as session:
        guidance = index(session)
        picked = _form_picks(session, guidance, form)
        data, problems = checked_form(SUGGESTION_FORM, form)
        if problems:
            return suggestion_form(form, picked, guidance, problems, 422)
        saved = session.get(Suggestion, draft_id) if draft_id else None
        if saved is not None and (saved.practice_id != who.practice_id or saved.erased_at is not None
                                  or saved.nhs_number != data["patient"]["nhs_number"]):
            # Not this form's draft, or the form reused for another patient (whose draft it must not overwrite): a
            # new suggestion, with an id of its own.
            saved = draft_id = None
        if saved is not None and saved.status != "draft":
            return redirect(url_for("adjustment_pages.review", suggestion_id=saved.id, error="issued_since"), 303)
        try:
            if saved is None:
                saved_id = services.create(session, deps(), who, data, today(), suggestion_id=draft_id)["id"]
            else:  # the same form again (the browser's Back from the draft): the draft it made, changed
                saved_id = services.update_draft(session, deps(), who, saved.id, data | {"version": saved.version},
                                                 today())["id"]
        except RuleViolation as exc:
            session.rollback()
            return suggestion_form(form, picked, guidance, exc.errors, 422)
    return redirect(url_for("adjustment_pages.review", suggestion_id=saved_id, done="saved"), 303)


def _as_uuid(typed: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(typed)
    except ValueError:
        return None


def shape_and_rule_errors(exc: ValidationError) -> list[dict]:
    """The form's shape errors and, in the same round, the rules broken by the parts that parsed."""
    problems = field_errors(exc.messages)
    named = {p["pointer"] for p in problems}
    valid = exc.valid_data if isinstance(exc.valid_data, dict) else {}
    return problems + [e for e in check_what_parsed(valid, today()) if e["pointer"] not in named]


def _library_picks(guidance, ids: list[str]) -> list[dict]:
    """The live library adjustments named; a renamed one's old id (a saved link) reads as the new one."""
    current = (knowledge.current_adjustment_id(a) for a in ids)
    return [guidance.adjustments[a] for a in current if a in guidance.adjustments]


def _form_picks(session, guidance, form) -> list[dict]:
    """The form's library recommendations, one for each of its rows and in its place (the page shows pick i with the
    form's row i). One the alliance retired since it was picked stands as itself, marked retired, with its remove box
    and, once saved, the rule's message: dropped, the rows below it moved up a place and each library row was saved with
    the difficulty, detail and plan typed for the one before it."""
    picks = []
    for typed in _picked_ids(form):
        current = knowledge.current_adjustment_id(typed)
        if current in guidance.adjustments:
            picks.append(guidance.adjustments[current])
            continue
        retired = session.get(Adjustment, typed)
        picks.append({"id": typed, "title": retired.title if retired else typed,
                      "employer_text": retired.employer_text if retired else "", "review_status": "retired"})
    return picks


def _picked_ids(form) -> list[str]:
    ids = []
    for i in range(20):
        if value := form.get(f"recommendations.{i}.adjustment_id"):
            ids.append(value)
    return ids


def form_to_data(form, dates: dict[str, str] | None = None) -> dict[str, Any]:
    """The flat form (names are dotted paths) as the API's JSON shape; empty answers are left out. Its
    dates are `dates` (typed_dates: read from their boxes); without them, one ISO value each."""
    def value(name):
        if dates is not None and name in DATE_FIELDS:
            return dates.get(name)
        v = form.get(name, "").strip()
        return v or None

    def section(prefix, names):
        return {n: value(f"{prefix}.{n}") for n in names if value(f"{prefix}.{n}") is not None}

    conditions = []
    for i in range(MAX_CONDITIONS):
        if value(f"conditions.{i}.text"):
            conditions.append({"text": value(f"conditions.{i}.text"),
                               "condition_id": value(f"conditions.{i}.condition_id"),
                               "disclose": form.get(f"conditions.{i}.disclose") == "yes"})
    recommendations = []
    for i in recommendation_rows(form):
        adjustment, free = value(f"recommendations.{i}.adjustment_id"), value(f"recommendations.{i}.free_text")
        recommendations.append({"difficulty": value(f"recommendations.{i}.difficulty") or "",
                                "adjustment_id": adjustment, "free_text": free,
                                "schedule": schedule_from_lines(form.get(f"recommendations.{i}.schedule", ""))})
    period = section("period", ["start", "end", "duration_days"])
    data = {
        "issuer": section("issuer", ["name", "profession"]),
        "patient": section("patient", ["nhs_number", "given_name", "family_name", "birth_date", "email", "phone",
                                       "postcode"]),
        "assessment": section("assessment", ["date", "method", "condition_started_on"]),
        "conditions": conditions,
        "decision": value("decision"),
        "categories": [c for c in form.getlist("categories") if c],
        "functional_effects": value("functional_effects") or "",
        "recommendations": recommendations,
        "period": period,
        "reassessment_needed": form.get("reassessment_needed") == "yes",
        "review_date": value("review_date"),
        "job": {**section("job", JOB_FIELDS), "tasks": [t for t in form.getlist("job.tasks") if t]},
        "signposting": {"occupational_health": form.get("signposting.occupational_health") == "yes",
                        "access_to_work": form.get("signposting.access_to_work") == "yes"},
        "consent": {"share_with_employer": form.get("consent.share_with_employer") == "yes",
                    "refer_to_employment_adviser": form.get("consent.refer_to_employment_adviser") == "yes",
                    "referral_updates_by_email": form.get("consent.referral_updates_by_email") == "yes",
                    "outcomes_to_gp": form.get("consent.outcomes_to_gp") == "yes"},
    }
    for name in ("version", "supersedes_id"):  # a change or an amendment of a stored suggestion
        if value(name):
            data[name] = value(name)
    return {k: v for k, v in data.items() if v is not None}


# A week-by-week plan is typed one line a week; a line may name its week ("Week 5: full hours"), so a plan that skips
# weeks (the API takes any week from 1 to 26) reads back as it was stored. Each line is sent whole, however many: a
# line too long or a 27th week is the schema's error on the box, where they were cut off without a word.
WEEK_LINE = re.compile(r"^week\s*(\d{1,3})\s*:\s*(.*)$", re.IGNORECASE)  # not "Week 1-2: ..."


def schedule_from_lines(typed: str) -> list[dict[str, Any]]:
    """The plan's lines as weeks: a line naming its week is that week, any other the week after the one before."""
    weeks, week = [], 0
    for line in (line.strip() for line in typed.splitlines()):
        if not line:
            continue
        named = WEEK_LINE.match(line)
        week, plan = (int(named.group(1)), named.group(2).strip()) if named else (week + 1, line)
        weeks.append({"week": week, "plan": plan})
    return weeks


def schedule_as_lines(schedule: list[dict[str, Any]]) -> str:
    """A stored plan as the box shows it: a line a week, each naming its week unless they run 1, 2, 3..."""
    in_order = [week["week"] for week in schedule] == list(range(1, len(schedule) + 1))
    return "\n".join(week["plan"] if in_order else f"Week {week['week']}: {week['plan']}" for week in schedule)


def suggestion_as_form(s: dict[str, Any]) -> MultiDict:
    """A stored suggestion as the write page's fields (form_to_data read backwards). Library
    recommendations come first, as the page lists them, then those in the clinician's own words."""
    form = MultiDict({"version": str(s["version"]), "decision": s["decision"]})

    def put(name: str, value) -> None:
        if value not in (None, ""):
            form[name] = value.isoformat() if hasattr(value, "isoformat") else str(value)

    for section, names in (("patient", PATIENT_FIELDS), ("assessment", ("date", "method", "condition_started_on")),
                           ("period", ("start", "end", "duration_days")), ("job", JOB_FIELDS),
                           ("issuer", ("name", "profession"))):
        for name in names:
            put(f"{section}.{name}", (s.get(section) or {}).get(name))
    for i, condition in enumerate(s["conditions"]):
        put(f"conditions.{i}.text", condition["text"])
        put(f"conditions.{i}.condition_id", condition.get("condition_id"))
        put(f"conditions.{i}.disclose", "yes" if condition.get("disclose") else None)
    rows = sorted(s["recommendations"], key=lambda r: not r.get("adjustment_id"))
    for i, row in enumerate(rows):
        put(f"recommendations.{i}.adjustment_id", row.get("adjustment_id"))
        put(f"recommendations.{i}.difficulty", row.get("difficulty"))
        put(f"recommendations.{i}.free_text", row.get("free_text"))
        put(f"recommendations.{i}.schedule", schedule_as_lines(row.get("schedule") or []))
    form.setlist("categories", list(s["categories"]))
    form.setlist("job.tasks", list((s.get("job") or {}).get("tasks") or []))
    put("functional_effects", s.get("functional_effects"))
    put("review_date", s.get("review_date"))
    put("supersedes_id", s.get("supersedes_id"))
    answers = {"reassessment_needed": s.get("reassessment_needed"),
               **{f"signposting.{k}": v for k, v in (s.get("signposting") or {}).items()},
               **{f"consent.{k}": v for k, v in (s.get("consent") or {}).items()}}
    for name, yes in answers.items():
        put(name, "yes" if yes else None)
    return form


PATIENT_FIELDS = ("nhs_number", "given_name", "family_name", "birth_date", "email", "phone", "postcode")
# The job's typed answers; its notes are the clinician's (never printed), kept when the page changes a suggestion.
JOB_FIELDS = ("title", "employer_name", "notes")
# What the change page is called for each status that can still be changed (else the review page says why).
CHANGE_HEADINGS = {"draft": "Change the draft", "issued": "Amend the suggestion", "amended": "Amend the suggestion"}


@pages.get("/review/<uuid:suggestion_id>/change")
@person_record(RESOURCE, "suggestion_id")
@requires("gp")
def change(suggestion_id: uuid.UUID):
    with transaction() as session:
        suggestion = services.read(session, deps(), clinician(), suggestion_id)
        guidance = index(session)
        form, patient = suggestion_as_form(suggestion), suggestion["patient"]
        picked = _form_picks(session, guidance, form)
    if suggestion["status"] not in CHANGE_HEADINGS or suggestion["erased_at"]:
        return redirect(url_for("adjustment_pages.review", suggestion_id=suggestion_id, error="status"), 303)
    return suggestion_form(form, picked, guidance,
                           action=url_for("adjustment_pages.change_submit", suggestion_id=suggestion_id),
                           heading=CHANGE_HEADINGS[suggestion["status"]],
                           back=url_for("adjustment_pages.review", suggestion_id=suggestion_id),
                           which=which_suggestion(patient["given_name"], patient["family_name"],
                                                  suggestion["assessment"]["date"]))


def which_suggestion(given_name: str | None, family_name: str | None, assessed_on) -> str:
    """A suggestion as the clinician tells it from the patient's others: whose, and from which assessment."""
    if given_name is None:  # erased: the date is kept
        return f"Suggestion from the assessment on {letters.long_date(assessed_on)}"
    return f"{given_name} {family_name}, assessed on {letters.long_date(assessed_on)}"


@pages.post("/review/<uuid:suggestion_id>/change")
@person_record(RESOURCE, "suggestion_id")
@requires("gp")
def change_submit(suggestion_id: uuid.UUID):
    """A draft is saved in place (PUT's rules); an issued suggestion is amended (a new letter and link)."""
    form, who = request.form, clinician()
    try:
        with transaction() as session:
            guidance = index(session)
            picked = _form_picks(session, guidance, form)
            stored = services.load(session, who, suggestion_id)
            status = stored.status
            again = dict(action=url_for("adjustment_pages.change_submit", suggestion_id=suggestion_id),
                         heading=CHANGE_HEADINGS.get(status, "Amend the suggestion"),
                         back=url_for("adjustment_pages.review", suggestion_id=suggestion_id),
                         which=which_suggestion(stored.given_name, stored.family_name, stored.assessment_date))
            data, problems = checked_form(SUGGESTION_CHANGE_FORM, form)
            if problems:
                return suggestion_form(form, picked, guidance, problems, 422, **again)
            try:
                change_it = services.update_draft if status == "draft" else services.amend
                change_it(session, deps(), who, suggestion_id, data, today())
            except RuleViolation as exc:
                session.rollback()
                return suggestion_form(form, picked, guidance, exc.errors, 422, **again)
    except DomainError as exc:
        if exc.status == 404:
            raise
        if "current_version" in exc.extensions:
            return changed_since_opened(suggestion_id, form, picked, guidance, exc.extensions["current_version"])
        return redirect(url_for("adjustment_pages.review", suggestion_id=suggestion_id, error=refusal_code(exc)), 303)
    done = "saved" if status == "draft" else "amended"
    return redirect(url_for("adjustment_pages.review", suggestion_id=suggestion_id, done=done), 303)


CHANGED_SINCE_OPENED = ("This suggestion was changed after you opened this page (in another tab, or by a colleague), "
                        "so what you typed has not been saved. It is kept below: check the suggestion as it is now, "
                        "then save again if your changes should replace that change.")


def changed_since_opened(suggestion_id: uuid.UUID, form, picked: list[dict], guidance, current: int) -> Response:
    """A change saved over by another first (a stale version): the form again with what was typed, and the version it
    would now replace, where a redirect to the review page threw the typing away. The record is read again, audited:
    its patient's name heads the form."""
    with transaction() as session:
        now = services.read(session, deps(), clinician(), suggestion_id)
    typed = MultiDict(form)
    typed["version"] = str(current)
    patient = now["patient"]
    return suggestion_form(typed, picked, guidance, [{"pointer": "", "detail": CHANGED_SINCE_OPENED}], 409,
                           action=url_for("adjustment_pages.change_submit", suggestion_id=suggestion_id),
                           heading=CHANGE_HEADINGS.get(now["status"], "Amend the suggestion"),
                           back=url_for("adjustment_pages.review", suggestion_id=suggestion_id),
                           which=which_suggestion(patient["given_name"], patient["family_name"],
                                                  now["assessment"]["date"]))


@pages.get("/review/<uuid:suggestion_id>")
@person_record(RESOURCE, "suggestion_id")
@requires("gp")
def review(suggestion_id: uuid.UUID):
    # Only a code comes back in the address, never words: a crafted link cannot put its own
    # text on a clinical page.
    return review_page(suggestion_id, REFUSALS.get(request.args.get("error", "")), done=request.args.get("done", ""))


# What an action on the review page did (the redirect carries the code): (heading, what follows).
DONE = {
    "issued": ("Suggestion issued", "Print the employer letter and the patient summary for the patient below."),
    "amended": ("Suggestion amended", "Print the new employer letter for the patient: the reply link in the "
                                      "earlier letter no longer works."),
    "saved": ("Draft saved", "Check it below, then issue it."),
    "withdrawn": ("Suggestion withdrawn", "The employer letter and the patient summary no longer apply, and the "
                                          "employer's reply link no longer works."),
    "referred": ("Referral requested", "It goes to an employment adviser service, who will contact the patient."),
    "consent_withdrawn": ("Withdrawal of consent recorded", "The referral is cancelled and nothing more about the "
                                                            "patient is shared with the adviser service."),
}
# The statuses a banner still holds for: a page gone back to (the browser's Back after issuing) said "Draft saved.
# Check it below, then issue it." above an issued suggestion. Not listed: any status.
DONE_HOLDS = {"saved": ("draft",), "issued": ("issued",), "amended": ("amended",), "withdrawn": ("withdrawn",)}
ISSUED_AND_REFERRED = (DONE["issued"][0], DONE["issued"][1] + " The referral to an employment adviser was sent too: "
                                                              "the adviser service will contact the patient.")
# The code each review-page action redirects with.
ACTION_DONE = {"issue": "issued", "withdraw": "withdrawn", "refer": "referred",
               "withdraw-referral-consent": "consent_withdrawn"}


# Why an action on the review page was refused (the redirect carries the code).
REFUSALS = {
    "changed": "The suggestion changed since you opened this page. Check it, then try again.",
    "status": "The suggestion's status no longer allows that. Check its status below.",
    "consent": "The patient's consent to a referral is not recorded on this suggestion. Amend the suggestion to "
               "record it first.",
    "referred": "A referral has already been requested from this suggestion.",
    "issued_since": "This suggestion was saved from the same form before and has been issued since, so what you sent "
                    "again was not saved. To change it, amend the suggestion.",
    "refused": "That could not be done. Reload the page and try again.",
}


def refusal_code(error: DomainError) -> str:
    if "current_version" in error.extensions:
        return "changed"
    if "current_status" in error.extensions:
        return "status"
    if "missing_consent" in error.extensions:
        return "consent"
    if "already been requested" in error.detail:
        return "referred"
    return "refused"


def review_page(suggestion_id: uuid.UUID, error: str | None = None, status: int = 200, done: str = "") -> Response:
    with transaction() as session:
        suggestion = services.read(session, deps(), clinician(), suggestion_id)
        url = _response_url(session, suggestion_id)
        guidance = index(session)
    letter = None if suggestion["erased_at"] else letters.employer_letter(suggestion, url)  # no patient: no letter
    ended = ended_words(suggestion) if suggestion["status"] in services.NO_LONGER_VALID else None
    if letter and ended:  # kept in view, as the record of what was advised, marked as no longer standing
        letter.void = ("Withdrawn" if suggestion["status"] == "withdrawn" else "Replaced") + " – no longer valid"
    return render("adjustments/review.html", status=status, s=suggestion, letter=letter, error=error, ended=ended,
                  done=None if error else done_banner(done, suggestion),
                  unreviewed=unreviewed_guidance(suggestion, guidance), referrals_site=referrals_site())


def done_banner(done: str, suggestion: dict) -> tuple[str, str] | None:
    """What the action just done did, if it still holds for the suggestion as it is. Issuing a suggestion whose
    patient agreed to a referral sends the referral too (services.issue): said, as nothing else on the page did."""
    if suggestion["status"] not in DONE_HOLDS.get(done, (suggestion["status"],)):
        return None
    return ISSUED_AND_REFERRED if done == "issued" and suggestion["referrals"] else DONE.get(done)


def referrals_site() -> str:
    """The referrals site, where the clinician, as the referrer, sees a referral's progress and outcomes."""
    return referrals_url(os.environ, service_context().settings.env)


def unreviewed_guidance(suggestion: dict, guidance) -> list[str]:
    """Titles of the recommendations whose library adjustment is not (or no longer) clinically reviewed."""
    return [r.get("title") or r["adjustment_id"] for r in suggestion["recommendations"] if r.get("adjustment_id")
            and guidance.adjustments.get(r["adjustment_id"], {}).get("review_status") != "clinically_reviewed"]


PAGE_WITHDRAWAL_REASONS = [("", "Select a reason"), ("issued_in_error", "Issued in error"),
                           ("patient_request", "The patient asked"), ("condition_changed", "The condition changed"),
                           ("other", "Another reason")]
CONFIRMATIONS = {
    "withdraw": {
        "heading": "Withdraw this suggestion?", "button": "Withdraw the suggestion", "keep": "Keep the suggestion",
        "warning": ["The employer letter and the patient summary will no longer apply, and the employer's reply link "
                    "stops working. To give advice again you would write a new suggestion."]},
    "withdraw-referral-consent": {
        "heading": "Record that the patient withdrew consent to the referral?", "button": "Record the withdrawal",
        "keep": "Go back without recording it",
        "warning": ["The referral is cancelled, the employment adviser is told to stop, and nothing more about the "
                    "patient is shared with them. The patient would need to consent again for a new referral."]},
}


@pages.get("/review/<uuid:suggestion_id>/<any(withdraw, 'withdraw-referral-consent'):action>")
@person_record(RESOURCE, "suggestion_id")
@requires("gp")
def confirm(suggestion_id: uuid.UUID, action: str):
    """An action that cannot be undone asks first (WCAG 3.3.4), on a page of its own."""
    return confirm_page(suggestion_id, action)


def confirm_page(suggestion_id: uuid.UUID, action: str, values=None, errors=None, status: int = 200) -> Response:
    with transaction() as session:
        suggestion = services.read(session, deps(), clinician(), suggestion_id)
    if action == "withdraw" and suggestion["status"] not in ACTIVE:
        # Withdrawn already (a second tab, an old bookmark), replaced or a draft: nothing to ask; it asked to
        # withdraw it again, and only the refusal after the button said it could not be
        return redirect(url_for("adjustment_pages.review", suggestion_id=suggestion_id, error="status"), 303)
    patient = suggestion["patient"]
    which = which_suggestion(patient["given_name"], patient["family_name"], suggestion["assessment"]["date"])
    return render("adjustments/confirm.html", status=status, s=suggestion, which=which, action=action,
                  values=values or {}, errors=errors or {},
                  reasons=PAGE_WITHDRAWAL_REASONS if action == "withdraw" else None, **CONFIRMATIONS[action])


@pages.post("/review/<uuid:suggestion_id>/<any(issue, withdraw, refer, 'withdraw-referral-consent'):action>")
@person_record(RESOURCE, "suggestion_id")
@requires("gp")
def review_action(suggestion_id: uuid.UUID, action: str):
    version = posted_version(request.form)
    reason = request.form.get("reason", "")
    if action == "withdraw" and reason not in dict(PAGE_WITHDRAWAL_REASONS[1:]):
        return confirm_page(suggestion_id, action, request.form,
                            {"reason": ["Select why you are withdrawing the suggestion"]}, 422)
    try:
        with transaction() as session:
            who = clinician()
            if action == "issue":
                services.issue(session, deps(), who, suggestion_id, version, today())
            elif action == "withdraw":
                services.withdraw(session, deps(), who, suggestion_id, version, reason)
            elif action == "withdraw-referral-consent":
                services.withdraw_referral_consent(session, deps(), who, suggestion_id, version)
            else:
                services.request_referral(session, deps(), who, suggestion_id, version)
    except RuleViolation as exc:
        # Shown on the page, not put in the address: a rule's message can name the patient's condition.
        return review_page(suggestion_id, "; ".join(e["detail"] for e in exc.errors), 422)
    except DomainError as exc:
        if exc.status == 404:
            raise
        return redirect(url_for("adjustment_pages.review", suggestion_id=suggestion_id, error=refusal_code(exc)), 303)
    return redirect(url_for("adjustment_pages.review", suggestion_id=suggestion_id, done=ACTION_DONE[action]), 303)


def posted_version(form) -> int:
    """The version the page was read at, or -1 (refused as a suggestion that changed) for one no suggestion has: the
    API's range, since issuing compares it in SQL and one too big for the column was a database error (a 500)."""
    try:
        version = int(form.get("version", ""))
    except ValueError:
        return -1
    return version if VERSIONS.min <= version <= VERSIONS.max else -1


def _response_url(session, suggestion_id: uuid.UUID) -> str | None:
    token = services.link_for(session, deps(), session.get(Suggestion, suggestion_id))
    return f"{request.host_url.rstrip('/')}/respond/{token}" if token else None


@pages.get("/suggestions/<uuid:suggestion_id>/<any(letter, summary):kind>")
@person_record(RESOURCE, "suggestion_id")
@requires("gp")
def print_view(suggestion_id: uuid.UUID, kind: str):
    letter = _letter(suggestion_id, kind)
    return render("adjustments/print.html", letter=letter)


@pages.get("/suggestions/<uuid:suggestion_id>/<any(letter, summary):kind>.pdf")
@person_record(RESOURCE, "suggestion_id")
@requires("gp")
def print_pdf(suggestion_id: uuid.UUID, kind: str):
    pdf = _letter(suggestion_id, kind, draw=_pdf)
    name = "employer-letter" if kind == "letter" else "patient-summary"
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}-{suggestion_id}.pdf"',
                             "Cache-Control": "no-store"})


def _pdf(letter: letters.Letter) -> bytes:
    """The letter as a PDF; one that cannot be made is refused (422), saying why for the audit entry."""
    try:
        return letters.render_pdf(letter)
    except letters.UnprintableText:
        # Blanks in place of a name would go unnoticed on paper; the browser's fonts cover every script.
        raise services.CannotPrint("unprintable_characters", Problem(
            422, "The PDF cannot show some of the characters in this document. Open the print view instead, and "
                 "print it or save it as a PDF from your browser.",
            title="This PDF cannot be made", type=PROBLEM_TYPE_BASE + "unprintable-characters")) from None
    except letters.UnlayableText:
        # Right-to-left words beside a run of about a thousand symbols (emoji): not a letter to print as a PDF.
        raise services.CannotPrint("unprintable_text", Problem(
            422, "The PDF cannot lay out a very long run of symbols next to right-to-left text in this document. "
                 "Open the print view instead, and print it or save it as a PDF from your browser.",
            title="This PDF cannot be made", type=PROBLEM_TYPE_BASE + "unprintable-text")) from None


def _letter(suggestion_id: uuid.UUID, kind: str, draw: Callable[[letters.Letter], Any] | None = None) -> Any:
    """The letter or summary asked for, or what `draw` makes of it (the PDF), audited as what the clinician got
    before it is given: made first (read only, so a PDF drawn holds no writer's turn), then recorded - an export, or
    the refused read it was when it could not be made - and refused only once that entry is committed."""
    with service_context().database.sessions() as session:
        def make(suggestion: dict) -> Any:
            letter = (letters.employer_letter(suggestion, _response_url(session, suggestion_id)) if kind == "letter"
                      else letters.patient_summary(suggestion))
            return draw(letter) if draw else letter
        printing = services.read_to_print(session, clinician(), suggestion_id, make)
    with transaction() as session:
        services.audit_print(session, deps(), clinician(), suggestion_id, kind, printing)
    suggestion = printing.shown
    if suggestion["erased_at"]:
        raise Problem(410, "The patient's details were erased from this suggestion (past the retention period or at "
                           "their request): there is no letter to print. The GP record keeps the advice.")
    if suggestion["status"] in services.NO_LONGER_VALID:
        raise NoLongerValid(suggestion, kind)
    if printing.cannot:
        raise printing.cannot.problem
    return printing.made


class NoLongerValid(Exception):
    """A withdrawn or replaced suggestion's letter or summary, asked for: not printed as if it still stood."""

    def __init__(self, suggestion: dict, kind: str):
        super().__init__(suggestion["status"])
        self.suggestion, self.kind = suggestion, kind


@pages.errorhandler(NoLongerValid)
def no_longer_valid(error: NoLongerValid) -> Response:
    """410, saying when and why it ended and, if it was replaced, which suggestion to print instead: a page for the
    clinician, a problem for a program (a PDF fetched), with the ended status, date and replacement as fields."""
    s, document = error.suggestion, "employer letter" if error.kind == "letter" else "patient summary"
    ended = ended_words(s)
    replaced_by = s["replaced_by"]
    if not is_page_request():
        detail = f"This suggestion was {ended}: its {document} is no longer valid." + (
            f" Print the {document} of the suggestion that replaced it ({replaced_by['id']})." if replaced_by else "")
        return problem_response(410, detail, title="This document is no longer valid",
                                type=PROBLEM_TYPE_BASE + "no-longer-valid", reason=s["status"],
                                ended_at=s["ended_at"] and s["ended_at"].isoformat(),
                                superseded_by_id=replaced_by and str(replaced_by["id"]))
    return render("adjustments/no_longer_valid.html", status=410, s=s, document=document, ended=ended)


WITHDRAWAL_WORDS = dict(PAGE_WITHDRAWAL_REASONS[1:]) | {"replaced": "Replaced by a newer suggestion"}


def ended_words(s: dict) -> str:
    """How and when the suggestion ended, as the clinician reads it: "withdrawn by the GP practice on
    3 November 2026 (issued in error)"."""
    on = f" on {letters.long_date(uk_today(s['ended_at']))}" if s["ended_at"] else ""
    if s["status"] == "superseded":
        return f"replaced by a newer suggestion{on}"
    reason = WITHDRAWAL_WORDS.get(s["withdrawn_reason"] or "")
    return f"withdrawn by the GP practice{on}" + (f" ({reason[0].lower() + reason[1:]})" if reason else "")


# --- the employer's reply (no account: the single-use link is the credential) -------------


@pages.get("/respond/<token>")
def respond(token: str):
    with transaction() as session:
        link, suggestion = services.open_link(session, deps(), token)
        _audit_employer_read(session, link, suggestion)
        rows = suggestion.recommendations
        name = suggestion.given_name
    return render("adjustments/respond.html", rows=rows, name=name, token=token, form=MultiDict(), errors={},
                  nav=EMPLOYER_NAV)


def _audit_employer_read(session, link, suggestion, purpose: str = "employer_response_form") -> None:
    from worklink.auth import Principal
    deps().audit_record(session, "read", suggestion, Principal(subject=f"employer-link:{link.id}", role="employer"),
                        purpose=purpose)


@pages.post("/respond/<token>")
@accepts_form
def respond_submit(token: str):
    form = request.form
    with transaction() as session:
        link, suggestion = services.open_link(session, deps(), token)
        rows, name = suggestion.recommendations, suggestion.given_name
        data = {"items": [{"index": i, "outcome": form.get(f"items.{i}.outcome", ""),
                           "reason": form.get(f"items.{i}.reason", "").strip()} for i in range(len(rows))],
                "responder_name": form.get("responder_name", "").strip(),
                "responder_role": form.get("responder_role", "").strip(),
                "comments": form.get("comments", "").strip()}
        start, start_errors, start_boxes = typed_start(form)
        if start:
            data["effective_from"] = start
        try:
            loaded, errors = EMPLOYER_FORM.load(data), {}
        except ValidationError as exc:
            # "Say why" is about a row; the reason box is where it is fixed; the start date's rule, its boxes
            moved = {f"items-{i}": f"items-{i}-reason" for i in range(len(rows))} | {START: f"{START}-day"}
            errors = worded(by_field(field_errors(exc.messages), moved), employer_wording(rows))
        if errors or start_errors:
            _audit_employer_read(session, link, suggestion)  # the form is shown again, with what was advised
            return render("adjustments/respond.html", status=422, rows=rows, name=name, token=token, form=form,
                          errors=in_reply_page_order(errors | start_errors), start_boxes=start_boxes,
                          nav=EMPLOYER_NAV)
        services.record_employer_response(session, deps(), token, loaded)
    # Post, redirect, get: a refresh of the answer's page read it again, and sent the answer a second time
    # (refused: the link is single-use, so the employer read that their answer was already recorded).
    return redirect(url_for("adjustment_pages.respond_sent", token=token), 303)


@pages.get("/respond/<token>/sent")
def respond_sent(token: str):
    """The confirmation of an answer recorded with this link: the same on a refresh, Back and Forward."""
    with transaction() as session:
        answered = services.answered_link(session, deps(), token)
        if answered is None:  # nothing sent yet: the form (or why the link can no longer be used)
            return redirect(url_for("adjustment_pages.respond", token=token), 303)
        link, suggestion = answered
        _audit_employer_read(session, link, suggestion, purpose="employer_response_sent")
        name = suggestion.given_name
    return render("adjustments/responded.html", name=name, nav=EMPLOYER_NAV)


# The employer's "Changes start on": NHS.UK's three boxes (effective_from-day, -month, -year), as the write page's
# dates; a browser's date picker differs by browser and is slow to reach a date in.
START, START_NAMED = "effective_from", "The date the changes start"


def typed_start(form) -> tuple[str | None, dict[str, list[str]], tuple[str, ...]]:
    """The start date as the API takes it (ISO; None if not given), else its message keyed on the first box to
    correct ("... must include a month": the month's; the day's for the whole date) and the boxes to mark. One
    value under its own name (a program posting the API's format, as the page took before) is taken as it is."""
    if form.get(START, "").strip():
        return form[START].strip(), {}, ()
    typed = typed_date(form, START, START_NAMED)
    if typed.problem:
        return None, {f"{START}-{(typed.parts or ('day',))[0]}": [typed.problem]}, typed.parts
    return (typed.value.isoformat() if typed.value else None), {}, ()


# The reply page's fields top to bottom (respond.html): its error summary lists them in this order.
REPLY_PAGE_ORDER = ("items", "responder_name", "responder_role", START, "comments")


def in_reply_page_order(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """The reply page's errors (field id -> messages) in the order of its fields, a row's outcome before its
    reason; one about no field ("") first."""
    def place(field: str) -> tuple:
        section = next((n for n, name in enumerate(REPLY_PAGE_ORDER, start=1) if field.startswith(name)),
                       0 if field == "" else len(REPLY_PAGE_ORDER) + 1)
        return section, [int(n) for n in re.findall(r"-(\d+)-", field)], field.endswith("-reason")
    return dict(sorted(errors.items(), key=lambda item: place(item[0])))


from worklink_adjustments.pages import people as _people  # noqa: E402,F401 - a person's rights pages (its routes)
