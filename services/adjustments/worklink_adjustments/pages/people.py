"""Pages: a person's rights, for the alliance's data protection officer (alliance_admin, every practice's
suggestions) and a practice's organisation admin (its own). Find a patient by NHS number, see what is held,
download it all (the subject access export), and erase their details on request (UK GDPR Article 17)
after a confirmation step.

The same use cases, scope and audit as POST /people/subject-access and /people/erasure (api/people.py); the
pages' flow is worklink.web.people's. The NHS number is always posted, never in an address.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Response, render_template
from marshmallow import ValidationError
from sqlalchemy.orm import Session

from worklink.auth import current_principal
from worklink.db import utcnow
from worklink.retention import NothingHeld
from worklink.web.people import PersonRightsPages, code_words, person_summary, role_words, table
from worklink_adjustments import domain, rights, services
from worklink_adjustments.api.common import deps
from worklink_adjustments.api.people import ADMINS, NOTHING_HELD, _recordable
from worklink_adjustments.models import ReferralRequest
from worklink_adjustments.pages.views import pages
from worklink_adjustments.schemas import PersonLookupSchema, SubjectAccessSchema

NAV = [("A person's rights", "/people"), ("Audit", "/audit")]
LOOKUP = PersonLookupSchema()
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


def _subject_access(session: Session, lookup: dict[str, Any], action: str) -> dict[str, Any]:
    return rights.subject_access(session, deps(), lookup["nhs_number"], current_principal(), action=action)[1]


def _summary(lookup: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    return {"person": person_summary(body["suggestions"]), "kinds": held(body)}


def _confirmation(session: Session, lookup: dict[str, Any], reason: str) -> dict[str, Any]:
    """What erasure will do to these suggestions, said plainly (their read audited, for the erasure request)."""
    found = rights.person_suggestions(session, lookup["nhs_number"], current_principal())
    if not found:
        raise NothingHeld()
    deps().audit_records(session, "read", found, purpose=f"erasure request: {reason}")
    open_requests = session.scalar(sa.select(sa.func.count()).select_from(ReferralRequest).where(
        ReferralRequest.suggestion_id.in_([s.id for s in found]), services.request_is_open()))
    return {"suggestions": len(found), "current": sum(s.status in domain.ACTIVE for s in found),
            "open_requests": open_requests}


def _erase(session: Session, lookup: dict[str, Any], reason: str) -> dict[str, Any]:
    """The erasure itself: rights.erase_on_request, as POST /people/erasure."""
    erased = rights.erase_on_request(session, deps(), lookup["nhs_number"], reason,
                                     _recordable(current_principal()), utcnow())
    return table("erased", "Suggestions", ("Suggestion", "Status", "What happened"),
                 [(e.suggestion_id, e.status.capitalize(), _what_happened(e)) for e in erased])


def _what_happened(erased: rights.ErasedSuggestion) -> str:
    done = "Withdrawn, then erased" if erased.withdrawn else "Erased"
    return done + ("; consent to the open referral withdrawn" if erased.referral_consent_withdrawn else "")


PersonRightsPages(
    service="adjustments", who="patient", roles=ADMINS, templates="adjustments", nothing_held=NOTHING_HELD,
    render=render, lookup=_lookup, subject_access=_subject_access, summary=_summary, confirmation=_confirmation,
    erase=_erase, export=SubjectAccessSchema(), today=domain.uk_today,
).register(pages)


# --- what is held, for the summary page ------------------------------------------------------------------


def held(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Each kind of record held, as a table of codes and dates: what it is, never what it says (no condition,
    no advice, no employer's words, no contact details). Suggestions are numbered; the other tables use it."""
    suggestions = list(enumerate(body["suggestions"], start=1))
    rows = lambda key, pick: [pick(n, row) for n, s in suggestions for row in s[key]]  # noqa: E731
    return [
        table("suggestions", "Suggestions", ("Number", "Written", "Practice", "Status", "Details erased"),
              [(n, _day(s["created_at"]), str(s["practice_id"]), code_words(s["status"]), _day(s["erased_at"]) or "No")
               for n, s in suggestions]),
        table("links", "Employer reply links", ("Suggestion", "Made", "Expires", "Used", "Revoked"),
              rows("employer_links", lambda n, k: (n, _day(k["created_at"]), _day(k["expires_at"]), _day(k["used_at"]),
                                                    _day(k["revoked_at"])))),
        table("answers", "Employer answers", ("Suggestion", "Answer", "Recorded"),
              rows("employer_responses", lambda n, a: (n, code_words(a["outcome"]), _day(a["recorded_at"])))),
        table("requests", "Referral requests", ("Suggestion", "Status", "Requested"),
              rows("referral_requests", lambda n, r: (n, code_words(r["status"]), _day(r["requested_at"])))),
        table("accesses", "Recorded accesses to their suggestions", ("Suggestion", "When", "Organisation", "Role",
                                                                     "Action"),
              rows("accessed", lambda n, a: (n, _day(a["occurred_at"]), a["organisation"] or "", role_words(a["role"]),
                                             a["action"]))),
    ]


def _day(moment: datetime | None) -> str:
    return domain.uk_today(moment).strftime("%d %b %Y") if moment else ""
