"""The adjustments service's database: its own tables plus the platform tables.

Two parts:
- the guidance knowledge base (conditions -> functional limitations -> adjustments through
  guidance rules), versioned as a whole: every edit by an alliance admin bumps
  `guidance_versions`, and a suggestion records the version it was written against;
- clinicians' adjustment suggestions (fit-note shaped), the employer's response to them,
  and the referral requests a clinician started with the read model of their progress.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from worklink.db import NAMING_CONVENTION, platform_tables, utcnow


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: sa.JSON, list[Any]: sa.JSON, datetime: sa.DateTime(timezone=True)}


# outbox, processed_events and audit_log live in this service's own database.
PLATFORM = platform_tables(Base.metadata)

Slug = sa.String(64)


# --- guidance knowledge base ------------------------------------------------------

class GuidanceVersion(Base):
    """One row per published state of the knowledge base; the highest is current."""

    __tablename__ = "guidance_versions"
    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_by: Mapped[str] = mapped_column(sa.String(255))
    change: Mapped[str] = mapped_column(sa.String(255))


class Source(Base):
    __tablename__ = "guidance_sources"
    id: Mapped[str] = mapped_column(Slug, primary_key=True)
    publisher: Mapped[str] = mapped_column(sa.String(200))
    title: Mapped[str] = mapped_column(sa.String(300))
    url: Mapped[str] = mapped_column(sa.String(500))


class Limitation(Base):
    __tablename__ = "functional_limitations"
    id: Mapped[str] = mapped_column(Slug, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    domain: Mapped[str] = mapped_column(sa.String(32))
    description: Mapped[str] = mapped_column(sa.String(500))
    icf_codes: Mapped[list[Any]] = mapped_column(default=list)
    # optimistic lock for admin edits (migration 0019; a server default only, as a rule's)
    revision: Mapped[int] = mapped_column(server_default="1")


class WorkFunction(Base):
    __tablename__ = "work_functions"
    id: Mapped[str] = mapped_column(Slug, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    onet_element_id: Mapped[str | None] = mapped_column(sa.String(32))
    examples: Mapped[list[Any]] = mapped_column(default=list)


class Condition(Base):
    __tablename__ = "conditions"
    id: Mapped[str] = mapped_column(Slug, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    category: Mapped[str] = mapped_column(sa.String(32))
    synonyms: Mapped[list[Any]] = mapped_column(default=list)
    limitation_ids: Mapped[list[Any]] = mapped_column(default=list)


class Adjustment(Base):
    __tablename__ = "adjustments"
    id: Mapped[str] = mapped_column(Slug, primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    employer_text: Mapped[str] = mapped_column(sa.String(1000))
    fit_note_category: Mapped[str] = mapped_column(sa.String(32))
    equality_act_requirement: Mapped[str] = mapped_column(sa.String(40))
    adjustment_area: Mapped[str] = mapped_column(sa.String(40))
    cost_band: Mapped[str] = mapped_column(sa.String(16))
    access_to_work: Mapped[bool] = mapped_column(default=False)
    access_to_work_element: Mapped[str | None] = mapped_column(sa.String(40))
    duration_type: Mapped[str] = mapped_column(sa.String(16), default="temporary")
    home_working_compatible: Mapped[bool] = mapped_column(default=True)
    review_status: Mapped[str] = mapped_column(sa.String(24), default="published")
    reviewed_by: Mapped[str | None] = mapped_column(sa.String(255))  # who marked it clinically reviewed
    reviewed_at: Mapped[datetime | None]
    revision: Mapped[int] = mapped_column(default=1)  # optimistic lock for admin edits
    updated_in_version: Mapped[int] = mapped_column(default=1)


class GuidanceRule(Base):
    """If limitation X (optionally with condition Y or work function Z), consider adjustment A."""

    __tablename__ = "guidance_rules"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    limitation_id: Mapped[str] = mapped_column(sa.ForeignKey("functional_limitations.id"), index=True)
    condition_id: Mapped[str | None] = mapped_column(sa.ForeignKey("conditions.id"))
    work_function_id: Mapped[str | None] = mapped_column(sa.ForeignKey("work_functions.id"))
    adjustment_id: Mapped[str] = mapped_column(sa.ForeignKey("adjustments.id"), index=True)
    priority: Mapped[int] = mapped_column(default=2)  # 1 = consider first
    rationale: Mapped[str] = mapped_column(sa.String(500))
    source_ids: Mapped[list[Any]] = mapped_column(default=list)
    review_status: Mapped[str] = mapped_column(sa.String(24), default="published")
    reviewed_by: Mapped[str | None] = mapped_column(sa.String(255))
    reviewed_at: Mapped[datetime | None]
    # optimistic lock for admin edits and clinical reviews (migration 0018)
    # (a server default only: a Core insert of an older revision's columns must not name it)
    revision: Mapped[int] = mapped_column(server_default="1")


class PhraseTemplate(Base):
    """Ready wording for the fit note's comments box ({patient}, {period}, {task} placeholders)."""

    __tablename__ = "phrase_templates"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    limitation_id: Mapped[str | None] = mapped_column(sa.ForeignKey("functional_limitations.id"))
    adjustment_id: Mapped[str | None] = mapped_column(sa.ForeignKey("adjustments.id"))
    text: Mapped[str] = mapped_column(sa.String(500))
    # optimistic lock for admin edits (migration 0019; a server default only, as a rule's)
    revision: Mapped[int] = mapped_column(server_default="1")


