"""Use cases of the referrals service (no Flask): intake, routing, lifecycle actions, clocks.

Each function works inside the caller's transaction: the change, its history row, its
audit entry (written by the caller) and its outbox events commit together or not at all.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import statistics
import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session, object_session

from worklink.events.catalogue import to_json_types
from worklink.messaging.outbox import Outbox
from worklink_referrals import domain
from worklink_referrals.config import SELF_REFERRAL_ORG, ReferralSettings
from worklink_referrals.domain import OPEN, Actor, Attempt, DomainError, Snapshot, Status
from worklink_referrals.models import (CapacitySnapshot, ContactAttempt, Note, Outcome, PendingSelfReferral,
                                       Referral, RoutingAlert, RoutingService, SlaBreach, SustainmentCheck,
                                       Transition)

OPEN_VALUES = tuple(s.value for s in OPEN)
ACTIVE_CLIENT = ("accepted", "in_progress", "on_hold")  # IPS: job search and in-work support both count
SYSTEM = Actor("system", "system")


class Conflict(DomainError):
    status = 409


class NotFound(DomainError):
    status = 404


class Gone(DomainError):
    status = 410


# --- identity helpers -------------------------------------------------------------------------------


def normalise_postcode(postcode: str | None) -> str | None:
    if not postcode:
        return None
    compact = "".join(postcode.split()).upper()
    return f"{compact[:-3]} {compact[-3:]}" if len(compact) > 3 else compact


def postcode_area(postcode: str | None) -> str | None:
    """The outward code (postcode district), e.g. 'GL1' - the area used for routing and insights."""
    normal = normalise_postcode(postcode)
    return normal.split(" ")[0] if normal and " " in normal else None


def match_key(given_name: str, family_name: str, birth_date, postcode: str | None) -> str:
    """Name + date of birth + postcode, normalised and hashed, for duplicate detection."""
    parts = [given_name.strip().lower(), family_name.strip().lower(), str(birth_date),
             (normalise_postcode(postcode) or "").replace(" ", "")]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_reference() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read out over the phone
    return "R-" + "".join(secrets.choice(alphabet) for _ in range(8))


# --- routing --------------------------------------------------------------------------------------


def open_caseloads(session: Session, service_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    ids = list(service_ids)
    if not ids:
        return {}
    rows = session.execute(sa.select(Referral.service_id, sa.func.count()).where(
        Referral.service_id.in_(ids), Referral.status.in_(OPEN_VALUES)).group_by(Referral.service_id))
    return {service_id: n for service_id, n in rows}


def choose_service(session: Session, settings: ReferralSettings, *, area: str | None,
                   requested: uuid.UUID | None) -> RoutingService | None:
    """An adviser service that serves the area and takes referrals; the least loaded wins."""
    query = sa.select(RoutingService).where(RoutingService.active.is_(True),
                                            RoutingService.accepting_referrals.is_(True))
    if requested:
        query = query.where(RoutingService.service_id == requested)
    candidates = [s for s in session.scalars(query)
                  if (s.areas is None or (area is not None and area in s.areas))
                  and (requested or not settings.routing_taxonomy
                       or settings.routing_taxonomy & {uuid.UUID(str(t)) for t in s.taxonomy_term_ids})]
    if len(candidates) < 2:
        return candidates[0] if candidates else None
    load = open_caseloads(session, [c.service_id for c in candidates])  # only when there is a choice
    return min(candidates, key=lambda c: (load.get(c.service_id, 0), str(c.service_id)))


# --- intake ---------------------------------------------------------------------------------------


def submit(session: Session, outbox: Outbox, settings: ReferralSettings, intake: Mapping[str, Any], actor: Actor,
           *, source: str, now: datetime, link_duplicates: bool = False) -> tuple[Referral, str]:
    """Create a referral (consent already checked by the caller's schema); returns it and the person's link."""
    person = intake["person"]
    key = match_key(person["given_name"], person["family_name"], person["birth_date"], person.get("postcode"))
    area = postcode_area(person.get("postcode"))
    service = choose_service(session, settings, area=area, requested=intake.get("service_id"))
    _lock_person(session, key, person.get("nhs_number"))
    duplicate, duplicate_reason = _duplicate(session, intake, key, service, link_duplicates)
    replaces = _replaced_referral(session, intake.get("replaces_id"), person.get("nhs_number"), key)

    link = secrets.token_urlsafe(24)
    referral = _new_referral(intake, actor, source=source, now=now, key=key, area=area, service=service,
                             link=link)
    referral.replaces_id = replaces.id if replaces else None
    if duplicate:
        referral.duplicate_of_id, referral.duplicate_reason = duplicate.id, duplicate_reason
    session.add(referral)
    session.flush()
    _history(session, referral, "submit", None, actor, now)
    _publish_lifecycle(outbox, referral, "submitted", now)
    if not service:
        _hold(session, outbox, referral, now)
    return referral, link


def _duplicate(session: Session, intake: Mapping[str, Any], key: str, service: RoutingService | None,
               link_duplicates: bool) -> tuple[Referral | None, str | None]:
    """An open referral for the same person and service: refuse (409), or link with a reason."""
    target = service.service_id if service else intake.get("service_id")
    duplicate = find_open_duplicate(session, intake["person"].get("nhs_number"), key, target)
    reason = (intake.get("duplicate") or {}).get("reason")
    if duplicate and not reason:
        if not link_duplicates:
            raise Conflict("This person already has an open referral to this service. Link the new one with a "
                           "reason (duplicate.reason), or add to the open referral instead.",
                           duplicate_of=str(duplicate.id), duplicate_reference=duplicate.reference)
        reason = "linked automatically: an open referral to this service already exists"
    return duplicate, reason


def _new_referral(intake: Mapping[str, Any], actor: Actor, *, source: str, now: datetime, key: str,
                  area: str | None, service: RoutingService | None, link: str) -> Referral:
    person, consent = intake["person"], intake["consent"]
    return Referral(
        id=uuid.uuid4(), reference=new_reference(), status=Status.SUBMITTED.value, source=source,
        referrer_org_id=actor.organisation or str(SELF_REFERRAL_ORG), referrer_subject=actor.subject,
        referrer_role=actor.role, service_id=service.service_id if service else None,
        assigned_org_id=str(service.organization_id) if service else None,
        routing="routed" if service else "held",
        nhs_number=person.get("nhs_number"), given_name=person["given_name"], family_name=person["family_name"],
        birth_date=person["birth_date"], postcode=normalise_postcode(person.get("postcode")), area=area,
        email=person.get("email"), phone=person.get("phone"), preferred_contact=person.get("preferred_contact"),
        match_key=key, deprivation_decile=person.get("deprivation_decile"), sex=person.get("sex"),
        ethnicity=person.get("ethnicity"), employment_situation=intake.get("employment_situation"),
        health_category=intake.get("health_category"), reason=intake.get("reason"),
        request_id=intake.get("request_id"), suggestion_id=intake.get("suggestion_id"),
        fit_note_decision=intake.get("fit_note_decision"), adjustment_categories=intake.get("adjustment_categories"),
        consent_id=consent.get("consent_id"), consent_captured_by=consent.get("captured_by") or actor.subject,
        consent_captured_at=consent.get("captured_at") or now, consent_method=consent["method"],
        consent_scope_service_id=intake.get("service_id"),
        outcomes_to_referrer=bool(consent.get("outcomes_to_referrer")), status_link_hash=hash_secret(link),
        submitted_at=now, updated_at=now, attempts=[], outcomes=[], notes=[], transitions=[])


def _lock_person(session: Session, key: str, nhs_number: str | None) -> None:
    """Serialise intakes for one person so two at once cannot both pass the duplicate check.

    PostgreSQL: transaction-scoped advisory locks on the person's keys (in a fixed order, so two
    intakes cannot deadlock). SQLite already serialises writers (BEGIN IMMEDIATE)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    ids = [int.from_bytes(hashlib.sha256(f"referrals-person:{token}".encode()).digest()[:8], "big", signed=True)
           for token in sorted(filter(None, (key, nhs_number)))]
    locks = ", ".join(f"pg_advisory_xact_lock(:k{i})" for i in range(len(ids)))  # taken left to right
    session.execute(sa.text(f"SELECT {locks}"), {f"k{i}": lock_id for i, lock_id in enumerate(ids)})


