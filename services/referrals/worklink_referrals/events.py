"""Integration events the referrals service publishes and the handlers for those it consumes.

Event types and their schemas are declared once in `worklink.events.contracts.referrals`.
Consumed: `adjustments.referral.requested` (restricted: a consented hand-over of a person)
creates a referral, and `adjustments.referral.consent_withdrawn` (same topic and key) withdraws
that referral's consent - or, handled before its request (re-driven from the DLT later), is remembered
so the request makes none; `directory.service.*` keep the routing read model (no call to the directory).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.orm import Session

from worklink.audit import AuditTrail
from worklink.auth import Principal
from worklink.events.contracts import CATALOGUE
from worklink.events.contracts.platform import SESSION_EVENT_TYPES
from worklink.events.contracts.referrals import LIFECYCLE, LIFECYCLE_MORE
from worklink.messaging.consumer import Handler, ReceivedEvent
from worklink.messaging.outbox import Outbox
from worklink.web.sessions import ending_sessions_handler
from worklink_referrals import services
from worklink_referrals.config import ReferralSettings
from worklink_referrals.domain import Actor
from worklink_referrals.models import PLATFORM, Referral, RoutingService

PUBLISHES: tuple[str, ...] = (
    "referrals.capacity.changed",
    *(f"referrals.referral.{step}" for step in (*LIFECYCLE, *LIFECYCLE_MORE)),
    "referrals.referral.outcome_recorded", "referrals.referral.sla_breached", "referrals.referral.feedback_ready",
    "notifications.person_message.requested", "notifications.person_messages.revoked",
    "referrals.user_sessions.ended",  # a sign-out everywhere at our pages (worklink.web.sessions)
)

log = logging.getLogger(__name__)
OUTBOX = Outbox("referrals", PLATFORM, CATALOGUE)
AUDIT = AuditTrail(PLATFORM)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def on_referral_requested(session: Session, event: ReceivedEvent) -> None:
    """A clinician's consented request: create the referral with the adjustment context attached."""
    data = event.data
    services.lock_request(session, data["request_id"])
    if session.scalar(sa.select(Referral.id).where(Referral.request_id == data["request_id"])):
        return  # the same request under another event id: one referral per request
    if services.consent_already_withdrawn(session, data["request_id"], data["consent_id"]):
        _refuse_withdrawn(session, data)
        return
    person = {k: v for k, v in data["person"].items() if v is not None}
    intake = {
        "person": person,
        "consent": {"consent_id": data["consent_id"], "captured_by": data["clinician_id"],
                    "captured_at": data["consented_at"], "method": "clinician_recorded",
                    "outcomes_to_referrer": data["outcomes_to_gp"],
                    "updates_by_email": data.get("updates_by_email", False)},
        "request_id": data["request_id"], "suggestion_id": data["suggestion_id"],
        "fit_note_decision": data["fit_note_decision"], "adjustment_categories": data["adjustment_categories"],
        "employment_situation": None, "referrer": data.get("referrer"),
    }
    referrer = Actor(data["clinician_id"], "gp", str(data["practice_id"]))
    # The person's record is created on the clinician's behalf: audited as theirs, like an API intake.
    clinician = Principal(referrer.subject, referrer.role, referrer.organisation)
    services.submit(session, OUTBOX, ReferralSettings.from_env(), intake, referrer, source="adjustments",
                    now=_now(), link_duplicates=True,
                    audit=lambda rid: AUDIT.rows(action="create", resource_type="referral", records=[(rid, rid)],
                                                 purpose="adjustments.referral.requested", principal=clinician))


def _refuse_withdrawn(session: Session, data: dict) -> None:
    """The request's consent was withdrawn before the request reached us: no referral, nothing about the
    person kept. Audited as refused (ids only: no person is named) and logged. Nothing is published:
    adjustments, which recorded the withdrawal, already shows the request as withdrawn."""
    clinician = Principal(data["clinician_id"], "gp", str(data["practice_id"]))
    AUDIT.record(session, action="denied", resource_type="referral_request", resource_id=str(data["request_id"]),
                 purpose="adjustments.referral.requested: consent withdrawn before it arrived", principal=clinician)
    log.info("referral request %s refused: its consent was withdrawn before it arrived", data["request_id"])


