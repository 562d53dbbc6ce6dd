"""Pages: a person's rights, for the alliance's data protection officer (alliance_admin). Find a person by
NHS number or one of their referrals' id, see what is held, download it all (the subject access export),
and erase their details on request (UK GDPR Article 17) after a confirmation step.

The same use cases, scope and audit as POST /people/subject-access and /people/erasure (api/people.py).
The person is always posted, never in an address: every form carries the lookup in hidden fields.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from flask import Response, current_app, request
from marshmallow import ValidationError

from worklink.auth import current_principal, requires
from worklink.events.catalogue import to_json_types
from worklink.retention import ERASURE_REASON_WORDS
from worklink.web import service_context
from worklink.web.pages import errors_by_field
from worklink_referrals import rights
from worklink_referrals.api import now, settings
from worklink_referrals.api.people import NOTHING_HELD
from worklink_referrals.pages.views import LABELS, _render, pages
from worklink_referrals.schemas import PersonLookupSchema, SubjectAccessSchema
from worklink_referrals.uktime import uk_time

LOOKUP = PersonLookupSchema()
SUBJECT_ACCESS = SubjectAccessSchema()
REASONS = ERASURE_REASON_WORDS  # Article 17(1) UK GDPR grounds, in words
LOOKUP_WORDS = {
    ("nhs_number", "10 digits"): "Enter the NHS number as 10 digits, like 943 476 5919",
    ("nhs_number", "not a valid NHS number"): "Enter a real NHS number: check the digits (the last one is a check "
                                              "digit)",
    ("nhs_number", "give the person"): "Enter their NHS number, or the id of one of their referrals",
    ("referral_id", "give an NHS number"): "Enter an NHS number or a referral id, not both",
    ("referral_id", ""): "Enter the referral id as it appears in the referral's address, like "
                         "3f2b8c1e-6d4a-4b9e-8f1a-2c3d4e5f6a7b",
}
FIELDS = ("nhs_number", "referral_id")


def _lookup(form) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The posted lookup, loaded as the API loads it, or the page's errors (field id -> messages)."""
    raw = {name: re.sub(r"[\s-]", "", form.get(name, "")) if name == "nhs_number" else form.get(name, "").strip()
           for name in FIELDS}
    try:
        return LOOKUP.load({k: v for k, v in raw.items() if v}), {}
    except ValidationError as exc:
        # One message a field: the first is the one to fix first ("10 digits" before the check digit).
        return {}, errors_by_field((name, _words(name, messages[0])) for name, messages in exc.messages.items())


def _words(field: str, message: str) -> str:
    return next((text for (name, start), text in LOOKUP_WORDS.items() if name == field and message.startswith(start)),
                LOOKUP_WORDS.get((field, ""), message))


def _find_page(status: int = 200, errors=None):
    return _render("referrals/people_find.html", status, errors=errors or {}, values=request.form)


def _hidden(lookup: dict[str, Any]) -> dict[str, str]:
    """The lookup as the hidden fields of the next form."""
    return {name: str(value) for name, value in lookup.items()}


@pages.get("/people")
@requires("alliance_admin")
def people_find():
    return _find_page()


@pages.post("/people")
@requires("alliance_admin")
def people_found():
    """What is held about the person, in a readable summary (each referral's read audited)."""
    lookup, errors = _lookup(request.form)
    if errors:
        return _find_page(422, errors)
    try:
        with service_context().database.transaction() as session:
            _, body = rights.subject_access(session, lookup, action="read")
    except rights.NothingHeld:
        return _nothing_held(lookup)
    return _render("referrals/people_held.html", lookup=_hidden(lookup), person=_person(body["referrals"]),
                   kinds=held(body))


def _nothing_held(lookup: dict[str, Any]):
    field = next(iter(lookup))
    return _find_page(404, {field: [NOTHING_HELD]})


