"""The referrals service's database: its own tables plus the platform tables."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from worklink.db import NAMING_CONVENTION, BigIntId, platform_tables, utcnow

TZ = sa.DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: TZ, dict[str, Any]: sa.JSON, list[Any]: sa.JSON}


# outbox, processed_events and audit_log live in this service's own database.
PLATFORM = platform_tables(Base.metadata)


class Referral(Base):
    __tablename__ = "referrals"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    reference: Mapped[str] = mapped_column(sa.String(12), unique=True)  # human reference to quote
    version: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(sa.String(20), index=True)
    business_status: Mapped[str | None] = mapped_column(sa.String(32))
    status_reason: Mapped[str | None] = mapped_column(sa.String(40))
    status_text: Mapped[str | None] = mapped_column(sa.Text)  # restricted: 'other' explanations
    redirect_service_id: Mapped[uuid.UUID | None]
    source: Mapped[str] = mapped_column(sa.String(16))  # gp | partner | self | adjustments

    referrer_org_id: Mapped[str] = mapped_column(sa.String(64))  # indexed with submitted_at (the referrer's list)
    referrer_subject: Mapped[str] = mapped_column(sa.String(255))
    referrer_role: Mapped[str] = mapped_column(sa.String(32))
    # Who referred, in words (their token's `name` and `org_name`, or the suggestion's issuer): staff details
    # the adviser reaches them by; the login id above is never shown.
    referrer_name: Mapped[str | None] = mapped_column(sa.String(200))
    referrer_profession: Mapped[str | None] = mapped_column(sa.String(32))
    referrer_org_name: Mapped[str | None] = mapped_column(sa.String(200))

    service_id: Mapped[uuid.UUID | None]  # indexed with status (routing counts open caseloads)
    assigned_org_id: Mapped[str | None] = mapped_column(sa.String(64))  # indexed with submitted_at (the queue)
    assigned_adviser: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    # Their display name, when the token that assigned them was theirs (a claim): other organisations see it,
    # or the role and organisation, never the login id above (access.staff_words).
    assigned_adviser_name: Mapped[str | None] = mapped_column(sa.String(200))
    routing: Mapped[str] = mapped_column(sa.String(8), default="routed")  # routed | held

    # The person (minimum necessary; restricted to the parties who may read the referral). Name and birth
    # date are None only once erased (rights.erase: retention, or the person's erasure request).
    nhs_number: Mapped[str | None] = mapped_column(sa.String(10), index=True)
    given_name: Mapped[str | None] = mapped_column(sa.String(100))
    family_name: Mapped[str | None] = mapped_column(sa.String(100))
    birth_date: Mapped[date | None]
    postcode: Mapped[str | None] = mapped_column(sa.String(8))
    area: Mapped[str | None] = mapped_column(sa.String(4), index=True)  # postcode district, e.g. GL1
    email: Mapped[str | None] = mapped_column(sa.String(255))
    # The mailbox that address delivers to, keyed (services.mailbox_key; migration 0022): a new status link is
    # asked for by address, found by this index alone. Erased with the address; re-keyed by a rotation.
    mailbox_key: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    preferred_contact: Mapped[str | None] = mapped_column(sa.String(16))
    match_key: Mapped[str] = mapped_column(sa.String(64), index=True)  # name + birth date + postcode
    # Equity fields for insights (codes, optional).
    deprivation_decile: Mapped[int | None]
    # The age band on the day of referral, kept when the birth date is erased (insights.referral_age_band).
    age_band: Mapped[str | None] = mapped_column(sa.String(8))
    sex: Mapped[str | None] = mapped_column(sa.String(16))
    ethnicity: Mapped[str | None] = mapped_column(sa.String(32))
    # The need.
    employment_situation: Mapped[str | None] = mapped_column(sa.String(32))
    health_category: Mapped[str | None] = mapped_column(sa.String(32))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    # Context from an adjustment suggestion.
    request_id: Mapped[uuid.UUID | None] = mapped_column(unique=True)
    suggestion_id: Mapped[uuid.UUID | None]
    fit_note_decision: Mapped[str | None] = mapped_column(sa.String(32))
    adjustment_categories: Mapped[list[Any] | None]

    # Consent: who captured it, when, how, for which service, whether outcomes go back to the GP.
    consent_id: Mapped[uuid.UUID | None]
    consent_captured_by: Mapped[str] = mapped_column(sa.String(255))
    consent_captured_at: Mapped[datetime]
    consent_method: Mapped[str] = mapped_column(sa.String(32))
    # The service the consent covers: the one the referrer named, or (routed by area) the one routing sent
    # it to, recorded at routing time.
    consent_scope_service_id: Mapped[uuid.UUID | None]
    # The service the referrer named (None: any adviser service): routing and duplicates follow it.
    requested_service_id: Mapped[uuid.UUID | None]
    outcomes_to_referrer: Mapped[bool] = mapped_column(default=False)
    # The person agreed to general status emails at their (verified or clinician-recorded) address.
    person_updates: Mapped[bool] = mapped_column(default=False)
    # When and how that answer (yes or no) was last given (services.WITH_CONSENT...; migration 0018): with the
    # referral's consent, on the self-referral form, or on the person's status page, where it can change.
    person_updates_at: Mapped[datetime | None]
    person_updates_how: Mapped[str | None] = mapped_column(sa.String(32))
    # The consent the status emails go under (their messages and their revocation name it): a new id each time
    # the person agrees again, as notifications never sends under one revoked when they stopped them.
    updates_consent_id: Mapped[uuid.UUID | None]
    # When the person was sent "we have your referral" with their status link (at intake since migration 0015;
    # None: not yet - a referral taken in before it, told when first received - or no status emails).
    received_message_at: Mapped[datetime | None]
    consent_withdrawn_at: Mapped[datetime | None]

    replaces_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("referrals.id"))
    duplicate_of_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("referrals.id"))
    duplicate_reason: Mapped[str | None] = mapped_column(sa.Text)
    status_link_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)  # the person's link
    # When that link was made (migration 0021): it stops working some time after this and after the referral ends
    # (services.status_link_expires_at); a new one the person asks for starts again.
    status_link_issued_at: Mapped[datetime | None]
    # When a link the person asked for was last made and emailed (migration 0024): a request soon after sends no
    # other (services.renew_status_links, REFERRALS_STATUS_LINK_REPEAT_MINUTES).
    status_link_renewed_at: Mapped[datetime | None]

    submitted_at: Mapped[datetime] = mapped_column(index=True)  # every list's order: the alliance's is all of them
    acknowledged_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    first_attempt_at: Mapped[datetime | None]
    first_contact_at: Mapped[datetime | None] = mapped_column(index=True)  # the capacity summary's last 90 days
    closed_at: Mapped[datetime | None]
    held_from: Mapped[str | None] = mapped_column(sa.String(20))
    hold_reason: Mapped[str | None] = mapped_column(sa.String(32))
    hold_review_date: Mapped[date | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # When the person's details were erased (retention period over, or their erasure request).
    erased_at: Mapped[datetime | None]

    attempts: Mapped[list["ContactAttempt"]] = relationship(order_by="ContactAttempt.id", lazy="selectin")
    outcomes: Mapped[list["Outcome"]] = relationship(order_by="Outcome.id", lazy="selectin")
    notes: Mapped[list["Note"]] = relationship(order_by="Note.id", lazy="selectin")
    transitions: Mapped[list["Transition"]] = relationship(order_by="Transition.id", lazy="selectin")

    # UPDATEs carry `WHERE version = <read version>`: a concurrent writer gets StaleDataError.
    __mapper_args__ = {"version_id_col": version}
    # A queue or referrer's list is one organisation's referrals in submitted order, a page at a time: read from
    # these in order, not all the organisation's sorted for each page (migration 0020).
    __table_args__ = (sa.Index("ix_referrals_service_id_status", "service_id", "status"),
                      sa.Index("ix_referrals_assigned_org_id_submitted_at", "assigned_org_id", "submitted_at"),
                      sa.Index("ix_referrals_referrer_org_id_submitted_at", "referrer_org_id", "submitted_at"))


class ContactAttempt(Base):
    __tablename__ = "contact_attempts"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    referral_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("referrals.id"), index=True)
    channel: Mapped[str] = mapped_column(sa.String(16))
    result: Mapped[str] = mapped_column(sa.String(16))
    attempted_at: Mapped[datetime]
    by: Mapped[str] = mapped_column(sa.String(255))  # a login id: only the assigned organisation sees it
    by_name: Mapped[str | None] = mapped_column(sa.String(200))  # their token's display name, if it had one
    by_role: Mapped[str | None] = mapped_column(sa.String(32))


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    referral_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("referrals.id"), index=True)
    text: Mapped[str] = mapped_column(sa.Text)
    by: Mapped[str] = mapped_column(sa.String(255))  # a login id: only the author's organisation sees it
    by_org: Mapped[str | None] = mapped_column(sa.String(64))
    by_name: Mapped[str | None] = mapped_column(sa.String(200))  # their token's display name, if it had one
    by_role: Mapped[str | None] = mapped_column(sa.String(32))
    written_at: Mapped[datetime]


class Outcome(Base):
    __tablename__ = "outcomes"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    referral_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("referrals.id"), index=True)
    type: Mapped[str] = mapped_column(sa.String(32))
    occurred_on: Mapped[date]
    details: Mapped[dict[str, Any]]
    recorded_by: Mapped[str] = mapped_column(sa.String(255))
    recorded_at: Mapped[datetime]


class SustainmentCheck(Base):
    """A check on a job start at 13 and 26 weeks; due automatically, done by an outcome."""

    __tablename__ = "sustainment_checks"

    referral_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("referrals.id"), primary_key=True)
    weeks: Mapped[int] = mapped_column(primary_key=True)
    due_on: Mapped[date] = mapped_column(index=True)
    done_at: Mapped[datetime | None]


class Transition(Base):
    """Every lifecycle step: who, when, from what to what (the referral's history)."""

    __tablename__ = "transitions"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    referral_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("referrals.id"), index=True)
    action: Mapped[str] = mapped_column(sa.String(32))
    from_status: Mapped[str | None] = mapped_column(sa.String(20))
    to_status: Mapped[str] = mapped_column(sa.String(20))
    business_status: Mapped[str | None] = mapped_column(sa.String(32))
    reason: Mapped[str | None] = mapped_column(sa.String(40))
    actor: Mapped[str] = mapped_column(sa.String(255))
    actor_role: Mapped[str] = mapped_column(sa.String(32))
    occurred_at: Mapped[datetime]
    version: Mapped[int]