def on_referral_consent_withdrawn(session: Session, event: ReceivedEvent) -> None:
    """The patient withdrew the consent a clinician's request was made with: the existing
    withdrawal path (cancel an open referral, stop outcomes and updates going back), recorded once.

    A request that made no referral has nothing to withdraw, but may still come: its partition keeps it
    in order before the withdrawal, except when it was dead-lettered and is re-driven later, or is
    redelivered from an older offset. So the withdrawal is remembered (ids and times only) and the
    request, if it comes, makes no referral (on_referral_requested). Not a failure (no DLT)."""
    data = event.data
    services.lock_request(session, data["request_id"])
    services.lock_person_first(session, Referral.request_id == data["request_id"])
    referral = session.scalar(sa.select(Referral).where(Referral.request_id == data["request_id"])
                              .with_for_update(key_share=True))  # FOR NO KEY UPDATE: see services.withdraw_consent
    if referral is None:
        if services.remember_withdrawn_request(session, request_id=data["request_id"], consent_id=data["consent_id"],
                                               practice_id=data["practice_id"], withdrawn_at=data["withdrawn_at"],
                                               now=_now()):
            log.info("consent withdrawn for request %s, which made no referral: remembered, so the request "
                     "makes none if it comes later", data["request_id"])
        return
    if referral.consent_withdrawn_at:
        return  # redelivered: already withdrawn
    services.withdraw_consent(session, OUTBOX, ReferralSettings.from_env(), referral, _now())
    clinician = Principal(data["recorded_by"], "gp", str(data["practice_id"]))
    AUDIT.record(session, action="update", resource_type="referral", resource_id=str(referral.id),
                 person_id=str(referral.id), purpose="adjustments.referral.consent_withdrawn", principal=clinician)


def _service_for_update(session: Session, data: dict, at: datetime) -> RoutingService | None:
    return services.routing_service_for_update(session, data["service_id"], data["organization_id"], at)


def _apply_reach(session: Session, service: RoutingService, data: dict) -> None:
    services.set_reach(session, service, area_codes=data.get("area_codes"), minimum_age=data.get("minimum_age"),
                       maximum_age=data.get("maximum_age"))


def on_service_published(session: Session, event: ReceivedEvent) -> None:
    data = event.data
    service = _service_for_update(session, data, data["published_at"])
    if service is None:
        return
    service.active = True
    _apply_reach(session, service, data)
    services.set_terms(session, service, data["taxonomy_term_ids"])
    session.flush()
    services.route_waiting(session, OUTBOX, ReferralSettings.from_env(), _now())


def on_service_updated(session: Session, event: ReceivedEvent) -> None:
    """The listing's current reach (and terms, when sent): a consumer that missed the publication
    still converges. A wider reach can route held referrals."""
    data = event.data
    service = _service_for_update(session, data, data["updated_at"])
    if service is None:
        return
    _apply_reach(session, service, data)
    if data.get("taxonomy_term_ids") is not None:
        services.set_terms(session, service, data["taxonomy_term_ids"])
    session.flush()
    if service.active:
        services.route_waiting(session, OUTBOX, ReferralSettings.from_env(), _now())


def on_service_withdrawn(session: Session, event: ReceivedEvent) -> None:
    data = event.data
    service = _service_for_update(session, data, data["withdrawn_at"])
    if service is None:
        return  # older than what we hold (re-driven late): the service was offered again since; its referrals stay
    service.active = False
    session.flush()
    services.hold_unclaimed(session, OUTBOX, ReferralSettings.from_env(), data["service_id"], _now())


HANDLERS: dict[str, Handler] = {
    "adjustments.referral.requested": on_referral_requested,
    "adjustments.referral.consent_withdrawn": on_referral_consent_withdrawn,
    "directory.service.published": on_service_published,
    "directory.service.updated": on_service_updated,
    "directory.service.withdrawn": on_service_withdrawn,
    # A user signed out on every computer at a service (ourselves too: harmless): end their sessions here.
    **{event_type: ending_sessions_handler(PLATFORM.web_sessions, "referrals") for event_type in SESSION_EVENT_TYPES},
}
