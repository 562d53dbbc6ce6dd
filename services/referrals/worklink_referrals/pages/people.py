"""Pages: a person's rights, for the alliance's data protection officer (alliance_admin). Find a person by
NHS number or one of their referrals' id, see what is held, download it all (the subject access export),
and erase their details on request (UK GDPR Article 17) after a confirmation step.

The same use cases, scope and audit as POST /people/subject-access and /people/erasure (api/people.py); the
pages' flow is worklink.web.people's. The person is always posted, never in an address.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy.orm import Session

from worklink.auth import current_principal
from worklink.retention import NothingHeld
from worklink.uktime import uk_moment, uk_today
from worklink.web import service_context
from worklink.web.pages import errors_by_field
from worklink.web.people import PersonRightsPages, code_words, person_summary, role_words, table
from worklink_referrals import rights
from worklink_referrals.api import now, settings
from worklink_referrals.api.people import NOTHING_HELD
from worklink_referrals.pages.views import LABELS, _render, pages
from worklink_referrals.schemas import PersonLookupSchema, SubjectAccessSchema

LOOKUP = PersonLookupSchema()
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


def _subject_access(session: Session, lookup: dict[str, Any], action: str) -> dict[str, Any]:
    return rights.subject_access(session, lookup, action=action)[1]


def _summary(lookup: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    referrals = body["referrals"]
    return {"person": person_summary(r["person"] for r in referrals if not r["erased_at"]), "kinds": held(body)}


def _confirmation(session: Session, lookup: dict[str, Any], reason: str) -> dict[str, Any]:
    """What erasure will do to these referrals, said plainly (their read audited, for the erasure request)."""
    referrals = rights.person_referrals(session, **lookup)
    if not referrals:
        raise NothingHeld()
    service_context().audit.record_many(session, action="read", resource_type="referral",
                                        purpose=f"erasure request: {reason}",
                                        records=[(str(r.id), str(r.id)) for r in referrals])
    return {"referrals": [{"reference": r.reference, "open": r.status not in rights.ENDED,
                           "erased": r.erased_at is not None} for r in referrals]}


def _erase(session: Session, lookup: dict[str, Any], reason: str) -> dict[str, Any]:
    """The erasure itself: rights.erase_on_request, as POST /people/erasure."""
    erased = rights.erase_on_request(session, service_context().outbox, settings(), lookup, reason,
                                     current_principal(), now())
    return table("erased", "Referrals", ("Reference", "Status", "What happened"),
                 [(e.reference, LABELS.get(e.status, e.status), _what_happened(e)) for e in erased])


def _what_happened(erased: rights.Erased) -> str:
    if erased.already_erased:
        return "Already erased"
    return "Cancelled with consent withdrawn, then erased" if erased.cancelled else "Erased"


PersonRightsPages(
    service="referrals", who="person", roles=("alliance_admin",), templates="referrals", nothing_held=NOTHING_HELD,
    render=_render, lookup=_lookup, subject_access=_subject_access, summary=_summary, confirmation=_confirmation,
    erase=_erase, export=SubjectAccessSchema(), today=lambda: uk_today(now()),
).register(pages)


# --- what is held, for the summary page ------------------------------------------------------------------


def held(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Each kind of record held, as a table of codes and dates: what it is, never what it says (no free
    text, no contact details)."""
    referrals = body["referrals"]
    rows = lambda pick: [row for r in referrals for row in pick(r)]  # noqa: E731
    return [
        table("referrals", "Referrals", ("Reference", "Status", "Sent", "Ended", "Details erased"),
              [(r["reference"], LABELS.get(r["status"], r["status"]), _when(r["submitted_at"]), _when(r["closed_at"]),
                _when(r["erased_at"]) or "No") for r in referrals]),
        table("history", "Steps in their referrals' history", ("Referral", "Step", "By", "When"),
              rows(lambda r: [(r["reference"], code_words(t["action"]), role_words(t["actor_role"]),
                               _when(t["occurred_at"])) for t in r["history"]])),
        table("notes", "Case notes", ("Referral", "Organisation", "Written"),
              rows(lambda r: [(r["reference"], n["organisation"], _when(n["written_at"])) for n in r["notes"]])),
        table("attempts", "Attempts to contact them", ("Referral", "How", "Result", "When"),
              rows(lambda r: [(r["reference"], code_words(a["channel"]), code_words(a["result"]),
                               _when(a["attempted_at"])) for a in r["contact_attempts"]])),
        table("outcomes", "Outcomes", ("Referral", "Outcome", "Happened on"),
              rows(lambda r: [(r["reference"], code_words(o["type"]), o["occurred_on"].strftime("%-d %b %Y"))
                              for o in r["outcomes"]])),
        table("checks", "Sustainment checks", ("Referral", "Weeks", "Due", "Done"),
              rows(lambda r: [(r["reference"], c["weeks"], c["due_on"].strftime("%-d %b %Y"), _when(c["done_at"]))
                              for c in r["sustainment_checks"]])),
        table("accesses", "Recorded accesses to their referrals", ("Referral", "When", "Organisation", "Role", "Action"),
              rows(lambda r: [(r["reference"], _when(a["occurred_at"]), a["organisation"] or "", role_words(a["role"]),
                               a["action"]) for a in r["accessed"]])),
    ]


def _when(moment: datetime | None) -> str:
    return uk_moment(moment)  # as the referral page: "6 Jul 2026, 09:00 BST"