@pages.post("/people/download")
@requires("alliance_admin")
def people_download():
    """The subject access export as a JSON attachment: POST /people/subject-access's body and audit."""
    lookup, errors = _lookup(request.form)
    if errors:
        return _find_page(422, errors)
    try:
        with service_context().database.transaction() as session:
            _, body = rights.subject_access(session, lookup)
    except rights.NothingHeld:
        return _nothing_held(lookup)
    name = f"subject-access-referrals-{uk_time(now()).strftime('%Y-%m-%d')}.json"
    return Response(current_app.json.dumps(SUBJECT_ACCESS.dump(to_json_types(body))), mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@pages.post("/people/erase")
@requires("alliance_admin")
def people_erasure():
    """Erasure in steps: the reason (radios), then a confirmation page, then the erasure itself - only from
    the confirmation page's form (step "confirm"); any other post erases nothing."""
    lookup, errors = _lookup(request.form)
    if errors:
        return _find_page(422, errors)
    step, reason = request.form.get("step", ""), request.form.get("reason", "")
    if step not in ("reason", "confirm"):
        return _reason_page(lookup)
    if reason not in dict(REASONS):
        return _reason_page(lookup, {"reason": ["Select why they asked for their details to be erased"]}, 422)
    if step == "reason":
        return _confirm_page(lookup, reason)
    return _erase(lookup, reason)


def _reason_page(lookup, errors=None, status: int = 200):
    return _render("worklink/people_erasure_reason.html", status, lookup=_hidden(lookup), reasons=REASONS,
                   errors=errors or {}, values=request.form)


def _confirm_page(lookup: dict[str, Any], reason: str):
    """What erasure will do to these referrals, said plainly (their read audited, for the erasure request)."""
    ctx = service_context()
    with ctx.database.transaction() as session:
        referrals = rights.person_referrals(session, **lookup)
        if not referrals:
            return _nothing_held(lookup)
        ctx.audit.record_many(session, action="read", resource_type="referral", purpose=f"erasure request: {reason}",
                              records=[(str(r.id), str(r.id)) for r in referrals])
        found = [{"reference": r.reference, "open": r.status not in rights.ENDED, "erased": r.erased_at is not None}
                 for r in referrals]
    return _render("referrals/people_erasure_confirm.html", lookup=_hidden(lookup), reason=reason,
                   reason_words=dict(REASONS)[reason], referrals=found)


def _erase(lookup: dict[str, Any], reason: str):
    """The erasure itself: rights.erase_on_request, as POST /people/erasure."""
    ctx = service_context()
    try:
        with ctx.database.transaction() as session:
            erased = rights.erase_on_request(session, ctx.outbox, settings(), lookup, reason, current_principal(),
                                             now())
    except rights.NothingHeld:
        return _nothing_held(lookup)
    return _render("referrals/people_erased.html", erased=erased, reason_words=dict(REASONS)[reason])


# --- what is held, for the summary page ------------------------------------------------------------------


def _person(referrals: list[dict]) -> dict[str, list[str]]:
    """Just enough to tell it is the right person: the names and dates of birth the referrals hold."""
    people = [r["person"] for r in referrals if not r["erased_at"]]
    names = dict.fromkeys(f"{p['given_name']} {p['family_name']}" for p in people if p["given_name"])
    births = dict.fromkeys(p["birth_date"].strftime("%d %B %Y") for p in people if p["birth_date"])
    return {"names": list(names), "birth_dates": list(births)}


def held(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Each kind of record held, as a table of codes and dates: what it is, never what it says (no free
    text, no contact details)."""
    referrals = body["referrals"]
    rows = lambda pick: [row for r in referrals for row in pick(r)]  # noqa: E731
    return [
        _kind("referrals", "Referrals", ("Reference", "Status", "Sent", "Ended", "Details erased"),
              [(r["reference"], LABELS.get(r["status"], r["status"]), _when(r["submitted_at"]), _when(r["closed_at"]),
                _when(r["erased_at"]) or "No") for r in referrals]),
        _kind("history", "Steps in their referrals' history", ("Referral", "Step", "By", "When"),
              rows(lambda r: [(r["reference"], _code(t["action"]), _role(t["actor_role"]), _when(t["occurred_at"]))
                              for t in r["history"]])),
        _kind("notes", "Case notes", ("Referral", "Organisation", "Written"),
              rows(lambda r: [(r["reference"], n["organisation"], _when(n["written_at"])) for n in r["notes"]])),
        _kind("attempts", "Attempts to contact them", ("Referral", "How", "Result", "When"),
              rows(lambda r: [(r["reference"], _code(a["channel"]), _code(a["result"]), _when(a["attempted_at"]))
                              for a in r["contact_attempts"]])),
        _kind("outcomes", "Outcomes", ("Referral", "Outcome", "Happened on"),
              rows(lambda r: [(r["reference"], _code(o["type"]), o["occurred_on"].strftime("%d %b %Y"))
                              for o in r["outcomes"]])),
        _kind("checks", "Sustainment checks", ("Referral", "Weeks", "Due", "Done"),
              rows(lambda r: [(r["reference"], c["weeks"], c["due_on"].strftime("%d %b %Y"), _when(c["done_at"]))
                              for c in r["sustainment_checks"]])),
        _kind("accesses", "Recorded accesses to their referrals", ("Referral", "When", "Organisation", "Role", "Action"),
              rows(lambda r: [(r["reference"], _when(a["occurred_at"]), a["organisation"] or "", _role(a["role"]),
                               a["action"]) for a in r["accessed"]])),
    ]


def _kind(id: str, heading: str, columns: tuple[str, ...], rows: list[tuple]) -> dict[str, Any]:
    return {"id": id, "heading": heading, "columns": columns, "rows": rows}


def _when(moment: datetime | None) -> str:
    return uk_time(moment).strftime("%d %b %Y %H:%M") if moment else ""


ROLES = {"gp": "GP", "org_admin": "Organisation admin"}


def _role(role: str | None) -> str:
    return ROLES.get(role or "", _code(role))


def _code(code: str | None) -> str:
    return (code or "").replace("_", " ").capitalize()