# --- suggestions -----------------------------------------------------------------------

class Suggestion(Base):
    """A clinician's fit-note-shaped adjustment suggestion for one patient."""

    __tablename__ = "suggestions"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    practice_id: Mapped[uuid.UUID] = mapped_column(index=True)
    clinician_id: Mapped[str] = mapped_column(sa.String(128))
    status: Mapped[str] = mapped_column(sa.String(16), default="draft")
    version: Mapped[int] = mapped_column(default=1)
    guidance_version: Mapped[int]
    # patient (null once erased: rights.erase)
    nhs_number: Mapped[str | None] = mapped_column(sa.String(10), index=True)
    given_name: Mapped[str | None] = mapped_column(sa.String(100))
    family_name: Mapped[str | None] = mapped_column(sa.String(100))
    birth_date: Mapped[date | None]
    email: Mapped[str | None] = mapped_column(sa.String(254))
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    postcode: Mapped[str | None] = mapped_column(sa.String(8))
    # issuer (fit note fields 7-8)
    issuer_name: Mapped[str | None] = mapped_column(sa.String(200))  # typed: may name a specialty; erased
    issuer_profession: Mapped[str] = mapped_column(sa.String(32))
    # assessment
    assessment_date: Mapped[date]
    assessment_method: Mapped[str] = mapped_column(sa.String(16))
    conditions: Mapped[list[Any]] = mapped_column(default=list)  # [{text, condition_id?, disclose}]
    condition_started_on: Mapped[date | None]
    decision: Mapped[str] = mapped_column(sa.String(16))
    categories: Mapped[list[Any]] = mapped_column(default=list)
    functional_effects: Mapped[str] = mapped_column(sa.Text, default="")
    recommendations: Mapped[list[Any]] = mapped_column(default=list)
    # period
    period_start: Mapped[date]
    period_end: Mapped[date | None]
    reassessment_needed: Mapped[bool] = mapped_column(default=False)
    review_date: Mapped[date | None]
    # job context and signposting
    job: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occupational_health_suggested: Mapped[bool] = mapped_column(default=False)
    access_to_work_signposted: Mapped[bool] = mapped_column(default=False)
    # consent
    share_with_employer: Mapped[bool] = mapped_column(default=False)
    refer_to_employment_adviser: Mapped[bool] = mapped_column(default=False)
    # ... and to be emailed how that referral goes (sent on with the referral request)
    referral_updates_by_email: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # ... and that the adviser may report the referral's outcome back to the practice
    outcomes_to_gp: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    consent_recorded_at: Mapped[datetime | None]
    # lifecycle
    supersedes_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("suggestions.id"))
    withdrawn_reason: Mapped[str | None] = mapped_column(sa.String(40))
    review_due_notified_on: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    issued_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    # the patient's details and free text erased (past retention or on request); ids, codes, dates kept
    erased_at: Mapped[datetime | None]

    __table_args__ = (sa.Index("ix_suggestions_status_period_end", "status", "period_end"),)


class EmployerLink(Base):
    """A single-use link on one edition of the employer letter; the token itself is never stored.

    Issuing opens one; each amendment revokes the open one and opens a fresh one for the
    amended version (a new response round), so the employer answers the advice they were sent.
    """

    __tablename__ = "employer_links"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    suggestion_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("suggestions.id"), index=True)
    # the suggestion version the letter carrying this link describes (null: made before rounds)
    suggestion_version: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]  # replaced by an amendment's new link


class EmployerResponse(Base):
    """One employer answer; a suggestion keeps every round's answer (its history)."""

    __tablename__ = "employer_responses"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    suggestion_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("suggestions.id"), index=True)
    link_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("employer_links.id"), unique=True)
    suggestion_version: Mapped[int | None]  # the version the employer answered
    outcome: Mapped[str] = mapped_column(sa.String(24))
    items: Mapped[list[Any]] = mapped_column(default=list)  # [{index, adjustment_id?, outcome, reason}]
    comments: Mapped[str] = mapped_column(sa.Text, default="")
    responder_name: Mapped[str] = mapped_column(sa.String(200))
    responder_role: Mapped[str] = mapped_column(sa.String(200), default="")
    effective_from: Mapped[date | None]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReferralRequest(Base):
    """A consented request to the referrals service, and the read model of its progress."""

    __tablename__ = "referral_requests"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)  # the event's request_id
    suggestion_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("suggestions.id"), index=True)
    practice_id: Mapped[uuid.UUID] = mapped_column(index=True)
    clinician_id: Mapped[str] = mapped_column(sa.String(128))
    consent_id: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4)
    consented_at: Mapped[datetime]
    outcomes_to_gp: Mapped[bool] = mapped_column(default=True)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    # read model, from referrals.referral.<step> events
    referral_id: Mapped[uuid.UUID | None]
    status: Mapped[str] = mapped_column(sa.String(32), default="requested")
    business_status: Mapped[str | None] = mapped_column(sa.String(64))
    reason: Mapped[str | None] = mapped_column(sa.String(64))
    assigned_org_id: Mapped[uuid.UUID | None]
    service_id: Mapped[uuid.UUID | None]
    referral_version: Mapped[int] = mapped_column(default=0)
    status_changed_at: Mapped[datetime | None]
    # Our own mark, not referrals' state: the sweep found no answer at all for ADJUSTMENTS_REFERRAL_ANSWER_HOURS
    # (the clinician is shown "not yet received", operations told once); any lifecycle event clears it.
    unanswered_at: Mapped[datetime | None]