def find_open_duplicate(session: Session, nhs_number: str | None, key: str,
                        service_id: uuid.UUID | None) -> Referral | None:
    same_person = Referral.match_key == key
    if nhs_number:
        same_person = sa.or_(same_person, Referral.nhs_number == nhs_number)
    same_service = Referral.service_id == service_id if service_id else Referral.service_id.is_(None)
    return session.scalars(sa.select(Referral).where(same_person, same_service, Referral.status.in_(OPEN_VALUES))
                           .order_by(Referral.submitted_at).limit(1)).first()


def _replaced_referral(session: Session, replaces_id, nhs_number, key) -> Referral | None:
    if not replaces_id:
        return None
    old = session.get(Referral, replaces_id)
    if old is None or not (old.match_key == key or (nhs_number and old.nhs_number == nhs_number)):
        raise DomainError("replaces_id must name an earlier referral for the same person.", field="replaces_id")
    if old.status in OPEN_VALUES:
        raise Conflict("The referral this replaces is still open; cancel it first (only one active referral).",
                       replaces_id=str(old.id), replaces_status=old.status)
    return old


def _hold(session: Session, outbox: Outbox, referral: Referral, now: datetime) -> None:
    """Nothing can take it: hold it and alert the alliance (never drop it)."""
    session.add(RoutingAlert(referral_id=referral.id, reason="no_service_available", raised_at=now))
    _publish_lifecycle(outbox, referral, "held", now, reason="no_service_available")


