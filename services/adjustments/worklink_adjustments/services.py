"""Use cases: each runs inside the caller's transaction, writes the change, its audit record
and its events together (transactional outbox), and knows nothing of Flask."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from worklink.audit import AuditTrail
from worklink.auth import Principal
from worklink.db import utcnow
from worklink.events.contracts.adjustments import clinician_reference
from worklink.messaging.outbox import Outbox
from worklink.pseudonyms import keyed_reference
from worklink_adjustments import domain, knowledge
from worklink_adjustments.domain import Conflict, NotFound
from worklink_adjustments.models import EmployerLink, EmployerResponse, ReferralRequest, Suggestion

RESOURCE = "adjustment_suggestion"


@dataclass(frozen=True)
class Clinician:
    subject: str
    practice_id: uuid.UUID
    principal: Principal


def person_reference(nhs_number: str, person_key: str) -> str:
    """How the audit trail names a patient: the keyed reference of their NHS number (64 hex digits), never
    the number itself - the trail is kept longer than the records and read by admins."""
    return keyed_reference(nhs_number, person_key)


@dataclass
class Recorder:
    """What every change writes besides its own rows: its events and its audit record (the sweep needs no more)."""

    outbox: Outbox
    audit: AuditTrail
    person_key: str  # ADJUSTMENTS_PERSON_KEY (worklink_adjustments.config.person_key)
    # Keys a rotation retired: references they made may still be in the trail until re-keyed (rekeying.py).
    previous_person_keys: tuple[str, ...] = field(default=(), kw_only=True)

    def person_id(self, suggestion: Suggestion) -> str:
        """The audit trail's name for the suggestion's patient: the NHS number's reference; once erased, the
        suggestion's own id (as rights.erase renames its earlier entries)."""
        if suggestion.nhs_number is None:
            return str(suggestion.id)
        return person_reference(suggestion.nhs_number, self.person_key)

    def audit_record(self, session: Session, action: str, suggestion: Suggestion, principal: Principal,
                     purpose: str | None = None) -> None:
        self.audit_records(session, action, [suggestion], principal, purpose)

    def audit_records(self, session: Session, action: str, suggestions: Iterable[Suggestion],
                      principal: Principal | None = None, purpose: str | None = None) -> None:
        """One entry per suggestion, in one statement (a listed page, a person's suggestions)."""
        self.audit.record_many(session, action=action, resource_type=RESOURCE, purpose=purpose, principal=principal,
                               records=[(str(s.id), self.person_id(s)) for s in suggestions])


@dataclass
class Deps(Recorder):
    """What a use case needs besides its own rows: the recorder, and the employer links' secret and lifetime."""

    link_secret: str
    link_ttl: timedelta = timedelta(days=60)
    previous_link_secrets: tuple[str, ...] = ()  # retired by a rotation: links they signed still open
    clinician_key: str = "worklink-clinician-reference"  # the app passes its configured key
    # The guidance library as of its current version, built once per version (the app passes its own cache).
    guidance: knowledge.IndexCache = field(default_factory=knowledge.IndexCache)


# --- reading ---------------------------------------------------------------------------


def load(session: Session, clinician: Clinician, suggestion_id: uuid.UUID, *, for_update: bool = False) -> Suggestion:
    """The practice's own suggestion; another practice's is indistinguishable from none (404). Loaded to be
    changed (`for_update`), an erased one is refused (409): nothing is added to a record without its patient."""
    query = sa.select(Suggestion).where(Suggestion.id == suggestion_id,
                                        Suggestion.practice_id == clinician.practice_id)
    if for_update:
        query = query.with_for_update()
    suggestion = session.scalar(query)
    if suggestion is None:
        raise NotFound(f"No suggestion {suggestion_id}.")
    if for_update and suggestion.erased_at is not None:
        raise Erased(suggestion)
    return suggestion


class Erased(Conflict):
    def __init__(self, suggestion: Suggestion):
        super().__init__(f"Suggestion {suggestion.id}: the patient's details were erased, so it cannot be changed.",
                         erased=True)


def read(session: Session, deps: Deps, clinician: Clinician, suggestion_id: uuid.UUID,
         action: str = "read", purpose: str | None = None) -> dict[str, Any]:
    suggestion = load(session, clinician, suggestion_id)
    deps.audit_record(session, action, suggestion, clinician.principal, purpose)
    return view(session, suggestion)


class CannotPrint(Exception):
    """A document that could not be made from the suggestion (read_to_print's `make`): `why` names it in the audit
    entry's purpose, `problem` is what the caller raises once that entry is committed."""

    def __init__(self, why: str, problem: Exception):
        super().__init__(why)
        self.why, self.problem = why, problem


@dataclass
class ToPrint:
    """A letter or summary asked for: the suggestion as shown, what was made of it, and why nothing was (or None)."""
    shown: dict[str, Any]
    made: Any = None
    refused: str | None = None  # erased, withdrawn, superseded, or the CannotPrint's why
    cannot: CannotPrint | None = None


def read_to_print(session: Session, clinician: Clinician, suggestion_id: uuid.UUID,
                  make: Callable[[dict[str, Any]], Any]) -> ToPrint:
    """The suggestion whose letter or summary is asked for and what `make` made of it - nothing when the patient's
    details were erased or the suggestion was withdrawn or replaced (they see only a notice that it ended), or when
    `make` could not (CannotPrint: a PDF no font can draw). Reads only: the caller records what it gives out
    (audit_print) and gives nothing before that entry commits. Made outside the write transaction because drawing
    a PDF takes up to half a second, and a SQLite writer's turn would be held that long."""
    suggestion = load(session, clinician, suggestion_id)
    printing = ToPrint(view(session, suggestion))
    printing.refused = ("erased" if suggestion.erased_at else
                        suggestion.status if suggestion.status in NO_LONGER_VALID else None)
    if not printing.refused:
        try:
            printing.made = make(printing.shown)
        except CannotPrint as exc:
            printing.refused, printing.cannot = exc.why, exc
    return printing


def audit_print(session: Session, deps: Deps, clinician: Clinician, suggestion_id: uuid.UUID, kind: str,
                printing: ToPrint) -> None:
    """Record what the caller gets of a letter or summary (`kind`): an export when there is a document to give; a
    read, saying why none was given (print_<kind>_refused_<why>), when there is not - still an access to the
    person's record."""
    suggestion = load(session, clinician, suggestion_id)
    if printing.refused:
        deps.audit_record(session, "read", suggestion, clinician.principal, f"print_{kind}_refused_{printing.refused}")
    else:
        deps.audit_record(session, "export", suggestion, clinician.principal, f"print_{kind}")


