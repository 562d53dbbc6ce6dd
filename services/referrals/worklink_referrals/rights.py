"""Records retention and a person's rights (no Flask): erasing a person's details from ended referrals,
a subject access export, and erasure on request.

Erasing keeps what insights and the audit trail need - ids, codes, dates, the postcode district, the
deprivation decile and other equity codes, the age band on the day of referral, outcome codes, the
history of steps (who did what, when) - and removes everything that identifies or describes the person:
NHS number, name, birth date, postcode, contact details, free text (the need, reasons, case notes, a
duplicate link's reason), the person's status link and the match key that links their referrals to
each other. Every erasure is audited (action "erase", one row per referral).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from worklink.audit import AuditTrail
from worklink.auth import Principal
from worklink.db import Database
from worklink.messaging.outbox import Outbox
from worklink.retention import BATCH, RETENTION, SYSTEM, NothingHeld, erase_in_batches, years_before
from worklink_referrals import access, insights, services
from worklink_referrals.config import ReferralSettings
from worklink_referrals.domain import TERMINAL
from worklink_referrals.models import PLATFORM, Outcome, Referral, SustainmentCheck, Transition

ENDED = tuple(sorted(s.value for s in TERMINAL))
AUDIT = AuditTrail(PLATFORM)
_PERSON_FIELDS = ("nhs_number", "given_name", "family_name", "birth_date", "postcode", "email", "mailbox_key",
                  "phone", "preferred_contact", "reason", "status_text", "duplicate_reason", "duplicate_of_id",
                  "replaces_id", "status_link_hash")


# --- erasing one referral ----------------------------------------------------------------------------


def erase(session: Session, referral: Referral, now: datetime, *, purpose: str, principal: Principal) -> bool:
    """Erase the person's details from an ended referral and what hangs off it; False if already erased.
    The caller holds the row (locked on PostgreSQL) and has checked it has ended."""
    if referral.erased_at is not None:
        return False
    if referral.status not in ENDED:
        raise ValueError("an open referral is never erased")  # a bug in the caller, not a request
    referral.age_band = insights.referral_age_band(referral)
    for name in _PERSON_FIELDS:
        setattr(referral, name, None)
    # The keyed name + birth date + postcode links the person's referrals: replaced by one that links nothing.
    referral.match_key = f"erased:{referral.id.hex}"
    referral.person_updates = False
    referral.erased_at = referral.updated_at = now
    for note in referral.notes:
        note.text = ""
    # A check still to do would send an adviser after a person who is no longer on the record.
    session.execute(sa.delete(SustainmentCheck).where(SustainmentCheck.referral_id == referral.id,
                                                      SustainmentCheck.done_at.is_(None)))
    session.flush()  # bumps the version: an action read before the erasure is refused (409)
    record_erasure(session, [referral.id], purpose, principal)
    return True


def record_erasure(session: Session, referral_ids: Iterable[uuid.UUID], purpose: str, principal: Principal) -> None:
    """One audit row per erased referral, action "erase"."""
    rows = AUDIT.rows(action="erase", resource_type="referral", purpose=purpose, principal=principal,
                      records=[(str(rid), str(rid)) for rid in referral_ids])
    if rows:
        session.execute(PLATFORM.audit_log.insert(), rows)


# --- retention ----------------------------------------------------------------------------------------


def due_for_erasure(cutoff: datetime) -> sa.Select:
    """Ended, not yet erased referrals whose last activity - closing, any later step or outcome, the last
    sustainment check due or done - is before `cutoff`. The person's answer about status emails is a step of the
    history but not activity: stopping them on an ended referral does not keep their record longer."""
    later_step = sa.exists().where(Transition.referral_id == Referral.id, Transition.occurred_at >= cutoff,
                                   Transition.action.notin_(list(services.STATUS_EMAIL_STEPS.values())))
    later_outcome = sa.exists().where(Outcome.referral_id == Referral.id, Outcome.recorded_at >= cutoff)
    later_check = sa.exists().where(SustainmentCheck.referral_id == Referral.id, sa.or_(
        SustainmentCheck.due_on >= cutoff.date(), SustainmentCheck.done_at >= cutoff))
    return (sa.select(Referral).where(
        Referral.status.in_(ENDED), Referral.erased_at.is_(None),
        sa.func.coalesce(Referral.closed_at, Referral.updated_at) < cutoff,
        ~later_step, ~later_outcome, ~later_check)
        .order_by(Referral.closed_at, Referral.id))


def erase_expired_batch(session: Session, cutoff: datetime, now: datetime, limit: int = BATCH) -> int:
    """Erase up to `limit` referrals past retention; returns how many. PostgreSQL: rows another transaction
    holds (an outcome being recorded) are skipped this time; that transaction's change may move their end."""
    found = session.scalars(due_for_erasure(cutoff).limit(limit).with_for_update(key_share=True, skip_locked=True))
    return sum(erase(session, referral, now, purpose=RETENTION, principal=SYSTEM) for referral in found)