def hold_unclaimed(session: Session, outbox: Outbox, settings: ReferralSettings, service_id: uuid.UUID,
                   now: datetime) -> int:
    """A service was withdrawn: referrals it never acknowledged are held again (and routed elsewhere
    if another service can take them), so none is stranded with an organisation that has gone."""
    stranded = list(session.scalars(sa.select(Referral).where(
        Referral.service_id == service_id, Referral.status == Status.SUBMITTED.value)))
    for referral in stranded:
        referral.service_id = referral.assigned_org_id = None
        referral.routing, referral.updated_at = "held", now
        session.flush()
        _history(session, referral, "hold", referral.status, SYSTEM, now, reason="service_withdrawn")
        alert = session.get(RoutingAlert, referral.id)
        if alert:
            alert.reason, alert.raised_at, alert.resolved_at = "service_withdrawn", now, None
        else:
            session.add(RoutingAlert(referral_id=referral.id, reason="service_withdrawn", raised_at=now))
        _publish_lifecycle(outbox, referral, "held", now, reason="service_withdrawn")
    if stranded:
        route_waiting(session, outbox, settings, now)
    return len(stranded)


def route_held(session: Session, outbox: Outbox, settings: ReferralSettings, referral: Referral,
               service_id: uuid.UUID | None, actor: Actor, now: datetime) -> Referral:
    """Route a held referral (the alliance chooses a service, or a new service appeared)."""
    if referral.routing != "held" or referral.status not in OPEN_VALUES:
        raise Conflict("Only an open, held referral can be routed.", routing=referral.routing)
    scope = referral.consent_scope_service_id
    if scope and service_id and service_id != scope:
        raise Conflict("The person consented to a referral to one service only; ask them again before "
                       "sending it elsewhere.", consent_scope_service_id=str(scope))
    service = choose_service(session, settings, area=referral.area, requested=service_id)
    if service is None:
        raise Conflict("No active service that takes referrals matches; the referral stays held.")
    referral.service_id, referral.assigned_org_id = service.service_id, str(service.organization_id)
    referral.routing, referral.updated_at = "routed", now
    alert = session.get(RoutingAlert, referral.id)
    if alert and alert.resolved_at is None:
        alert.resolved_at = now
    session.flush()
    _history(session, referral, "route", referral.status, actor, now)
    _publish_lifecycle(outbox, referral, "routed", now)
    return referral


