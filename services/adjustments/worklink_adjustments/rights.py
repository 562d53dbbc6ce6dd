"""Records retention and a person's rights (no Flask): erasing the patient's details from ended
suggestions, a subject access export, and erasure on request.

A suggestion is a copy of advice the clinician also records in the GP record, which is the record of
truth; this service keeps it while it is in use and for ADJUSTMENTS_RETENTION_YEARS (6) after its last
activity. Erasing keeps what the audit trail and any count need - ids, the practice, the clinician's user
id, status, version, dates, the guidance version, codes (decision, fit-note categories, library
condition, adjustment and job-task ids, withdrawal reason, employer outcomes, referral status), consent
flags - and removes everything that identifies or describes the patient: NHS number, name, birth date,
contact details, every typed text (the clinician's wording of the conditions, functional effects,
difficulties, free-text advice and its week-by-week plan, job title, employer, notes, the issuer's typed
name) and the employer's answer in their words (comments, reasons, who answered). A still-usable
employer link is revoked; a referral request's copy of the person (the restricted event, while the
outbox keeps it) is deleted; the audit trail keeps every row but names the suggestion instead of the
patient's reference (the keyed pseudonym of their NHS number it names them by while they are held, which
anyone holding the key and the number could still match). Every erasure is audited (action "erase", one
row per suggestion).

A referral request nobody answered for the whole retention period (its hand-over dead-lettered and never
re-driven, say) no longer keeps an ended suggestion for ever: the sweep withdraws the consent it was made
with, as the patient's own withdrawal does (the referrals service hears it and makes no referral from it),
then erases the suggestion as usual.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from worklink import retention
from worklink.audit import AuditTrail
from worklink.auth import Principal
from worklink.db import Database
from worklink.messaging.outbox import Outbox
from worklink.retention import NothingHeld
from worklink_adjustments import domain, services
from worklink_adjustments.models import PLATFORM, EmployerLink, EmployerResponse, ReferralRequest, Suggestion
from worklink_adjustments.services import RESOURCE, Deps, Recorder, person_reference

log = logging.getLogger(__name__)
RETENTION_VARIABLE = "ADJUSTMENTS_RETENTION_YEARS"
DEFAULT_RETENTION_YEARS = 6
# Ended: withdrawn, superseded or expired advice, and a draft nobody has changed for the whole period
# (abandoned). Issued or amended advice is still the patient's current advice: never erased.
ENDED = ("draft", "withdrawn", "superseded", "expired")
AUDIT = AuditTrail(PLATFORM)
_PATIENT_FIELDS = ("nhs_number", "given_name", "family_name", "birth_date", "email", "phone", "postcode",
                   "issuer_name")
_KEPT_RECOMMENDATION = ("adjustment_id", "fit_note_category", "title", "employer_text")  # codes, library wording
_KEPT_ANSWER = ("index", "adjustment_id", "outcome")


def retention_years(env) -> int:
    return retention.retention_years(env, RETENTION_VARIABLE, DEFAULT_RETENTION_YEARS)


# --- erasing one suggestion ---------------------------------------------------------------------------


def erase(session: Session, recorder: Recorder, suggestion: Suggestion, now: datetime, *, purpose: str,
          principal: Principal) -> bool:
    """Erase the patient's details from an ended suggestion and what hangs off it; False if already erased.
    The caller holds the row (locked on PostgreSQL) and has ended it."""
    if suggestion.erased_at is not None:
        return False
    if suggestion.status not in ENDED:
        raise ValueError("current advice is never erased")  # a bug in the caller, not a request
    _pseudonymise_audit(session, suggestion, (recorder.person_key, *recorder.previous_person_keys))
    for name in _PATIENT_FIELDS:
        setattr(suggestion, name, None)
    suggestion.conditions = [{"condition_id": c.get("condition_id"), "disclose": bool(c.get("disclose"))}
                             for c in suggestion.conditions or []]
    suggestion.functional_effects = ""
    suggestion.recommendations = [{k: r[k] for k in _KEPT_RECOMMENDATION if r.get(k) is not None}
                                  for r in suggestion.recommendations or []]
    suggestion.job = {"tasks": list((suggestion.job or {}).get("tasks") or [])}
    suggestion.erased_at = suggestion.updated_at = now
    services.revoke_usable_links(session, suggestion.id, now)
    for response in session.scalars(sa.select(EmployerResponse).where(EmployerResponse.suggestion_id == suggestion.id)):
        response.comments = response.responder_name = response.responder_role = ""
        response.items = [{k: item.get(k) for k in _KEPT_ANSWER} for item in response.items or []]
    _drop_referral_hand_overs(session, recorder.outbox, suggestion.id)
    session.flush()
    record_erasure(session, [suggestion.id], purpose, principal)
    return True


def _pseudonymise_audit(session: Session, suggestion: Suggestion, person_keys: tuple[str, ...]) -> None:
    """The audit trail keeps every access to the suggestion, naming it instead of the patient's reference
    (which, with the key, would still find the person there after the erasure)."""
    audit = PLATFORM.audit_log
    session.execute(audit.update().where(audit.c.resource_type == RESOURCE, audit.c.resource_id == str(suggestion.id))
                    .values(person_id=str(suggestion.id)))
    nhs_number = suggestion.nhs_number
    still_held = nhs_number and session.scalar(sa.select(sa.exists().where(
        Suggestion.nhs_number == nhs_number, Suggestion.id != suggestion.id, Suggestion.erased_at.is_(None))))
    if nhs_number and not still_held:  # the last record naming the person: so must nothing else here
        # An admin's review of this person's accesses (worklink.audit_review) named them by their reference.
        # Under every key still configured: a reference a retired key made may not be re-keyed yet.
        references = [person_reference(nhs_number, key) for key in person_keys]
        reviews = audit.c.resource_type == "audit_log"
        session.execute(audit.update().where(reviews, audit.c.person_id.in_(references))
                        .values(person_id=str(suggestion.id)))
        session.execute(audit.update().where(reviews, audit.c.resource_id.in_(references))
                        .values(resource_id=str(suggestion.id)))


def _drop_referral_hand_overs(session: Session, outbox: Outbox, suggestion_id: uuid.UUID) -> int:
    """The restricted referral requests still in the outbox - unsent, or sent and not yet pruned (the relay
    keeps them a day) - carry the person's details: gone with the rest. Returns how many."""
    table = outbox.table
    ids = [str(rid) for rid in session.scalars(sa.select(ReferralRequest.id)
                                               .where(ReferralRequest.suggestion_id == suggestion_id))]
    if not ids:
        return 0
    return session.execute(table.delete().where(table.c.type == "adjustments.referral.requested",
                                                table.c.aggregateid.in_(ids))).rowcount or 0