class SlaBreach(Base):
    __tablename__ = "sla_breaches"

    referral_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("referrals.id"), primary_key=True)
    clock: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    due_at: Mapped[datetime]
    detected_at: Mapped[datetime]


class PendingSelfReferral(Base):
    """A resident's self-referral waiting for its contact route to be verified."""

    __tablename__ = "pending_self_referrals"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    payload: Mapped[dict[str, Any]]
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoutingService(Base):
    """Read model of directory services, fed by directory.service.* events.

    Who a service serves is kept in columns and child tables (not JSON) so that choosing a
    service at intake is one indexed query."""

    __tablename__ = "routing_services"

    service_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(index=True)
    areas_stated: Mapped[bool] = mapped_column(default=False)  # False: no service area stated (serves anyone)
    minimum_age: Mapped[int | None]  # None: no bound
    maximum_age: Mapped[int | None]
    active: Mapped[bool] = mapped_column(default=True)
    accepting_referrals: Mapped[bool] = mapped_column(default=True)
    changed_at: Mapped[datetime]  # time of the latest event applied (older events are ignored)


class RoutingServiceArea(Base):
    """A postcode district (outward code, e.g. GL1) a routing service serves."""

    __tablename__ = "routing_service_areas"

    service_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("routing_services.service_id", ondelete="CASCADE"),
                                                  primary_key=True)
    area_code: Mapped[str] = mapped_column(sa.String(4), primary_key=True)