def route_waiting(session: Session, outbox: Outbox, settings: ReferralSettings, now: datetime) -> int:
    """After the directory adds or reopens a service: route held referrals it can now take."""
    routed = 0
    for referral in session.scalars(sa.select(Referral).where(Referral.routing == "held",
                                                               Referral.status.in_(OPEN_VALUES))):
        if choose_service(session, settings, area=referral.area, requested=referral.consent_scope_service_id):
            route_held(session, outbox, settings, referral, referral.consent_scope_service_id, SYSTEM, now)
            routed += 1
    return routed


# --- self-referral ------------------------------------------------------------------------------------


def start_self_referral(session: Session, settings: ReferralSettings, intake: Mapping[str, Any],
                        now: datetime) -> tuple[PendingSelfReferral, str]:
    """Hold the self-referral until the person proves the contact route is theirs."""
    code = f"{secrets.randbelow(10 ** 6):06d}"
    pending = PendingSelfReferral(id=uuid.uuid4(), payload=_jsonable(intake), code_hash=hash_secret(code),
                                  expires_at=now + timedelta(minutes=settings.self_referral_code_minutes),
                                  created_at=now)
    session.add(pending)
    return pending, code


def check_self_referral_code(session: Session, pending_id: uuid.UUID, code: str,
                             now: datetime) -> DomainError | None:
    """Count the attempt; returns the error (not raised, so the caller can commit the count) or None."""
    pending = session.get(PendingSelfReferral, pending_id, with_for_update=True)
    if pending is None:
        return NotFound("No self-referral is waiting for that code.")
    if _aware(pending.expires_at) < now or pending.attempts >= 5:
        session.delete(pending)
        return Gone("The code has expired. Start the self-referral again.")
    if not hmac.compare_digest(pending.code_hash, hash_secret(code.strip())):
        pending.attempts += 1
        return DomainError("That code is not right. Check the message and try again.", field="code",
                           attempts_left=5 - pending.attempts)
    return None


def complete_self_referral(session: Session, outbox: Outbox, settings: ReferralSettings, pending_id: uuid.UUID,
                           now: datetime) -> tuple[Referral, str]:
    """The contact route is verified: submit the referral with the person's explicit consent."""
    pending = session.get(PendingSelfReferral, pending_id, with_for_update=True)
    if pending is None:
        raise NotFound("No self-referral is waiting for that code.")
    intake = _from_json(pending.payload)
    route = "email" if intake["person"].get("email") else "phone"
    intake["consent"] = {"consent_id": uuid.uuid4(), "method": "online", "captured_by": f"self (verified {route})",
                         "captured_at": now, "outcomes_to_referrer": False}
    session.delete(pending)
    return submit(session, outbox, settings, intake, Actor(f"self:{pending_id}", "resident"), source="self",
                  now=now)


def forget_expired_self_referrals(session: Session, now: datetime) -> int:
    """Unverified self-referrals hold a person's details: drop them once their code has expired."""
    result = session.execute(sa.delete(PendingSelfReferral).where(PendingSelfReferral.expires_at < now))
    return result.rowcount or 0


def _jsonable(intake: Mapping[str, Any]) -> dict:
    return to_json_types(dict(intake))


def _from_json(payload: dict) -> dict:
    intake = dict(payload)
    intake["person"] = {**payload["person"], "birth_date": date.fromisoformat(payload["person"]["birth_date"])}
    if intake.get("service_id"):
        intake["service_id"] = uuid.UUID(intake["service_id"])
    return intake


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)  # SQLite drops the zone


# --- lifecycle actions --------------------------------------------------------------------------


def snapshot(referral: Referral) -> Snapshot:
    return Snapshot(
        status=Status(referral.status), version=referral.version, referrer_org_id=referral.referrer_org_id,
        assigned_org_id=referral.assigned_org_id, referrer_subject=referral.referrer_subject,
        business_status=referral.business_status, assigned_adviser=referral.assigned_adviser,
        held_from=Status(referral.held_from) if referral.held_from else None,
        attempts=tuple(Attempt(a.channel, a.result) for a in referral.attempts),
        outcome_count=len(referral.outcomes))