def record_erasure(session: Session, suggestion_ids: Iterable[uuid.UUID], purpose: str, principal: Principal) -> None:
    """One audit row per erased suggestion, action "erase"."""
    AUDIT.record_many(session, action="erase", resource_type=RESOURCE, purpose=purpose, principal=principal,
                      records=[(str(sid), str(sid)) for sid in suggestion_ids])


# --- retention ----------------------------------------------------------------------------------------


def due_for_erasure(cutoff: datetime) -> sa.Select:
    """Ended, not yet erased suggestions whose last activity is before `cutoff`: the suggestion's own last
    change or end, and every employer link's creation, use, revocation and expiry (so an open link is never
    erased before it expires), employer answer and referral request step. A referral request still open
    with no news since `cutoff` does not keep it: it is stale (erase_expired_batch withdraws it first)."""
    S = Suggestion
    later_link = sa.exists().where(EmployerLink.suggestion_id == S.id, sa.or_(
        EmployerLink.created_at >= cutoff, EmployerLink.expires_at >= cutoff, EmployerLink.used_at >= cutoff,
        EmployerLink.revoked_at >= cutoff))
    later_answer = sa.exists().where(EmployerResponse.suggestion_id == S.id, EmployerResponse.recorded_at >= cutoff)
    later_request = sa.exists().where(ReferralRequest.suggestion_id == S.id, sa.or_(
        ReferralRequest.requested_at >= cutoff, ReferralRequest.status_changed_at >= cutoff))
    return (sa.select(S).where(
        S.erased_at.is_(None), S.status.in_(ENDED), S.updated_at < cutoff,
        sa.or_(S.ended_at.is_(None), S.ended_at < cutoff),
        ~later_link, ~later_answer, ~later_request)
        .order_by(S.updated_at, S.id))