class RoutingServiceTerm(Base):
    """A directory taxonomy term a routing service carries (REFERRALS_ROUTING_TAXONOMY matches on these)."""

    __tablename__ = "routing_service_terms"

    service_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("routing_services.service_id", ondelete="CASCADE"),
                                                  primary_key=True)
    term_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)


class CapacitySnapshot(Base):
    """The capacity figures last published for a service (publish again only when they change)."""

    __tablename__ = "capacity_snapshots"

    service_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    accepting_referrals: Mapped[bool]
    open_referrals: Mapped[int]
    typical_wait_days: Mapped[int | None]
    published_at: Mapped[datetime]


class RoutingAlert(Base):
    """A referral nothing could take: held for the alliance, never dropped."""

    __tablename__ = "routing_alerts"

    referral_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("referrals.id"), primary_key=True)
    reason: Mapped[str] = mapped_column(sa.String(32))
    raised_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]


class OrganisationName(Base):
    """An organisation's name, as the tokens of its staff acting here carried it (`org_name`): the directory's
    events carry organisation ids only, so this is how referrals names an organisation to another one.
    Organisations only, never people."""

    __tablename__ = "organisation_names"

    org_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    seen_at: Mapped[datetime]  # when a token first carried this name


class Adviser(Base):
    """An adviser organisation's adviser, as their own token named them when they last acted or read here: the
    roster a referral is assigned from (services.remember_adviser). Staff are never added by someone else's word:
    accept and assign may name only an adviser recorded here for the referral's organisation, or the actor."""

    __tablename__ = "advisers"

    org_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(sa.String(255), primary_key=True)  # their login id (the token's `sub`)
    role: Mapped[str] = mapped_column(sa.String(32))
    name: Mapped[str | None] = mapped_column(sa.String(200))  # their token's display name, if it had one
    last_seen_at: Mapped[datetime]  # moved on at most once a day (services.ROSTER_SEEN_EVERY)