def snapshot_lite(referral: Referral) -> Snapshot:
    """Enough to work out who the reader is (no contact attempts or outcomes needed)."""
    return Snapshot(status=Status(referral.status), version=referral.version,
                    referrer_org_id=referral.referrer_org_id, assigned_org_id=referral.assigned_org_id)


def act(session: Session, outbox: Outbox, settings: ReferralSettings, referral: Referral, action: str,
        actor: Actor, data: Mapping[str, Any], *, expected_version: int | None, now: datetime) -> domain.Decision:
    """Apply one lifecycle action: rules, change, history and events, in the caller's transaction."""
    decision = domain.decide(snapshot(referral), action, actor, data, expected_version=expected_version, now=now)
    before = referral.status
    updates = dict(decision.updates)
    attempt, outcome = updates.pop("attempt", None), updates.pop("outcome", None)
    updates.pop("attempted_at", None)
    for name, value in updates.items():
        setattr(referral, name, value.value if isinstance(value, Status) else value)
    referral.status, referral.business_status = decision.status.value, decision.business_status
    if data.get("text") and action in ("reject", "cancel", "enter_in_error"):
        referral.status_text = data["text"]
    if attempt:
        referral.attempts.append(ContactAttempt(channel=attempt.channel, result=attempt.result,
                                                attempted_at=now, by=actor.subject))
        referral.first_attempt_at = referral.first_attempt_at or now
    if action == "make_first_contact":
        referral.first_attempt_at = referral.first_attempt_at or now
    if outcome:
        _add_outcome(session, referral, outcome, actor, now)
    referral.updated_at = now
    session.flush()  # bumps the version; a concurrent writer's flush fails with StaleDataError
    _history(session, referral, action, before, actor, now, reason=referral.status_reason if before != referral.status
             else None)
    for step in decision.events:
        if step == "outcome_recorded":
            _publish_outcome(outbox, referral, outcome, now)
        elif step == "feedback_ready":
            _publish_feedback(outbox, referral, now)
        else:
            _publish_lifecycle(outbox, referral, step, now, reason=referral.status_reason
                               if step in ("rejected", "cancelled", "failed", "completed", "put_on_hold") else None)
    return decision


def _add_outcome(session: Session, referral: Referral, outcome: dict, actor: Actor, now: datetime) -> None:
    details = {k: v for k, v in outcome.items() if k not in ("type", "occurred_on")}
    referral.outcomes.append(Outcome(type=outcome["type"], occurred_on=outcome["occurred_on"], details=details,
                                     recorded_by=actor.subject, recorded_at=now))
    if outcome["type"] == "job_start":
        for weeks, due in domain.sustainment_due_dates(outcome["occurred_on"]).items():
            if session.get(SustainmentCheck, (referral.id, weeks)) is None:
                session.add(SustainmentCheck(referral_id=referral.id, weeks=weeks, due_on=due))
    if weeks_checked := outcome.get("sustainment_check_weeks"):
        check = session.get(SustainmentCheck, (referral.id, weeks_checked))
        if check and check.done_at is None:
            check.done_at = now


def add_note(session: Session, referral: Referral, actor: Actor, text: str, now: datetime) -> Note:
    if referral.status == Status.ENTERED_IN_ERROR:
        raise domain.IllegalTransition("A referral entered in error takes no notes.")
    note = Note(referral_id=referral.id, text=text, by=actor.subject, by_org=actor.organisation, written_at=now)
    referral.notes.append(note)
    return note


def withdraw_consent(session: Session, outbox: Outbox, settings: ReferralSettings, referral: Referral,
                     now: datetime) -> None:
    """Withdrawal stops onward sharing and cancels an open referral (system action)."""
    if referral.consent_withdrawn_at:
        return
    referral.consent_withdrawn_at = now
    referral.outcomes_to_referrer = False
    if referral.status in OPEN_VALUES:
        session.flush()
        act(session, outbox, settings, referral, "cancel", SYSTEM, {"reason": "consent_withdrawn"},
            expected_version=referral.version, now=now)
    else:
        referral.updated_at = now