def erase_expired_batch(session: Session, recorder: Recorder, cutoff: datetime, now: datetime,
                        limit: int = retention.BATCH) -> int:
    """Erase up to `limit` suggestions past retention; returns how many. PostgreSQL: rows another transaction
    holds are skipped this time (that transaction may give them later activity). FOR NO KEY UPDATE: an
    employer's answer or a link being inserted for the suggestion (a foreign key's KEY SHARE) is not
    blocked by it, so neither waits for the other in a cycle."""
    found = session.scalars(due_for_erasure(cutoff).limit(limit).with_for_update(key_share=True, skip_locked=True))
    return sum(_erase_past_retention(session, recorder, suggestion, now) for suggestion in found)


def _erase_past_retention(session: Session, recorder: Recorder, suggestion: Suggestion, now: datetime) -> bool:
    """A referral request still open after the whole period without news is stale: nobody will answer it (its
    hand-over was dead-lettered and never re-driven, say). Its consent is withdrawn as the patient's own
    withdrawal is (published, so the referrals service makes no referral from it if it ever arrives;
    audited), then the suggestion is erased."""
    if services.has_open_request(session, suggestion):
        services.withdraw_referral_requests(session, recorder, retention.SYSTEM, suggestion)
        log.info("stale referral request withdrawn before erasure", extra={"suggestion_id": str(suggestion.id)})
    return erase(session, recorder, suggestion, now, purpose=retention.RETENTION, principal=retention.SYSTEM)


def apply_retention(database: Database, recorder: Recorder, years: int, now: datetime,
                    limit: int = retention.BATCH) -> int:
    """The sweep's retention pass: batches in transactions of their own until none is left."""
    cutoff = retention.years_before(now, years)
    return retention.erase_in_batches(
        database, lambda session, size: erase_expired_batch(session, recorder, cutoff, now, size), limit)


# --- finding a person ---------------------------------------------------------------------------------


def person_suggestions(session: Session, nhs_number: str, principal: Principal, *,
                       lock: bool = False) -> list[Suggestion]:
    """Every suggestion held about the person with this NHS number that the caller answers for: all of them
    for an alliance admin, their own practice's for a practice's organisation admin. Oldest first. Erased
    suggestions hold no NHS number and are not found."""
    query = sa.select(Suggestion).where(Suggestion.nhs_number == nhs_number)
    if not principal.is_alliance_admin:
        query = query.where(Suggestion.practice_id == _organisation(principal))
    query = query.order_by(Suggestion.created_at, Suggestion.id)
    return list(session.scalars(query.with_for_update(key_share=True) if lock else query))  # as retention locks


def _organisation(principal: Principal) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(principal.organisation))
    except ValueError:
        return None  # an organisation that is no practice answers for no suggestion


# --- subject access ------------------------------------------------------------------------------------


def _columns(row: Any) -> dict[str, Any]:
    return {column.key: getattr(row, column.key) for column in row.__table__.columns}