def apply_retention(database: Database, settings: ReferralSettings, now: datetime, limit: int = BATCH) -> int:
    """The clock job's retention pass: batches in transactions of their own until none is left."""
    cutoff = years_before(now, settings.retention_years)
    return erase_in_batches(database, lambda session, size: erase_expired_batch(session, cutoff, now, size), limit)


# --- finding a person ---------------------------------------------------------------------------------


def person_referrals(session: Session, *, nhs_number: str | None = None, referral_id: uuid.UUID | None = None,
                     lock: bool = False) -> list[Referral]:
    """Every referral held about one person: those with the NHS number (or the referral named), and every
    referral linked to them by NHS number or match key (name + birth date + postcode, keyed), as far as
    the links go. A referral with another NHS number is someone else, whatever their name: never linked
    (when the person's own referrals carry none, the one number their linked referrals agree on is
    theirs), and a match key that referrals with different NHS numbers share links nothing. Erased
    referrals link to nothing. Oldest first."""
    found: dict[uuid.UUID, Referral] = {}
    numbers = {nhs_number} if nhs_number else set()
    where = Referral.nhs_number == nhs_number if nhs_number else Referral.id == referral_id
    while True:
        query = sa.select(Referral).where(where).order_by(Referral.submitted_at, Referral.id)
        if lock:
            query = query.with_for_update(key_share=True)
        new = [r for r in session.scalars(query) if r.id not in found]
        if not numbers:
            agreed = {r.nhs_number for r in (*found.values(), *new) if r.nhs_number}
            numbers = agreed if len(agreed) == 1 else numbers
        new = [r for r in new if r.nhs_number is None or r.nhs_number in numbers]
        if not new:
            return sorted(found.values(), key=lambda r: (services.as_utc(r.submitted_at), str(r.id)))
        found.update((r.id, r) for r in new)
        keys = {r.match_key for r in found.values() if r.erased_at is None}
        where = sa.or_(Referral.match_key.in_(keys - _shared_keys(session, keys)), Referral.nhs_number.in_(numbers))


def _shared_keys(session: Session, keys: set[str]) -> set[str]:
    """Match keys that referrals with different NHS numbers carry: namesakes born the same day at the same
    postcode. Such a key tells nobody apart, so it links nothing (a referral without an NHS number under it
    is found by its own id only)."""
    return set(session.scalars(sa.select(Referral.match_key).where(
        Referral.match_key.in_(keys), Referral.nhs_number.is_not(None)).group_by(Referral.match_key)
        .having(sa.func.count(sa.distinct(Referral.nhs_number)) > 1)))


def lock_people(session: Session, referrals: list[Referral]) -> None:
    """The intake locks of every key of these referrals (PostgreSQL), in one fixed order, before their rows
    are locked: as services.withdraw_consent needs (person, then rows)."""
    tokens = sorted({t for r in referrals if r.erased_at is None for t in (r.match_key, r.nhs_number) if t})
    for token in tokens:  # sorted as an intake sorts its own two: no deadlock with one
        for lock_id in services._person_locks(session, token, {}):
            session.execute(services._PERSON_LOCK, {"k": lock_id})