def active_clients(session: Session, adviser: str) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(Referral).where(
        Referral.assigned_adviser == adviser, Referral.status.in_(ACTIVE_CLIENT)))


def _history(session: Session, referral: Referral, action: str, before: str | None, actor: Actor, now: datetime,
             reason: str | None = None) -> None:
    referral.transitions.append(Transition(referral_id=referral.id, action=action, from_status=before, to_status=referral.status,
                           business_status=referral.business_status, reason=reason, actor=actor.subject,
                           actor_role=actor.role, occurred_at=now, version=referral.version))


# --- events ------------------------------------------------------------------------------------


def _ids(referral: Referral) -> dict[str, Any]:
    return {"referral_id": referral.id, "referrer_org_id": referral.referrer_org_id,
            "assigned_org_id": referral.assigned_org_id, "service_id": referral.service_id,
            "request_id": referral.request_id}


def _publish_lifecycle(outbox: Outbox, referral: Referral, step: str, now: datetime, reason: str | None = None):
    outbox.publish(outbox_session(referral), f"referrals.referral.{step}", {
        **_ids(referral), "status": referral.status, "business_status": referral.business_status,
        "reason": reason, "suggestion_id": referral.suggestion_id, "version": referral.version,
        "occurred_at": now}, subject=str(referral.id))
    _tell_person(outbox, referral, step, now)


# Lifecycle steps the person hears about, as notifications' resident message codes.
PERSON_MESSAGE_FOR_STEP = {"received": "referral_received", "accepted": "referral_accepted",
                           "allocated": "adviser_will_contact_you", "rejected": "referral_closed",
                           "failed": "referral_closed", "completed": "referral_closed", "cancelled": "referral_closed"}


def _tell_person(outbox: Outbox, referral: Referral, step: str, now: datetime) -> None:
    """A self-referrer verified their email and agreed to be contacted: tell them how it is going
    (restricted event; a coded, general message - never details)."""
    code = PERSON_MESSAGE_FOR_STEP.get(step)
    if not code or referral.source != "self" or not referral.email or referral.consent_withdrawn_at:
        return
    outbox.publish(outbox_session(referral), "notifications.person_message.requested", {
        "message_id": uuid.uuid5(referral.id, f"{step}:{referral.version}"),
        "person_id": uuid.uuid5(uuid.NAMESPACE_OID, referral.match_key), "consent_id": referral.consent_id,
        "message_code": code, "contact": {"channel": "email", "address": referral.email},
        "referral_id": referral.id, "requested_at": now}, subject=str(referral.id))


def _publish_outcome(outbox: Outbox, referral: Referral, outcome: dict, now: datetime) -> None:
    outbox.publish(outbox_session(referral), "referrals.referral.outcome_recorded", {
        **_ids(referral), "status": referral.status, "outcome_type": outcome["type"],
        "occurred_on": outcome["occurred_on"], "hours_band": outcome.get("hours_band"),
        "sustainment_check_weeks": outcome.get("sustainment_check_weeks"), "version": referral.version,
        "occurred_at": now}, subject=str(referral.id))


def _publish_feedback(outbox: Outbox, referral: Referral, now: datetime) -> None:
    if referral.consent_withdrawn_at or referral.source == "self":
        return  # withdrawal stops onward sharing; a self-referral has no referrer to tell
    shareable = referral.outcomes_to_referrer
    outbox.publish(outbox_session(referral), "referrals.referral.feedback_ready", {
        "referral_id": referral.id, "referrer_org_id": referral.referrer_org_id, "status": referral.status,
        "reason": referral.status_reason, "request_id": referral.request_id,
        "outcome_types": sorted({o.type for o in referral.outcomes}) if shareable else [],
        "outcomes_shareable": shareable, "occurred_at": now}, subject=str(referral.id))


def outbox_session(instance) -> Session:
    return object_session(instance)