class RateLimitHit(Base):
    """One counted request in a sliding window (self-referral starts), shared by every web worker.
    `bucket` is a keyed hash (HMAC under REFERRALS_PERSON_KEY) of what is limited (the contact address,
    the client IP), never the value."""

    __tablename__ = "rate_limit_hits"
    __table_args__ = (sa.Index("ix_rate_limit_hits_bucket_hit_at", "bucket", "hit_at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    bucket: Mapped[str] = mapped_column(sa.String(64))
    hit_at: Mapped[datetime]


class StatusLinkRequest(Base):
    """A person's request for new status links (POST /status-links), waiting for the `new-links` job: the request
    writes this row and nothing else whatever the address matches, so neither its answer nor its writes nor its
    time tell whether a referral is followed there (services.request_status_links). The address's keyed mailbox
    under each person key set (services.mailbox_key), never the address; deleted once handled."""

    __tablename__ = "status_link_requests"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    mailbox_keys: Mapped[list[Any]]
    requested_at: Mapped[datetime]


class WithdrawnRequest(Base):
    """A clinician's referral request whose consent was withdrawn before the request made a referral:
    the request was dead-lettered and may be re-driven, or is redelivered from an older offset. If it
    comes, it makes no referral. Ids and times only, nothing about the person; forgotten once no topic
    can still bring the request back (jobs.withdrawal_memory)."""

    __tablename__ = "withdrawn_requests"

    request_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    consent_id: Mapped[uuid.UUID] = mapped_column(index=True)
    practice_id: Mapped[uuid.UUID]
    withdrawn_at: Mapped[datetime]  # when the clinician recorded it
    recorded_at: Mapped[datetime] = mapped_column(index=True)  # when we heard: the keeping time runs from here
