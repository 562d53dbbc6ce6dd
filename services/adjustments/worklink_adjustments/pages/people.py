"""Pages: a person's rights, for the alliance's data protection officer (alliance_admin, every practice's
suggestions) and a practice's organisation admin (its own). Find a patient by NHS number, see what is held,
download it all (the subject access export), and erase their details on request (UK GDPR Article 17)
after a confirmation step.

The same use cases, scope and audit as POST /people/subject-access and /people/erasure (api/people.py).
The NHS number is always posted, never in an address: every form carries it in a hidden field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Response, current_app, render_template, request
from marshmallow import ValidationError

from worklink.auth import current_principal, requires
from worklink.db import utcnow
from worklink.events.catalogue import to_json_types
from worklink.retention import ERASURE_REASON_WORDS
from worklink.web import service_context
from worklink_adjustments import domain, rights, services
from worklink_adjustments.api.common import deps
from worklink_adjustments.api.people import ADMINS, NOTHING_HELD, _recordable
from worklink_adjustments.models import ReferralRequest
from worklink_adjustments.pages.views import pages
from worklink_adjustments.schemas import PersonLookupSchema, SubjectAccessSchema

NAV = [("A person's rights", "/people"), ("Audit", "/audit")]
LOOKUP = PersonLookupSchema()
SUBJECT_ACCESS = SubjectAccessSchema()
REASONS = ERASURE_REASON_WORDS  # Article 17(1) UK GDPR grounds, in words
LOOKUP_WORDS = {"Missing data": "Enter their NHS number",
                "Enter the NHS number in the correct format": "Enter the NHS number as 10 digits, like 943 476 5919",
                "This is not a valid NHS number": "Enter a real NHS number: check the digits (the last one is a "
                                                  "check digit)"}


def render(template: str, status: int = 200, **context) -> Response:
    return Response(render_template(template, nav=NAV, **context), status=status, mimetype="text/html")


def _lookup(form) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The posted NHS number, loaded as the API loads it, or the page's errors (field id -> messages)."""
    try:
        return LOOKUP.load({"nhs_number": form["nhs_number"]} if form.get("nhs_number", "").strip() else {}), {}
    except ValidationError as exc:
        message = exc.messages["nhs_number"][0]
        return {}, {"nhs_number": [next((words for start, words in LOOKUP_WORDS.items() if message.startswith(start)),
                                        message)]}


def _find_page(status: int = 200, errors=None) -> Response:
    return render("adjustments/people_find.html", status, errors=errors or {}, values=request.form)


def _nothing_held() -> Response:
    return _find_page(404, {"nhs_number": [NOTHING_HELD]})


@pages.get("/people")
@requires(*ADMINS)
def people_find():
    return _find_page()


@pages.post("/people")
@requires(*ADMINS)
def people_found():
    """What is held about the patient that the admin answers for, in a readable summary (reads audited)."""
    lookup, errors = _lookup(request.form)
    if errors:
        return _find_page(422, errors)
    try:
        with service_context().database.transaction() as session:
            _, body = rights.subject_access(session, deps(), lookup["nhs_number"], current_principal(), action="read")
    except rights.NothingHeld:
        return _nothing_held()
    return render("adjustments/people_held.html", nhs_number=lookup["nhs_number"], person=_person(body["suggestions"]),
                  kinds=held(body))