# --- subject access ------------------------------------------------------------------------------------


def export(session: Session, referrals: list[Referral]) -> dict[str, Any]:
    """Everything this service holds about the person across their referrals, and who accessed each one
    (from the audit trail: when, which organisation and role, what for)."""
    ids = [str(r.id) for r in referrals]
    audit = PLATFORM.audit_log.c
    accesses: dict[str, list[dict[str, Any]]] = {rid: [] for rid in ids}
    for row in session.execute(sa.select(audit.resource_id, audit.occurred_at, audit.action, audit.actor_org,
                                         audit.actor_role, audit.purpose)
                               .where(audit.resource_type == "referral", audit.resource_id.in_(ids))
                               .order_by(audit.id)):
        accesses[row.resource_id].append({"occurred_at": services.as_utc(row.occurred_at), "action": row.action,
                                          "organisation": row.actor_org, "role": row.actor_role,
                                          "purpose": row.purpose})
    checks: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for check in session.scalars(sa.select(SustainmentCheck).where(
            SustainmentCheck.referral_id.in_([r.id for r in referrals])).order_by(SustainmentCheck.weeks)):
        checks.setdefault(check.referral_id, []).append(
            {"weeks": check.weeks, "due_on": check.due_on, "done_at": services.as_utc(check.done_at)})
    names = services.organisation_names(session, {org for r in referrals
                                                   for org in (r.referrer_org_id, r.assigned_org_id)})
    return {"referrals": [_referral_export(r, checks.get(r.id, []), accesses[str(r.id)], names) for r in referrals],
            "organisations": sorted({a["organisation"] for rows in accesses.values() for a in rows
                                     if a["organisation"]})}


def _referral_export(r: Referral, checks: list[dict], accesses: list[dict],
                     org_names: dict[str, str]) -> dict[str, Any]:
    """Staff appear as another organisation sees them (access.staff_words), never by login id, as in `accessed`."""
    utc = services.as_utc
    return {
        "id": r.id, "reference": r.reference, "status": r.status, "business_status": r.business_status,
        "status_reason": r.status_reason, "status_text": r.status_text, "source": r.source,
        "referrer_org_id": r.referrer_org_id, "service_id": r.service_id, "assigned_org_id": r.assigned_org_id,
        "assigned_adviser": access.adviser_words(None, r, org_names), "submitted_at": utc(r.submitted_at),
        "closed_at": utc(r.closed_at), "erased_at": utc(r.erased_at),
        "person": {name: getattr(r, name) for name in (
            "nhs_number", "given_name", "family_name", "birth_date", "postcode", "email", "phone",
            "preferred_contact", "deprivation_decile", "sex", "ethnicity", "age_band")},
        "need": {"employment_situation": r.employment_situation, "health_category": r.health_category,
                 "reason": r.reason},
        "adjustment": {"request_id": r.request_id, "suggestion_id": r.suggestion_id,
                       "fit_note_decision": r.fit_note_decision, "categories": r.adjustment_categories},
        "consent": {"consent_id": r.consent_id, "captured_by": access.consent_taker(None, r, org_names),
                    "captured_at": utc(r.consent_captured_at), "method": r.consent_method,
                    "scope_service_id": r.consent_scope_service_id, "outcomes_to_referrer": r.outcomes_to_referrer,
                    "updates_by_email": r.person_updates, "updates_answered_at": utc(r.person_updates_at),
                    "updates_answered_how": r.person_updates_how, "updates_consent_id": r.updates_consent_id,
                    "withdrawn_at": utc(r.consent_withdrawn_at)},
        "duplicate_of_id": r.duplicate_of_id, "duplicate_reason": r.duplicate_reason, "replaces_id": r.replaces_id,
        "history": [{"action": t.action, "from_status": t.from_status, "to_status": t.to_status,
                     "business_status": t.business_status, "reason": t.reason, "actor_role": t.actor_role,
                     "occurred_at": utc(t.occurred_at)} for t in r.transitions],
        "notes": [{"text": n.text, "organisation": n.by_org, "written_at": utc(n.written_at)} for n in r.notes],
        "contact_attempts": [{"channel": a.channel, "result": a.result, "attempted_at": utc(a.attempted_at)}
                             for a in r.attempts],
        "outcomes": [{"type": o.type, "occurred_on": o.occurred_on, "details": o.details,
                      "recorded_at": utc(o.recorded_at)} for o in r.outcomes],
        "sustainment_checks": checks,
        "accessed": accesses,
    }