def export(session: Session, suggestions: list[Suggestion]) -> dict[str, Any]:
    """Everything this service holds about the person across their suggestions - each suggestion as stored,
    its employer links (never a token: none is stored), the employer's answers, the referral requests - and
    who accessed each one (from the audit trail: when, which organisation and role, what for)."""
    ids = [s.id for s in suggestions]
    by_suggestion = {sid: {"employer_links": [], "employer_responses": [], "referral_requests": [], "accessed": []}
                     for sid in ids}
    for model, key, order in ((EmployerLink, "employer_links", EmployerLink.created_at),
                              (EmployerResponse, "employer_responses", EmployerResponse.recorded_at),
                              (ReferralRequest, "referral_requests", ReferralRequest.requested_at)):
        for row in session.scalars(sa.select(model).where(model.suggestion_id.in_(ids)).order_by(order)):
            by_suggestion[row.suggestion_id][key].append(_columns(row))
    audit = PLATFORM.audit_log.c
    for row in session.execute(sa.select(audit.resource_id, audit.occurred_at, audit.action, audit.actor_org,
                                         audit.actor_role, audit.purpose)
                               .where(audit.resource_type == RESOURCE, audit.resource_id.in_([str(i) for i in ids]))
                               .order_by(audit.id)):
        by_suggestion[uuid.UUID(row.resource_id)]["accessed"].append(
            {"occurred_at": row.occurred_at, "action": row.action, "organisation": row.actor_org,
             "role": row.actor_role, "purpose": row.purpose})
    return {"suggestions": [{**_columns(s), **by_suggestion[s.id]} for s in suggestions],
            "organisations": sorted({a["organisation"] for held in by_suggestion.values() for a in held["accessed"]
                                     if a["organisation"]})}


# --- erasure on request --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErasedSuggestion:
    suggestion_id: uuid.UUID
    status: str
    withdrawn: bool  # it was current advice: withdrawn (reason patient_request) first
    referral_consent_withdrawn: bool  # a referral request was open: consent withdrawn first


def erase_person(session: Session, deps: Deps, suggestions: list[Suggestion], reason: str, principal: Principal,
                 now: datetime) -> list[ErasedSuggestion]:
    """The person asked for erasure: what is still in use is ended first - current advice withdrawn
    (`patient_request`: the employer link dies, consumers hear it), open referral requests withdrawn (the
    referrals service cancels the referral) - then each suggestion is erased as retention erases an ended
    one. The caller holds the rows locked."""
    purpose = f"erasure request: {reason}"
    answer = []
    for suggestion in suggestions:
        if suggestion.erased_at is not None:
            continue  # found by id elsewhere: there is nothing left to erase
        withdrawn = suggestion.status in domain.ACTIVE
        if withdrawn:
            services.end_as_withdrawn(session, deps, suggestion, "patient_request", principal, purpose=purpose)
        open_requests = services.has_open_request(session, suggestion)
        if open_requests:
            services.withdraw_referral_requests(session, deps, principal, suggestion)
        erase(session, deps, suggestion, now, purpose=purpose, principal=principal)
        answer.append(ErasedSuggestion(suggestion.id, suggestion.status, withdrawn, open_requests))
    return answer


# --- the use cases the API and the pages share -----------------------------------------------------------


def subject_access(session: Session, recorder: Recorder, nhs_number: str, principal: Principal, *,
                   action: str = "export", purpose: str = "subject access request"
                   ) -> tuple[list[Suggestion], dict[str, Any]]:
    """The person's suggestions the caller answers for, and their export, each suggestion's access audited
    as `action` (an export, or a read of the summary). NothingHeld if there are none."""
    found = person_suggestions(session, nhs_number, principal)
    if not found:
        raise NothingHeld()
    recorder.audit_records(session, action, found, principal, purpose)
    return found, export(session, found)


def erase_on_request(session: Session, deps: Deps, nhs_number: str, reason: str, principal: Principal,
                     now: datetime) -> list[ErasedSuggestion]:
    """Erasure on the person's request: their suggestions locked, then erase_person. NothingHeld if there
    are none the caller answers for."""
    found = person_suggestions(session, nhs_number, principal, lock=True)
    if not found:
        raise NothingHeld()
    return erase_person(session, deps, found, reason, principal, now)