def list_for_practice(session: Session, deps: Deps, clinician: Clinician, *, status: str | None = None,
                      nhs_number: str | None = None, limit: int = 50, offset: int = 0) -> dict[str, Any]:
    where = [Suggestion.practice_id == clinician.practice_id]
    if status:
        where.append(Suggestion.status == status)
    if nhs_number:
        where.append(Suggestion.nhs_number == nhs_number)
    total = session.scalar(sa.select(sa.func.count()).select_from(Suggestion).where(*where))
    rows = session.scalars(sa.select(Suggestion).where(*where)
                           .order_by(Suggestion.updated_at.desc(), Suggestion.id).limit(limit).offset(offset)).all()
    ids = [s.id for s in rows]
    outcomes, issues = _current_outcomes(session, ids), issue_counts(session, ids)
    referrals, related = _latest_requests(session, ids), replacements(session, clinician.practice_id, rows)
    deps.audit_records(session, "list", rows, clinician.principal)
    items = []
    for suggestion in rows:
        items.append({c: getattr(suggestion, c) for c in (
            "id", "status", "version", "given_name", "family_name", "nhs_number", "decision", "assessment_date",
            "period_start", "period_end", "review_date", "issued_at")}
            | {"employer_outcome": outcomes.get(suggestion.id), "issue_number": issues.get(suggestion.id),
               "share_with_employer": suggestion.share_with_employer}  # the pages' (the API's schema leaves it out)
            | related[suggestion.id] | _referral_summary(referrals.get(suggestion.id)))
    return {"items": items, "total": total}


def _latest_requests(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, ReferralRequest]:
    """Each suggestion's newest referral request (the one the list shows)."""
    if not ids:
        return {}
    requests = session.scalars(sa.select(ReferralRequest).where(ReferralRequest.suggestion_id.in_(ids))
                               .order_by(ReferralRequest.requested_at)).all()
    return {request.suggestion_id: request for request in requests}


def _referral_summary(request: ReferralRequest | None) -> dict[str, Any]:
    return {"referral_status": request and request.status, "referral_requested_at": request and request.requested_at,
            "referral_not_yet_received": bool(request and request.unanswered_at)}