def publish_capacity_changes(session: Session, outbox: Outbox, now: datetime) -> int:
    """Per-service capacity summary for the directory (open caseload, accepting, median wait),
    published by the periodic job whenever a service's figures differ from the last ones sent."""
    since = now - timedelta(days=90)
    services_by_id = {s.service_id: s for s in session.scalars(sa.select(RoutingService))}
    open_counts = open_caseloads(session, services_by_id)
    waits: dict[uuid.UUID, list[float]] = {}
    for service_id, submitted, first in session.execute(
            sa.select(Referral.service_id, Referral.submitted_at, Referral.first_contact_at).where(
                Referral.service_id.is_not(None), Referral.first_contact_at.is_not(None),
                Referral.first_contact_at >= since)):
        waits.setdefault(service_id, []).append((_aware(first) - _aware(submitted)).total_seconds() / 86400)
    published = 0
    for service_id, service in services_by_id.items():
        figures = {"accepting_referrals": bool(service.active and service.accepting_referrals),
                   "open_referrals": open_counts.get(service_id, 0),
                   "typical_wait_days": round(statistics.median(waits[service_id])) if waits.get(service_id)
                   else None}
        last = session.get(CapacitySnapshot, service_id)
        if last and all(getattr(last, k) == v for k, v in figures.items()):
            continue
        if last is None:
            last = CapacitySnapshot(service_id=service_id)
            session.add(last)
        for name, value in figures.items():
            setattr(last, name, value)
        last.published_at = now
        outbox.publish(session, "referrals.capacity.changed", {
            "service_id": service_id, "organization_id": service.organization_id, "available_places": None,
            "recorded_at": now, **figures})
        published += 1
    return published


# --- clocks --------------------------------------------------------------------------------------


def clock_state(referral: Referral) -> domain.ClockState:
    return domain.ClockState(submitted_at=_aware(referral.submitted_at),
                             acknowledged_at=_maybe(referral.acknowledged_at),
                             accepted_at=_maybe(referral.accepted_at),
                             first_attempt_at=_maybe(referral.first_attempt_at),
                             first_contact_at=_maybe(referral.first_contact_at))


def _maybe(moment: datetime | None) -> datetime | None:
    return _aware(moment) if moment else None


def breaching(referral: Referral, settings: ReferralSettings, now: datetime) -> list[str]:
    if referral.status not in OPEN_VALUES or referral.status == Status.ON_HOLD:
        return []  # the clocks stop when a referral closes or is paused
    return domain.breached_clocks(clock_state(referral), settings.clocks, now)


def detect_breaches(session: Session, outbox: Outbox, settings: ReferralSettings, now: datetime) -> list[tuple]:
    """The periodic job: flag each newly breached clock once and publish sla_breached."""
    flagged = {(r, c) for r, c in session.execute(sa.select(SlaBreach.referral_id, SlaBreach.clock))}
    found = []
    open_referrals = session.scalars(sa.select(Referral).where(Referral.status.in_(OPEN_VALUES)))
    for referral in open_referrals:
        deadlines = domain.clock_deadlines(clock_state(referral), settings.clocks)
        for clock in breaching(referral, settings, now):
            if (referral.id, clock) in flagged:
                continue
            due = deadlines[clock][0]
            session.add(SlaBreach(referral_id=referral.id, clock=clock, due_at=due, detected_at=now))
            outbox.publish(session, "referrals.referral.sla_breached", {
                "referral_id": referral.id, "clock": clock, "status": referral.status, "due_at": due,
                "detected_at": now, "assigned_org_id": referral.assigned_org_id,
                "service_id": referral.service_id}, subject=str(referral.id))
            found.append((referral.id, clock))
    return found


def due_sustainment_checks(session: Session, organisation: str | None, today) -> list[SustainmentCheck]:
    query = (sa.select(SustainmentCheck).join(Referral, Referral.id == SustainmentCheck.referral_id)
             .where(SustainmentCheck.due_on <= today, SustainmentCheck.done_at.is_(None))
             .order_by(SustainmentCheck.due_on))
    if organisation:
        query = query.where(Referral.assigned_org_id == organisation)
    return list(session.scalars(query))