# --- erasure on request --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Erased:
    referral_id: uuid.UUID
    reference: str
    status: str
    cancelled: bool  # it was open: cancelled with consent withdrawn first
    already_erased: bool


def erase_person(session: Session, outbox: Outbox, settings: ReferralSettings, referrals: list[Referral],
                 reason: str, principal: Principal, now: datetime) -> list[Erased]:
    """The person asked for erasure: every referral is first withdrawn from (services.withdraw_consent: an open
    one is cancelled with consent_withdrawn, unsent messages are dropped, notifications is told to stop
    the ones it holds, the adviser organisation hears of the cancellation), then erased. The caller has
    locked the person (lock_people) and their rows."""
    purpose = f"erasure request: {reason}"
    answer = []
    for referral in referrals:
        if referral.erased_at is not None:
            answer.append(Erased(referral.id, referral.reference, referral.status, False, True))
            continue
        was_open = referral.status not in ENDED
        drop_person_messages(session, outbox, referral)
        if referral.consent_withdrawn_at is None:
            services.withdraw_consent(session, outbox, settings, referral, now)
            AUDIT.record(session, action="update", resource_type="referral", resource_id=str(referral.id),
                                   person_id=str(referral.id), purpose=f"consent withdrawn: {purpose}",
                                   principal=principal)
        erase(session, referral, now, purpose=purpose, principal=principal)
        answer.append(Erased(referral.id, referral.reference, referral.status, was_open, False))
    return answer


# --- the use cases the API and the pages share -----------------------------------------------------------


def subject_access(session: Session, lookup: dict[str, Any], *, action: str = "export",
                   purpose: str = "subject access request") -> tuple[list[Referral], dict[str, Any]]:
    """The person's referrals and their export (`lookup`: nhs_number or referral_id), each referral's access
    audited as `action` (an export, or a read of the summary). NothingHeld if there are none."""
    referrals = person_referrals(session, **lookup)
    if not referrals:
        raise NothingHeld()
    AUDIT.record_many(session, action=action, resource_type="referral", purpose=purpose,
                      records=[(str(r.id), str(r.id)) for r in referrals])
    return referrals, export(session, referrals)


def erase_on_request(session: Session, outbox: Outbox, settings: ReferralSettings, lookup: dict[str, Any],
                     reason: str, principal: Principal, now: datetime) -> list[Erased]:
    """Erasure on the person's request: the person's intake locks, then their rows, then erase_person.
    NothingHeld if no referral is held about them."""
    found = person_referrals(session, **lookup)
    if not found:
        raise NothingHeld()
    lock_people(session, found)
    return erase_person(session, outbox, settings, person_referrals(session, **lookup, lock=True), reason,
                        principal, now)


def drop_person_messages(session: Session, outbox: Outbox, referral: Referral) -> int:
    """Status emails about this referral still in the outbox - unsent, or sent and not yet pruned (the relay
    keeps a restricted row a day) - hold the person's address: gone with the rest. Returns how many."""
    table = outbox.table
    rows = session.execute(sa.select(table.c.position, table.c.payload).where(
        table.c.type == "notifications.person_message.requested",
        table.c.aggregateid == str(services.person_id(referral.match_key)))).all()
    about_it = [position for position, payload in rows
                if json.loads(payload)["data"].get("referral_id") == str(referral.id)]
    if not about_it:
        return 0
    return session.execute(table.delete().where(table.c.position.in_(about_it))).rowcount or 0