def _current_outcomes(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Each suggestion's employer outcome for its current response round (its newest link) only."""
    if not ids:
        return {}
    newest = (sa.select(EmployerLink.suggestion_id, sa.func.max(EmployerLink.created_at).label("created_at"))
              .where(EmployerLink.suggestion_id.in_(ids)).group_by(EmployerLink.suggestion_id).subquery())
    rows = session.execute(
        sa.select(EmployerResponse.suggestion_id, EmployerResponse.outcome)
        .join(EmployerLink, EmployerLink.id == EmployerResponse.link_id)
        .join(newest, sa.and_(newest.c.suggestion_id == EmployerLink.suggestion_id,
                              newest.c.created_at == EmployerLink.created_at))).all()
    return dict(rows)


def issue_counts(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many times each suggestion was issued, the first issue and each amendment: each opens one employer
    link (a response round), so its links count them. `version` counts every save (a draft's too), not issues.
    A draft is absent (its `issue_number` is null). The list and a suggestion's view both take `issue_number`
    from here, so the pages' "Amended – second issue" and the API's `issue_number: 2` cannot differ."""
    if not ids:
        return {}
    return dict(session.execute(sa.select(EmployerLink.suggestion_id, sa.func.count())
                                .where(EmployerLink.suggestion_id.in_(ids)).group_by(EmployerLink.suggestion_id)).all())


def replacements(session: Session, practice_id: uuid.UUID,
                 suggestions: Iterable[Suggestion]) -> dict[uuid.UUID, dict[str, dict[str, Any] | None]]:
    """Each suggestion's place in a chain of replacements, as `replaces` and `replaced_by` ({id, assessment_date},
    or None): the pages link them both ways by the assessment date. Only the practice's own suggestions are named,
    as `load` scopes every read; a replacement still a draft has replaced nothing yet."""
    suggestions = list(suggestions)
    ids = [s.id for s in suggestions]
    earlier_ids = [s.supersedes_id for s in suggestions if s.supersedes_id]
    earlier = dict(session.execute(sa.select(Suggestion.id, Suggestion.assessment_date).where(
        Suggestion.id.in_(earlier_ids), Suggestion.practice_id == practice_id)).all()) if earlier_ids else {}
    later = {row.supersedes_id: row for row in session.execute(
        sa.select(Suggestion.id, Suggestion.supersedes_id, Suggestion.assessment_date).where(
            Suggestion.supersedes_id.in_(ids), Suggestion.practice_id == practice_id,
            Suggestion.status != "draft"))} if ids else {}
    return {s.id: {"replaces": {"id": s.supersedes_id, "assessment_date": earlier[s.supersedes_id]}
                   if s.supersedes_id in earlier else None,
                   "replaced_by": {"id": later[s.id].id, "assessment_date": later[s.id].assessment_date}
                   if s.id in later else None}
            for s in suggestions}


def issued_links(session: Session, suggestion_id: uuid.UUID) -> list[EmployerLink]:
    """The suggestion's links, one per issue, in the order they were issued: the nth is the nth issue's."""
    return list(session.scalars(sa.select(EmployerLink).where(EmployerLink.suggestion_id == suggestion_id)
                                .order_by(EmployerLink.created_at, EmployerLink.suggestion_version)))


def current_link(session: Session, suggestion_id: uuid.UUID) -> EmployerLink | None:
    """The link of the current response round: the newest (an amendment opens a new one)."""
    return session.scalar(sa.select(EmployerLink).where(EmployerLink.suggestion_id == suggestion_id)
                          .order_by(EmployerLink.created_at.desc()).limit(1))


def response_history(session: Session, suggestion: Suggestion, links: list[EmployerLink]) -> list[dict[str, Any]]:
    """Every employer answer, newest first, each saying which version of the advice it answered and which issue
    that was (`issue`: 1 for the first; None for an answer kept without its link)."""
    responses = session.scalars(sa.select(EmployerResponse).where(EmployerResponse.suggestion_id == suggestion.id)
                                .order_by(EmployerResponse.recorded_at.desc())).all()
    issue_of = {link.id: n for n, link in enumerate(links, start=1)}
    current = links[-1].id if links else None
    return [{**{c: getattr(r, c) for c in ("id", "outcome", "items", "comments", "responder_name", "responder_role",
                                           "effective_from", "recorded_at", "suggestion_version")},
             "current": current is not None and r.link_id == current, "issue": issue_of.get(r.link_id)}
            for r in responses]


def view(session: Session, suggestion: Suggestion) -> dict[str, Any]:
    links = issued_links(session, suggestion.id)
    link = links[-1] if links else None
    history = response_history(session, suggestion, links)
    response = next((r for r in history if r["current"]), None)
    referrals = session.scalars(sa.select(ReferralRequest).where(ReferralRequest.suggestion_id == suggestion.id)
                                .order_by(ReferralRequest.requested_at)).all()
    related = replacements(session, suggestion.practice_id, [suggestion])[suggestion.id]
    return {
        **{c: getattr(suggestion, c) for c in (
            "id", "practice_id", "clinician_id", "status", "version", "guidance_version", "conditions", "decision",
            "categories", "functional_effects", "recommendations", "reassessment_needed", "review_date", "job",
            "supersedes_id", "created_at", "updated_at", "issued_at", "ended_at", "erased_at", "withdrawn_reason")},
        "issuer": {"name": suggestion.issuer_name, "profession": suggestion.issuer_profession},
        "patient": {c: getattr(suggestion, c) for c in ("nhs_number", "given_name", "family_name", "birth_date",
                                                        "email", "phone", "postcode")},
        "assessment": {"date": suggestion.assessment_date, "method": suggestion.assessment_method,
                       "condition_started_on": suggestion.condition_started_on},
        "period": {"start": suggestion.period_start, "end": suggestion.period_end, "duration_days": None},
        "signposting": {"occupational_health": suggestion.occupational_health_suggested,
                        "access_to_work": suggestion.access_to_work_signposted},
        "consent": {"share_with_employer": suggestion.share_with_employer,
                    "refer_to_employment_adviser": suggestion.refer_to_employment_adviser,
                    "referral_updates_by_email": suggestion.referral_updates_by_email,
                    "outcomes_to_gp": suggestion.outcomes_to_gp},
        "superseded_by_id": related["replaced_by"] and related["replaced_by"]["id"],
        **related,  # both linked on the review page, by their assessment dates
        "issue_number": issue_counts(session, [suggestion.id]).get(suggestion.id),  # null for a draft
        # when this issue (the first, or the amendment) was made: each opens a link; `updated_at` moves on later
        # (a consent withdrawal), and the letter's "I amended my advice on" read that date
        "issued_this_time_at": link.created_at if link else None,
        "employer_response": response,  # the answer to the current version, if any
        "employer_responses": history,  # every answer, including those to earlier versions
        # Advice ended takes no answer: its link's expiry would read as a live link
        "employer_link_expires_at": link.expires_at if link and link.revoked_at is None
        and suggestion.status not in NO_LONGER_VALID else None,
        "referrals": referrals,
        "links": documents(suggestion),
    }


# Ended early, by the GP: its letter and summary are no longer valid (410), and nothing offers them. Expired
# advice ran its course; its letter stays a true record of what was advised for the period.
NO_LONGER_VALID = ("withdrawn", "superseded")


def documents(suggestion: Suggestion) -> dict[str, str]:
    """Where the suggestion and its documents are; a withdrawn or replaced one's documents are not offered."""
    base = f"/suggestions/{suggestion.id}"
    if suggestion.status in NO_LONGER_VALID:
        return {"self": base}
    return {"self": base, "letter": f"{base}/letter", "letter_pdf": f"{base}/letter.pdf",
            "summary": f"{base}/summary", "summary_pdf": f"{base}/summary.pdf"}


def state(suggestion: Suggestion, **extra: Any) -> dict[str, Any]:
    """The short answer to a lifecycle action: where the suggestion is now (GET it for the rest)."""
    return {"id": suggestion.id, "practice_id": suggestion.practice_id, "status": suggestion.status,
            "version": suggestion.version, "issued_at": suggestion.issued_at, "ended_at": suggestion.ended_at,
            "employer_link_expires_at": extra.get("link_expires_at"), "links": documents(suggestion)}


# --- writing ---------------------------------------------------------------------------


def _validated(session: Session, deps: Deps, data: dict[str, Any],
               today: date) -> tuple[domain.Period, list[dict], int]:
    guidance = deps.guidance.get(session)
    # A renamed adjustment's retired id (an amendment of a suggestion written before the rename) is
    # written as its new id, so the amended version and its events never carry the old one.
    data = {**data, "recommendations": [
        {**r, "adjustment_id": knowledge.current_adjustment_id(r["adjustment_id"])}
        if r.get("adjustment_id") and r["adjustment_id"] not in guidance.adjustments
        and knowledge.current_adjustment_id(r["adjustment_id"]) in guidance.adjustments else r
        for r in data.get("recommendations", [])]}
    rows = []
    for row in data.get("recommendations", []):
        adjustment = guidance.adjustments.get(row.get("adjustment_id") or "")  # live ones only
        rows.append({**row, "title": adjustment["title"] if adjustment else None,
                     "employer_text": adjustment["employer_text"] if adjustment else None,
                     "fit_note_category": adjustment["fit_note_category"] if adjustment else None})
    # Checked with the library wording each row will print (it must not name a private condition).
    period = domain.check_suggestion({**data, "recommendations": rows}, today=today,
                                     known_adjustments=guidance.adjustments,
                                     condition_library=guidance.condition_library)
    tasks = set(data.get("job", {}).get("tasks", []))
    if tasks - set(guidance.work_functions):
        raise domain.RuleViolation([{"location": "json", "pointer": "/job/tasks", "detail": "Unknown job tasks: "
                                     f"{', '.join(sorted(tasks - set(guidance.work_functions)))}."}])
    return period, rows, guidance.version


def _apply(suggestion: Suggestion, data: dict[str, Any], period: domain.Period, rows: list[dict],
           guidance_version: int) -> None:
    patient, assessment = data["patient"], data["assessment"]
    for name in ("nhs_number", "given_name", "family_name", "birth_date", "email", "phone", "postcode"):
        setattr(suggestion, name, patient.get(name))
    if suggestion.postcode:
        suggestion.postcode = suggestion.postcode.upper()
    suggestion.issuer_name = data["issuer"]["name"]
    suggestion.issuer_profession = data["issuer"]["profession"]
    suggestion.assessment_date = assessment["date"]
    suggestion.assessment_method = assessment["method"]
    suggestion.condition_started_on = assessment.get("condition_started_on")
    suggestion.conditions = [dict(c) for c in data["conditions"]]
    suggestion.decision = data["decision"]
    suggestion.categories = domain.categories_for(data["decision"], data.get("categories", []),
                                                  [{"fit_note_category": r["fit_note_category"]} for r in rows
                                                   if r["fit_note_category"]])
    suggestion.functional_effects = data.get("functional_effects") or ""
    suggestion.recommendations = rows
    suggestion.period_start, suggestion.period_end = period.start, period.end
    suggestion.reassessment_needed = data.get("reassessment_needed", False)
    suggestion.review_date = data.get("review_date") or (period.end if data.get("reassessment_needed") else None)
    suggestion.job = {k: v for k, v in dict(data.get("job") or {}).items() if v not in (None, "", [])}
    signposting = data.get("signposting") or {}
    suggestion.occupational_health_suggested = signposting.get("occupational_health", False)
    suggestion.access_to_work_signposted = signposting.get("access_to_work", False)
    consent = data["consent"]
    updates, outcomes = consent.get("referral_updates_by_email", False), consent.get("outcomes_to_gp", False)
    if (consent["share_with_employer"], consent["refer_to_employment_adviser"], updates, outcomes) != (
            suggestion.share_with_employer, suggestion.refer_to_employment_adviser,
            suggestion.referral_updates_by_email, suggestion.outcomes_to_gp):
        suggestion.consent_recorded_at = utcnow()
    suggestion.share_with_employer = consent["share_with_employer"]
    suggestion.refer_to_employment_adviser = consent["refer_to_employment_adviser"]
    suggestion.referral_updates_by_email = updates
    suggestion.outcomes_to_gp = outcomes
    suggestion.guidance_version = guidance_version
    suggestion.updated_at = utcnow()


def create(session: Session, deps: Deps, clinician: Clinician, data: dict[str, Any], today: date,
           suggestion_id: uuid.UUID | None = None) -> dict[str, Any]:
    """`suggestion_id`: the id the write page gave its form (a second post of it changes this draft), else a new one."""
    period, rows, guidance_version = _validated(session, deps, data, today)
    _check_replaceable(session, clinician, data.get("supersedes_id"), data["patient"]["nhs_number"])
    suggestion = Suggestion(id=suggestion_id or uuid.uuid4(), practice_id=clinician.practice_id, clinician_id=clinician.subject,
                            status="draft", version=1, supersedes_id=data.get("supersedes_id"),
                            share_with_employer=False, refer_to_employment_adviser=False, created_at=utcnow())
    _apply(suggestion, data, period, rows, guidance_version)
    session.add(suggestion)
    session.flush()
    deps.audit_record(session, "create", suggestion, clinician.principal)
    return view(session, suggestion)


def _check_replaceable(session: Session, clinician: Clinician, supersedes_id: uuid.UUID | None,
                       nhs_number: str) -> None:
    if supersedes_id:
        try:
            replaced = load(session, clinician, supersedes_id)
        except NotFound:  # a field of the body: a field error, not a missing resource
            raise domain.RuleViolation([{"location": "json", "pointer": "/supersedes_id",
                                         "detail": f"No suggestion {supersedes_id} to replace."}]) from None
        if replaced.status not in domain.ACTIVE:
            raise Conflict(f"Suggestion {replaced.id} is {replaced.status}; only an issued one can be replaced.")
        _check_same_patient(replaced, nhs_number)


def _check_same_patient(replaced: Suggestion, nhs_number: str) -> None:
    """Replacing ends the older advice and its employer link: never another patient's."""
    if replaced.nhs_number != nhs_number:
        raise domain.RuleViolation([{"location": "json", "pointer": "/supersedes_id",
                                     "detail": f"Suggestion {replaced.id} is for another patient (a different NHS "
                                               "number); a suggestion can only replace one for the same patient."}])


def update_draft(session: Session, deps: Deps, clinician: Clinician, suggestion_id: uuid.UUID,
                 data: dict[str, Any], today: date) -> dict[str, Any]:
    suggestion = load(session, clinician, suggestion_id, for_update=True)
    domain.check_transition("update", suggestion.status)
    domain.check_version(data["version"], suggestion.version)
    period, rows, guidance_version = _validated(session, deps, data, today)
    _check_replaceable(session, clinician, data.get("supersedes_id"), data["patient"]["nhs_number"])
    _apply(suggestion, data, period, rows, guidance_version)
    suggestion.supersedes_id = data.get("supersedes_id")
    suggestion.version += 1
    deps.audit_record(session, "update", suggestion, clinician.principal)
    return view(session, suggestion)


# Issuing is the hot path (a clinician issues at the end of every consultation): one UPDATE that
# moves the draft on and returns the stored suggestion (no select-then-flush), then three inserts
# with statements built once. A refused update is explained by a second, cheap read.
_SUGGESTIONS = Suggestion.__table__
_ISSUE = (sa.update(_SUGGESTIONS)
          .where(_SUGGESTIONS.c.id == sa.bindparam("b_id"), _SUGGESTIONS.c.practice_id == sa.bindparam("b_practice"),
                 _SUGGESTIONS.c.status == "draft", _SUGGESTIONS.c.version == sa.bindparam("b_version"),
                 _SUGGESTIONS.c.erased_at.is_(None))
          .values(status="issued", version=_SUGGESTIONS.c.version + 1, issued_at=sa.bindparam("b_now"),
                  updated_at=sa.bindparam("b_now"))
          .returning(*_SUGGESTIONS.c))
_STATUS = sa.select(_SUGGESTIONS.c.id, _SUGGESTIONS.c.status, _SUGGESTIONS.c.version, _SUGGESTIONS.c.erased_at).where(
    _SUGGESTIONS.c.id == sa.bindparam("b_id"), _SUGGESTIONS.c.practice_id == sa.bindparam("b_practice"))
_NEW_LINK = EmployerLink.__table__.insert()
_NEW_REFERRAL_REQUEST = ReferralRequest.__table__.insert()
_REFERRAL_COLUMNS = list(ReferralRequest.__table__.columns)


def issue(session: Session, deps: Deps, clinician: Clinician, suggestion_id: uuid.UUID, version: int,
          today: date) -> dict[str, Any]:
    now = utcnow()
    connection = session.connection()
    suggestion = connection.execute(_ISSUE, {"b_id": suggestion_id, "b_practice": clinician.practice_id,
                                             "b_version": version, "b_now": now}).one_or_none()
    if suggestion is None:
        _explain_refusal(connection, clinician, suggestion_id, "issue", version)
    # Re-checked at issue (today may have moved on since the draft); a broken rule rolls the update back.
    # The disclosure rule reads the library's synonyms as they are now, as a write does: one added since the
    # draft was written (a private condition's other name in its functional effects) is caught here.
    guidance = deps.guidance.get(session)
    domain.check_suggestion(_as_input(suggestion), today=today,
                            known_adjustments=_still_offered(guidance, suggestion.recommendations),
                            condition_library=guidance.condition_library)
    if suggestion.supersedes_id:
        _supersede(session, deps, clinician, suggestion)
    link_expires_at = open_link_round(connection, deps, suggestion.id, suggestion.version, now)
    deps.outbox.publish(session, "adjustments.suggestion.issued", issued_data(suggestion, now))
    if suggestion.refer_to_employment_adviser:
        _request_referral(session, deps, clinician, suggestion, outcomes_to_gp=suggestion.outcomes_to_gp)
    deps.audit_record(session, "update", suggestion, clinician.principal, purpose="issue")
    return state(suggestion, link_expires_at=link_expires_at)


def _still_offered(guidance: knowledge.GuidanceIndex, rows: list[dict[str, Any]]) -> set[str]:
    """The draft's library adjustments the library still offers: one retired since the draft was written (its advice
    withdrawn by the alliance) is refused at issue as at a write. A renamed id counts as its replacement."""
    live = guidance.adjustments
    return {row["adjustment_id"] for row in rows if row.get("adjustment_id") and (
        row["adjustment_id"] in live or knowledge.current_adjustment_id(row["adjustment_id"]) in live)}


def _explain_refusal(connection, clinician: Clinician, suggestion_id: uuid.UUID, action: str, version: int) -> None:
    """Why a guarded update matched no row: 404, the wrong status, or a stale version (409)."""
    current = connection.execute(_STATUS, {"b_id": suggestion_id, "b_practice": clinician.practice_id}).one_or_none()
    if current is None:
        raise NotFound(f"No suggestion {suggestion_id}.")
    if current.erased_at is not None:
        raise Erased(current)
    domain.check_transition(action, current.status)
    domain.check_version(version, current.version)
    raise Conflict("The suggestion changed while you were issuing it. Reload it and try again.")


def open_link_round(connection, deps: Deps, suggestion_id: uuid.UUID, suggestion_version: int,
                    now: datetime) -> datetime:
    """A fresh single-use employer link for this version of the suggestion; returns its expiry."""
    expires_at = now + deps.link_ttl
    connection.execute(_NEW_LINK, {"id": uuid.uuid4(), "suggestion_id": suggestion_id,
                                   "suggestion_version": suggestion_version, "created_at": now,
                                   "expires_at": expires_at, "used_at": None, "revoked_at": None})
    return expires_at


def _supersede(session: Session, deps: Deps, clinician: Clinician, suggestion: Suggestion) -> None:
    replaced = load(session, clinician, suggestion.supersedes_id, for_update=True)
    domain.check_transition("supersede", replaced.status)
    _check_same_patient(replaced, suggestion.nhs_number)
    now = utcnow()
    replaced.status, replaced.ended_at, replaced.updated_at = "superseded", now, now
    replaced.withdrawn_reason = "replaced"
    replaced.version += 1
    revoke_usable_links(session, replaced.id, now)
    deps.outbox.publish(session, "adjustments.suggestion.withdrawn", {
        "suggestion_id": replaced.id, "practice_id": replaced.practice_id, "version": replaced.version,
        "reason": "replaced", "superseded_by_id": suggestion.id, "occurred_at": now})
    deps.audit_record(session, "update", replaced, clinician.principal, purpose="supersede")


def amend(session: Session, deps: Deps, clinician: Clinician, suggestion_id: uuid.UUID, data: dict[str, Any],
          today: date) -> dict[str, Any]:
    suggestion = load(session, clinician, suggestion_id, for_update=True)
    domain.check_transition("amend", suggestion.status)
    domain.check_version(data["version"], suggestion.version)
    if data.get("supersedes_id") != suggestion.supersedes_id:
        raise domain.RuleViolation([{"location": "json", "pointer": "/supersedes_id",
                                     "detail": "An amendment cannot change which suggestion this one replaces."}])
    if data["patient"]["nhs_number"] != suggestion.nhs_number:
        raise domain.RuleViolation([{"location": "json", "pointer": "/patient/nhs_number",
                                     "detail": "An amendment cannot change the patient (the NHS number): write a "
                                               "new suggestion for them."}])
    period, rows, guidance_version = _validated(session, deps, data, today)
    had_referral_consent, review_date = suggestion.refer_to_employment_adviser, suggestion.review_date
    _apply(suggestion, data, period, rows, guidance_version)
    if suggestion.review_date != review_date:
        suggestion.review_due_notified_on = None  # a new review date is announced when it comes
    suggestion.status = "amended"
    suggestion.version += 1
    _new_response_round(session, deps, suggestion)
    deps.outbox.publish(session, "adjustments.suggestion.amended", issued_data(suggestion, suggestion.updated_at))
    if suggestion.refer_to_employment_adviser and not had_referral_consent and not has_open_request(session, suggestion):
        _request_referral(session, deps, clinician, suggestion, outcomes_to_gp=suggestion.outcomes_to_gp)
    elif had_referral_consent and not suggestion.refer_to_employment_adviser:
        withdraw_referral_requests(session, deps, clinician.principal, suggestion)
    deps.audit_record(session, "update", suggestion, clinician.principal, purpose="amend")
    return view(session, suggestion)


def _new_response_round(session: Session, deps: Deps, suggestion: Suggestion) -> None:
    """The amended advice needs its own answer: the unused link of the earlier letter stops
    working (410) and the amended letter carries a fresh single-use link. Earlier answers stay."""
    now = utcnow()
    session.execute(sa.update(EmployerLink)
                    .where(EmployerLink.suggestion_id == suggestion.id, EmployerLink.used_at.is_(None),
                           EmployerLink.revoked_at.is_(None))
                    .values(revoked_at=now).execution_options(synchronize_session=False))
    open_link_round(session.connection(), deps, suggestion.id, suggestion.version, now)


def withdraw(session: Session, deps: Deps, clinician: Clinician, suggestion_id: uuid.UUID, version: int,
             reason: str) -> dict[str, Any]:
    suggestion = load(session, clinician, suggestion_id, for_update=True)
    domain.check_transition("withdraw", suggestion.status)
    domain.check_version(version, suggestion.version)
    end_as_withdrawn(session, deps, suggestion, reason, clinician.principal)
    return state(suggestion)


def end_as_withdrawn(session: Session, deps: Deps, suggestion: Suggestion, reason: str, principal: Principal,
                     purpose: str = "withdraw") -> None:
    """An issued suggestion withdrawn (its employer link dies with it): published and audited."""
    now = utcnow()
    suggestion.status, suggestion.withdrawn_reason, suggestion.ended_at, suggestion.updated_at = (
        "withdrawn", reason, now, now)
    suggestion.version += 1
    revoke_usable_links(session, suggestion.id, now)
    deps.outbox.publish(session, "adjustments.suggestion.withdrawn", {
        "suggestion_id": suggestion.id, "practice_id": suggestion.practice_id, "version": suggestion.version,
        "reason": reason, "superseded_by_id": None, "occurred_at": now})
    deps.audit_record(session, "update", suggestion, principal, purpose=purpose)


def request_referral(session: Session, deps: Deps, clinician: Clinician, suggestion_id: uuid.UUID, version: int,
                     outcomes_to_gp: bool | None = None) -> dict[str, Any]:
    """`outcomes_to_gp` None: as the suggestion records the patient's consent (false unless asked)."""
    suggestion = load(session, clinician, suggestion_id, for_update=True)
    domain.check_transition("request_referral", suggestion.status)
    domain.check_version(version, suggestion.version)
    if not suggestion.refer_to_employment_adviser:
        raise Conflict("The patient's consent to a referral to an employment adviser is not recorded on this "
                       "suggestion. Record it (amend the suggestion's consent) before referring.",
                       missing_consent="refer_to_employment_adviser")
    if has_open_request(session, suggestion):
        raise Conflict("A referral has already been requested from this suggestion.")
    if outcomes_to_gp and not suggestion.outcomes_to_gp:
        # The request carries the consent as the suggestion records it: a request saying yes where the patient was
        # not asked (or said no) would hand the adviser a consent no record holds.
        raise Conflict("The patient's consent to the adviser reporting outcomes to the practice is not recorded on "
                       "this suggestion. Record it (amend the suggestion's consent) before asking for it.",
                       missing_consent="outcomes_to_gp")
    if outcomes_to_gp is None:
        outcomes_to_gp = suggestion.outcomes_to_gp
    request = _request_referral(session, deps, clinician, suggestion, outcomes_to_gp)
    return {"request_id": request.id, "status": request.status}


# A request whose consent was withdrawn is over (its referral is being cancelled), whatever
# lifecycle status arrives for it meanwhile: re-consenting starts a new request.
CONSENT_WITHDRAWN = "consent_withdrawn"
# Lifecycle steps after which a referral is over (entered in error: withdrawn from every count).
REFERRAL_ENDED = ("rejected", "cancelled", "failed", "completed", "entered_in_error")


def withdraw_referral_consent(session: Session, deps: Deps, clinician: Clinician, suggestion_id: uuid.UUID,
                              version: int) -> dict[str, Any]:
    """The patient withdrew their consent to the referral (also once the advice has ended, which
    an amendment cannot record): the consent is cleared and every request sent is withdrawn."""
    suggestion = load(session, clinician, suggestion_id, for_update=True)
    domain.check_transition("withdraw_referral_consent", suggestion.status)
    domain.check_version(version, suggestion.version)
    if not suggestion.refer_to_employment_adviser:
        raise Conflict("The patient's consent to a referral is not recorded on this suggestion; there is nothing "
                       "to withdraw.", missing_consent="refer_to_employment_adviser")
    now = utcnow()
    suggestion.refer_to_employment_adviser = suggestion.referral_updates_by_email = suggestion.outcomes_to_gp = False
    suggestion.consent_recorded_at = suggestion.updated_at = now
    suggestion.version += 1
    withdraw_referral_requests(session, deps, clinician.principal, suggestion)
    deps.audit_record(session, "update", suggestion, clinician.principal, purpose="withdraw_referral_consent")
    return state(suggestion)


def request_is_open() -> sa.ColumnElement[bool]:
    """A referral request still running: neither its referral ended nor the patient's consent withdrawn."""
    return sa.and_(ReferralRequest.status.notin_((*REFERRAL_ENDED, CONSENT_WITHDRAWN)),
                   ReferralRequest.reason.is_distinct_from(CONSENT_WITHDRAWN))


def has_open_request(session: Session, suggestion: Suggestion) -> bool:
    return bool(session.scalar(sa.select(sa.func.count()).select_from(ReferralRequest).where(
        ReferralRequest.suggestion_id == suggestion.id, request_is_open())))


def withdraw_referral_requests(session: Session, deps: Recorder, principal: Principal, suggestion: Suggestion) -> None:
    """The patient withdrew their consent to the referral: every request already sent from this
    suggestion is ended (restricted event, same topic and key as the request, so it follows it;
    the referrals service cancels the referral and stops sharing). Nothing is sent if none was."""
    now = utcnow()
    requests = session.scalars(sa.select(ReferralRequest).where(ReferralRequest.suggestion_id == suggestion.id)
                               .with_for_update()).all()
    for request in requests:
        if CONSENT_WITHDRAWN in (request.status, request.reason):
            continue  # already withdrawn (an earlier amendment)
        request.status, request.reason, request.status_changed_at = CONSENT_WITHDRAWN, CONSENT_WITHDRAWN, now
        deps.outbox.publish(session, "adjustments.referral.consent_withdrawn", {
            "request_id": request.id, "suggestion_id": suggestion.id, "practice_id": suggestion.practice_id,
            "consent_id": request.consent_id, "recorded_by": principal.subject, "withdrawn_at": now})
    if requests:
        deps.audit_record(session, "update", suggestion, principal, purpose="referral_consent_withdrawn")


def _request_referral(session: Session, deps: Deps, clinician: Clinician, suggestion: Suggestion,
                      outcomes_to_gp: bool) -> ReferralRequest:
    """Only ever called with the referral consent recorded: the restricted hand-over."""
    assert suggestion.refer_to_employment_adviser
    consented_at = _aware(suggestion.consent_recorded_at or utcnow())  # SQLite reads it back naive
    request = ReferralRequest(id=uuid.uuid4(), suggestion_id=suggestion.id, practice_id=suggestion.practice_id,
                              clinician_id=clinician.subject, consent_id=uuid.uuid4(), consented_at=consented_at,
                              outcomes_to_gp=outcomes_to_gp, requested_at=utcnow(), status="requested",
                              referral_version=0)
    # A plain insert (issuing is the hot path): no unit-of-work flush for one new row.
    session.execute(_NEW_REFERRAL_REQUEST, {c.key: getattr(request, c.key) for c in _REFERRAL_COLUMNS})
    person = {"nhs_number": suggestion.nhs_number, "given_name": suggestion.given_name,
              "family_name": suggestion.family_name, "birth_date": suggestion.birth_date}
    person |= {k: getattr(suggestion, k) for k in ("postcode", "email", "phone") if getattr(suggestion, k)}
    deps.outbox.publish(session, "adjustments.referral.requested", {
        "request_id": request.id, "suggestion_id": suggestion.id, "practice_id": suggestion.practice_id,
        "clinician_id": clinician.subject, "consent_id": request.consent_id, "consented_at": consented_at,
        "outcomes_to_gp": outcomes_to_gp, "person": person, "fit_note_decision": suggestion.decision,
        "adjustment_categories": suggestion.categories,
        "updates_by_email": bool(suggestion.referral_updates_by_email and suggestion.email),
        "referrer": _referrer(suggestion, clinician.principal)})
    deps.audit_record(session, "share", suggestion, clinician.principal, purpose="referral_request")
    return request


def _referrer(suggestion: Suggestion, principal: Principal) -> dict[str, str]:
    """Who referred, for the adviser: the issuer's name as on the letter, their profession, the practice's name."""
    found = {"name": suggestion.issuer_name or principal.name, "profession": suggestion.issuer_profession,
             "organisation_name": principal.organisation_name}
    return {key: value for key, value in found.items() if value}


def issued_data(suggestion: Suggestion, occurred_at: datetime) -> dict[str, Any]:
    rows = suggestion.recommendations
    return {
        "suggestion_id": suggestion.id, "practice_id": suggestion.practice_id, "version": suggestion.version,
        "guidance_version": suggestion.guidance_version, "decision": suggestion.decision,
        "categories": suggestion.categories,
        # a draft written before a rename stores the old id; the event names the adjustment as it is now
        "adjustment_ids": [knowledge.current_adjustment_id(r["adjustment_id"]) for r in rows if r.get("adjustment_id")],
        "free_text_recommendations": sum(1 for r in rows if not r.get("adjustment_id")),
        "issuer_profession": suggestion.issuer_profession, "period_start": suggestion.period_start,
        "period_end": suggestion.period_end, "review_date": suggestion.review_date,
        "reassessment_needed": suggestion.reassessment_needed,
        "shared_with_employer": suggestion.share_with_employer,
        "occupational_health_suggested": suggestion.occupational_health_suggested,
        "access_to_work_signposted": suggestion.access_to_work_signposted,
        "supersedes_id": suggestion.supersedes_id, "occurred_at": occurred_at,
    }


def _as_input(suggestion: Suggestion) -> dict[str, Any]:
    """A stored suggestion in the shape the rules check (re-checked at issue: today may have moved)."""
    return {
        "patient": {"nhs_number": suggestion.nhs_number, "birth_date": suggestion.birth_date},
        "issuer": {"name": suggestion.issuer_name, "profession": suggestion.issuer_profession},
        "assessment": {"date": suggestion.assessment_date, "condition_started_on": suggestion.condition_started_on},
        "conditions": suggestion.conditions, "decision": suggestion.decision, "categories": suggestion.categories,
        "functional_effects": suggestion.functional_effects, "recommendations": suggestion.recommendations,
        "period": {"start": suggestion.period_start, "end": suggestion.period_end},
        "review_date": suggestion.review_date, "job": suggestion.job,
        "consent": {"share_with_employer": suggestion.share_with_employer},
    }


# --- scheduled sweeps -------------------------------------------------------------------


def sweep(session: Session, outbox: Outbox, today: date) -> dict[str, int]:
    """Expire suggestions whose period ended; announce those reaching their review date."""
    now = utcnow()
    expired = session.scalars(sa.select(Suggestion).where(
        Suggestion.status.in_(domain.ACTIVE), Suggestion.period_end < today).with_for_update()).all()
    for suggestion in expired:
        suggestion.status, suggestion.ended_at, suggestion.updated_at = "expired", now, now
        suggestion.version += 1
        outbox.publish(session, "adjustments.suggestion.expired", {
            "suggestion_id": suggestion.id, "practice_id": suggestion.practice_id, "version": suggestion.version,
            "period_end": suggestion.period_end, "occurred_at": now})
    due = session.scalars(sa.select(Suggestion).where(
        Suggestion.status.in_(domain.ACTIVE), Suggestion.review_date <= today,
        Suggestion.review_due_notified_on.is_(None)).with_for_update()).all()
    for suggestion in due:
        suggestion.review_due_notified_on = today
        outbox.publish(session, "adjustments.suggestion.review_due", {
            "suggestion_id": suggestion.id, "practice_id": suggestion.practice_id, "version": suggestion.version,
            "review_date": suggestion.review_date, "occurred_at": now})
    return {"expired": len(expired), "review_due": len(due)}


def flag_unanswered_requests(session: Session, outbox: Outbox, now: datetime, answer_within: timedelta,
                             clinician_key: str) -> int:
    """Mark each open referral request the referrals service has not answered at all (no lifecycle event) for
    `answer_within` as not yet received, and tell operations once (a broadcast event, ids and times only).

    The request's status stays `requested`: we do not know referrals' state, only that nothing came back
    (its hand-over dead-lettered, referrals down for days, a bug). A late answer clears the mark
    (events.on_referral_lifecycle); a request already marked is never marked or announced again."""
    unanswered = session.scalars(sa.select(ReferralRequest).where(
        request_is_open(), ReferralRequest.referral_version == 0, ReferralRequest.unanswered_at.is_(None),
        ReferralRequest.requested_at <= now - answer_within).with_for_update()).all()
    for request in unanswered:
        request.unanswered_at = now
        outbox.publish(session, "adjustments.referral_request.unanswered", {
            "request_id": request.id, "suggestion_id": request.suggestion_id, "practice_id": request.practice_id,
            "clinician_id": clinician_reference(request.clinician_id, clinician_key),  # never the login id
            "requested_at": _aware(request.requested_at), "occurred_at": now})
    return len(unanswered)


def revoke_usable_links(session: Session, suggestion_id: uuid.UUID, now: datetime) -> None:
    """An ending closes the employer link still usable, as the record says (`revoked_at`: a subject access export
    and the audit read it): a withdrawn or replaced suggestion's link showed neither used, revoked nor expired. One
    used or expired already keeps that as its end."""
    session.execute(sa.update(EmployerLink).where(
        EmployerLink.suggestion_id == suggestion_id, EmployerLink.used_at.is_(None),
        EmployerLink.revoked_at.is_(None), EmployerLink.expires_at > now)
        .values(revoked_at=now).execution_options(synchronize_session=False))


# --- the employer's single-use link --------------------------------------------------------


def link_token(secret: str, link_id: uuid.UUID) -> str:
    """Derived, not stored: the letter can be reprinted, and a database leak reveals no live link."""
    mac = hmac.new(secret.encode(), link_id.hex.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{link_id.hex}.{mac}"


def link_for(session: Session, deps: Deps, suggestion: Suggestion) -> str | None:
    """The token the letter prints: the current round's link (none once revoked)."""
    link = current_link(session, suggestion.id)
    return link_token(deps.link_secret, link.id) if link and link.revoked_at is None else None


def _signed_by_any(token: str, link_id: uuid.UUID, secrets: tuple[str, ...]) -> bool:
    """Made with the current secret or one a rotation retired (a letter printed before it); every one
    compared, so the time taken does not tell which."""
    matches = [hmac.compare_digest(link_token(secret, link_id), token) for secret in secrets]
    return any(matches)


class LinkGone(domain.DomainError):
    status = 410


def _signed_link_id(deps: Deps, token: str) -> uuid.UUID:
    """The id of the link a token names, once its signature is checked (404 for any token we did not make)."""
    link_hex, _, _mac = token.partition(".")
    try:
        link_id = uuid.UUID(hex=link_hex)
    except ValueError:
        raise NotFound("This link is not valid. Check it was copied in full.") from None
    if not _signed_by_any(token, link_id, (deps.link_secret, *deps.previous_link_secrets)):
        raise NotFound("This link is not valid. Check it was copied in full.")
    return link_id


def answered_link(session: Session, deps: Deps, token: str) -> tuple[EmployerLink, Suggestion] | None:
    """The link and its advice once an answer was recorded with it (the employer's confirmation page, read again on a
    refresh or Back), else None: not yet answered."""
    link = session.get(EmployerLink, _signed_link_id(deps, token))
    if link is None:
        raise NotFound("This link is not valid.")
    if link.used_at is None:
        return None
    return link, session.get(Suggestion, link.suggestion_id)


def open_link(session: Session, deps: Deps, token: str, *, for_update: bool = False) -> tuple[EmployerLink, Suggestion]:
    query = sa.select(EmployerLink).where(EmployerLink.id == _signed_link_id(deps, token))
    link = session.scalar(query)
    if link is None:
        raise NotFound("This link is not valid.")
    if for_update:
        # The advice first, then its link: the order amending, withdrawing, expiring and erasing lock them in.
        # Link first deadlocked with an amendment (it locks the advice, then retires the link), and an answer
        # racing a withdrawal was recorded after it. Each lock waits for a concurrent writer's commit, and the
        # rows must then be read afresh, not taken from the session as they were (a page read them before).
        session.get(Suggestion, link.suggestion_id, with_for_update=True, populate_existing=True)
        link = session.scalar(query.with_for_update().execution_options(populate_existing=True))
    suggestion = session.get(Suggestion, link.suggestion_id)
    if suggestion.erased_at is not None:  # at the patient's request or past retention: said as its status
        raise LinkGone(f"This advice is no longer current (it was {suggestion.status}).", reason=suggestion.status)
    if suggestion.status in NO_LONGER_VALID:  # said first: a used or amended letter's advice was ended too
        raise LinkGone(ended_for_the_employer(suggestion), reason=suggestion.status)
    if link.used_at is not None:
        raise LinkGone("A response has already been recorded with this link. Each link can be used once.")
    if link.revoked_at is not None:
        raise LinkGone("This advice has been amended since this letter was written. Use the link in the newer "
                       "letter your employee gives you.", reason="amended")
    if _aware(link.expires_at) <= utcnow():
        raise LinkGone("This link has expired. Ask your employee for an up-to-date letter.", reason="expired")
    if suggestion.status not in domain.ACTIVE:
        raise LinkGone(f"This advice is no longer current (it was {suggestion.status}).", reason=suggestion.status)
    if suggestion.period_end is not None and suggestion.period_end < domain.uk_today():
        # Ended, though the hourly sweep has not yet marked it expired: the employer answers current advice only.
        raise LinkGone("This advice is no longer current (it was expired).", reason="expired")
    if not suggestion.share_with_employer:
        # The letter prints no link without the patient's consent: no answer about them is taken without it.
        raise NotFound("This link is not valid.")
    return link, suggestion


def ended_for_the_employer(suggestion: Suggestion) -> str:
    """What an employer holding the letter's link is told of advice ended: when, and that it no longer stands;
    never why (a withdrawal's reason - the condition changed, the patient asked - is the patient's), nor the newer
    advice (its letter is the patient's to give, with its own link, if they agreed to share it)."""
    on = domain.long_date(domain.uk_today(suggestion.ended_at)) if suggestion.ended_at else None
    when = f" on {on}" if on else ""
    if suggestion.status == "superseded":
        return (f"The advice in this letter was replaced by newer advice from the GP practice{when} and is no longer "
                "valid. Please do not act on it: your employee can give you the newer letter.")
    return (f"The advice in this letter was withdrawn by the GP practice{when} and is no longer valid. Please do not "
            "act on it.")


def employer_view(session: Session, deps: Deps, token: str) -> dict[str, Any]:
    """What the employer was advised, as the letter says it: no diagnosis unless the patient agreed
    to disclose it, no NHS number, date of birth or contact details. The read is audited."""
    link, suggestion = open_link(session, deps, token)
    employer = Principal(subject=f"employer-link:{link.id}", role="employer")
    deps.audit_record(session, "read", suggestion, employer, purpose="employer_response_form")
    shared = suggestion.share_with_employer
    return {
        "employee": {"given_name": suggestion.given_name, "family_name": suggestion.family_name},
        "issuer": {"name": suggestion.issuer_name, "profession": suggestion.issuer_profession},
        "suggestion_version": link.suggestion_version or suggestion.version,
        "amended": suggestion.status == "amended",
        "assessment_date": suggestion.assessment_date,
        "decision": suggestion.decision,
        "categories": suggestion.categories,
        "disclosed_conditions": [c["text"] for c in suggestion.conditions if shared and c.get("disclose")],
        "functional_effects": suggestion.functional_effects,
        "period": {"start": suggestion.period_start, "end": suggestion.period_end},
        "reassessment_needed": suggestion.reassessment_needed,
        # No library id: ids are the library's codes, not the employer's; the employer answers by index.
        "recommendations": [{"index": i, "title": r.get("title") or "Recommended change", "difficulty": r.get("difficulty") or "",
                             "advice": " ".join(t for t in (r.get("employer_text"), r.get("free_text")) if t),
                             "schedule": r.get("schedule") or []}
                            for i, r in enumerate(suggestion.recommendations)],
        "link_expires_at": link.expires_at,
        "outcomes": list(domain.EMPLOYER_OUTCOMES),
    }


def record_employer_response(session: Session, deps: Deps, token: str, data: dict[str, Any]) -> EmployerResponse:
    link, suggestion = open_link(session, deps, token, for_update=True)
    rows = suggestion.recommendations
    by_index = {item["index"]: item for item in data["items"]}
    errors = [{"location": "json", "pointer": f"/items/{i}/index", "detail": "No recommendation with this number."}
              for i, item in enumerate(data["items"]) if not 0 <= item["index"] < len(rows)]
    errors += [{"location": "json", "pointer": f"/items/{i}/index", "detail": "This recommendation is answered twice."}
               for i, item in enumerate(data["items"]) if item["index"] in [x["index"] for x in data["items"][:i]]]
    if len(by_index) != len(rows) and not errors:
        errors.append({"location": "json", "pointer": "/items", "detail": "Answer every recommendation once."})
    if errors:
        raise domain.RuleViolation(errors)
    items = [{"index": i, "adjustment_id": rows[i].get("adjustment_id"),
              "title": rows[i].get("title") or (rows[i].get("free_text") or "")[:200],
              "outcome": by_index[i]["outcome"], "reason": by_index[i].get("reason", "")} for i in range(len(rows))]
    now = utcnow()
    answered = link.suggestion_version or suggestion.version
    response = EmployerResponse(id=uuid.uuid4(), suggestion_id=suggestion.id, link_id=link.id,
                                suggestion_version=answered,
                                outcome=domain.overall_outcome([i["outcome"] for i in items]), items=items,
                                comments=data.get("comments", ""), responder_name=data["responder_name"],
                                responder_role=data.get("responder_role", ""),
                                effective_from=data.get("effective_from"), recorded_at=now)
    session.add(response)
    link.used_at = now
    try:
        session.flush()  # the unique link_id is the last guard of single use
    except IntegrityError:
        raise LinkGone("A response has already been recorded with this link. Each link can be used once.") from None
    deps.outbox.publish(session, "adjustments.employer_response.recorded", {
        "response_id": response.id, "suggestion_id": suggestion.id, "practice_id": suggestion.practice_id,
        "clinician_id": clinician_reference(suggestion.clinician_id, deps.clinician_key),  # never the login id
        "suggestion_version": answered, "outcome": response.outcome,
        "items": [{"adjustment_id": knowledge.current_adjustment_id(i["adjustment_id"]), "outcome": i["outcome"]}
                  for i in items],  # an answer to a letter written before a rename: the id as it is now
        "effective_from": response.effective_from, "occurred_at": now})
    employer = Principal(subject=f"employer-link:{link.id}", role="employer")
    deps.audit_record(session, "update", suggestion, employer, purpose="employer_response")
    return response


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    from datetime import timezone
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