@pages.post("/people/download")
@requires(*ADMINS)
def people_download():
    """The subject access export as a JSON attachment: POST /people/subject-access's body and audit."""
    lookup, errors = _lookup(request.form)
    if errors:
        return _find_page(422, errors)
    try:
        with service_context().database.transaction() as session:
            _, body = rights.subject_access(session, deps(), lookup["nhs_number"], current_principal())
    except rights.NothingHeld:
        return _nothing_held()
    name = f"subject-access-adjustments-{domain.uk_today().isoformat()}.json"
    return Response(current_app.json.dumps(SUBJECT_ACCESS.dump(to_json_types(body))), mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@pages.post("/people/erase")
@requires(*ADMINS)
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


def _reason_page(lookup, errors=None, status: int = 200) -> Response:
    return render("worklink/people_erasure_reason.html", status, lookup={"nhs_number": lookup["nhs_number"]},
                  reasons=REASONS, errors=errors or {}, values=request.form)


def _confirm_page(lookup: dict[str, Any], reason: str) -> Response:
    """What erasure will do to these suggestions, said plainly (their read audited, for the erasure request)."""
    with service_context().database.transaction() as session:
        found = rights.person_suggestions(session, lookup["nhs_number"], current_principal())
        if not found:
            return _nothing_held()
        deps().audit_records(session, "read", found, purpose=f"erasure request: {reason}")
        open_requests = session.scalar(sa.select(sa.func.count()).select_from(ReferralRequest).where(
            ReferralRequest.suggestion_id.in_([s.id for s in found]), services.request_is_open()))
        current = sum(s.status in domain.ACTIVE for s in found)
    return render("adjustments/people_erasure_confirm.html", nhs_number=lookup["nhs_number"], reason=reason,
                  reason_words=dict(REASONS)[reason], suggestions=len(found), current=current,
                  open_requests=open_requests)


def _erase(lookup: dict[str, Any], reason: str) -> Response:
    """The erasure itself: rights.erase_on_request, as POST /people/erasure."""
    principal = _recordable(current_principal())
    try:
        with service_context().database.transaction() as session:
            erased = rights.erase_on_request(session, deps(), lookup["nhs_number"], reason, principal, utcnow())
    except rights.NothingHeld:
        return _nothing_held()
    return render("adjustments/people_erased.html", erased=erased, reason_words=dict(REASONS)[reason])


# --- what is held, for the summary page ------------------------------------------------------------------


def _person(suggestions: list[dict]) -> dict[str, list[str]]:
    """Just enough to tell it is the right patient: the names and dates of birth the suggestions hold."""
    names = dict.fromkeys(f"{s['given_name']} {s['family_name']}" for s in suggestions if s["given_name"])
    births = dict.fromkeys(s["birth_date"].strftime("%d %B %Y") for s in suggestions if s["birth_date"])
    return {"names": list(names), "birth_dates": list(births)}


def held(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Each kind of record held, as a table of codes and dates: what it is, never what it says (no condition,
    no advice, no employer's words, no contact details). Suggestions are numbered; the other tables use it."""
    suggestions = list(enumerate(body["suggestions"], start=1))
    rows = lambda key, pick: [pick(n, row) for n, s in suggestions for row in s[key]]  # noqa: E731
    return [
        _kind("suggestions", "Suggestions", ("Number", "Written", "Practice", "Status", "Details erased"),
              [(n, _day(s["created_at"]), str(s["practice_id"]), _code(s["status"]), _day(s["erased_at"]) or "No")
               for n, s in suggestions]),
        _kind("links", "Employer reply links", ("Suggestion", "Made", "Expires", "Used", "Revoked"),
              rows("employer_links", lambda n, k: (n, _day(k["created_at"]), _day(k["expires_at"]), _day(k["used_at"]),
                                                    _day(k["revoked_at"])))),
        _kind("answers", "Employer answers", ("Suggestion", "Answer", "Recorded"),
              rows("employer_responses", lambda n, a: (n, _code(a["outcome"]), _day(a["recorded_at"])))),
        _kind("requests", "Referral requests", ("Suggestion", "Status", "Requested"),
              rows("referral_requests", lambda n, r: (n, _code(r["status"]), _day(r["requested_at"])))),
        _kind("accesses", "Recorded accesses to their suggestions", ("Suggestion", "When", "Organisation", "Role",
                                                                     "Action"),
              rows("accessed", lambda n, a: (n, _day(a["occurred_at"]), a["organisation"] or "", _role(a["role"]),
                                             a["action"]))),
    ]


def _kind(id: str, heading: str, columns: tuple[str, ...], rows: list[tuple]) -> dict[str, Any]:
    return {"id": id, "heading": heading, "columns": columns, "rows": rows}


def _day(moment: datetime | None) -> str:
    return domain.uk_today(moment).strftime("%d %b %Y") if moment else ""


ROLES = {"gp": "GP", "org_admin": "Organisation admin"}


def _role(role: str | None) -> str:
    return ROLES.get(role or "", _code(role))


def _code(code: str | None) -> str:
    return (code or "").replace("_", " ").capitalize()
