"""Request and response schemas (they also generate the OpenAPI document)."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates, validates_schema

from worklink.nhs import nhs_number_is_valid
from worklink.retention import ERASURE_REASONS
from worklink_adjustments.domain import (ASSESSMENT_METHODS, DECISIONS, EMPLOYER_OUTCOMES, FIT_NOTE_CATEGORIES,
                                         ISSUER_PROFESSIONS, PROFESSION_RULE, STATUSES, WITHDRAWAL_REASONS,
                                         uk_today)
from worklink_adjustments.models import EmployerLink, EmployerResponse, ReferralRequest, Suggestion

SLUG = validate.Regexp(r"^[a-z0-9][a-z0-9_]{0,63}$", error="Not a library id (lower-case letters, digits, _).")
# Sources keep the ids they were published under ('acas-mh-adjustments'): hyphens allowed.
SOURCE_ID = validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,63}$", error="Not a source id (lower-case letters, digits, _, -).")
COST_BANDS = ("none", "under_100", "100_1000", "over_1000")
EQUALITY_ACT = ("provision_criterion_practice", "physical_feature", "auxiliary_aid")
AREAS = ("hours_patterns", "role_responsibilities", "relationships_communication", "physical_environment",
         "policy_application", "equipment_services_support")
ATW_ELEMENTS = ("equipment_software", "support_worker", "travel_to_work", "vehicle_adaptation", "workplace_changes",
                "mental_health_support", "interview_communication")
REVIEW_STATUSES = ("draft", "clinically_reviewed", "published", "retired")
# `clinically_reviewed` is recorded only through POST .../clinical-review, which keeps who and when.
WRITABLE_REVIEW_STATUSES = ("draft", "published", "retired")
REVIEW_STATUS_DOC = {"description": "draft | published (live, not clinically reviewed) | retired; "
                                    "clinically_reviewed is set only by POST .../clinical-review"}
DOMAINS = ("physical", "sensory", "cognitive", "mental_health", "fatigue_energy", "pain", "communication",
           "treatment_schedule")


def one_of(values, **kwargs):
    return fields.String(validate=validate.OneOf(values), **kwargs)


class Text(fields.String):
    """Words a person typed: spaces at either end are dropped before the length is checked, so a
    required name of spaces is refused instead of stored as a blank."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


def text(max_length: int, min_length: int = 0, **kwargs):
    return Text(validate=validate.Length(min_length, max_length), **kwargs)


# --- guidance ---------------------------------------------------------------------------


class GuidanceQuery(Schema):
    q = text(200, metadata={"description": "free text: a condition, a difficulty, a task or an adjustment"})
    condition = fields.String(validate=SLUG)
    limitation = fields.List(fields.String(validate=SLUG), load_default=list)
    task = fields.String(validate=SLUG, metadata={"description": "a work function id"})
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 10_000))


class AdjustmentSchema(Schema):
    id = fields.String(required=True, validate=SLUG)
    title = text(200, 3, required=True)
    employer_text = text(1000, 10, required=True)
    fit_note_category = one_of(FIT_NOTE_CATEGORIES, required=True)
    equality_act_requirement = one_of(EQUALITY_ACT, required=True)
    adjustment_area = one_of(AREAS, required=True)
    cost_band = one_of(COST_BANDS, required=True)
    access_to_work = fields.Boolean(required=True)
    access_to_work_element = one_of(ATW_ELEMENTS, allow_none=True, load_default=None)
    duration_type = one_of(("temporary", "ongoing", "fluctuating"), load_default="temporary")
    home_working_compatible = fields.Boolean(load_default=True)
    review_status = one_of(WRITABLE_REVIEW_STATUSES, load_default="published", metadata=REVIEW_STATUS_DOC)
    reviewed_by = fields.String(dump_only=True, allow_none=True, metadata={"description": "who clinically reviewed it"})
    reviewed_at = fields.DateTime(dump_only=True, allow_none=True)
    revision = fields.Integer(dump_only=True)
    updated_in_version = fields.Integer(dump_only=True)


# Answers can carry every status (clinically_reviewed included); requests only the writable ones.
REVIEW_STATUS_OUT = {"description": "draft | clinically_reviewed | published | retired",
                     "enum": list(REVIEW_STATUSES)}


class AdjustmentOutSchema(AdjustmentSchema):
    review_status = fields.String(metadata=REVIEW_STATUS_OUT)


class AdjustmentPatchSchema(AdjustmentSchema):
    class Meta:
        exclude = ("id",)

    revision = fields.Integer(required=True, load_only=True,
                              metadata={"description": "the revision you read (optimistic locking)"})


class RuleSchema(Schema):
    id = fields.Integer(dump_only=True)
    limitation_id = fields.String(required=True, validate=SLUG)
    condition_id = fields.String(validate=SLUG, allow_none=True, load_default=None)
    work_function_id = fields.String(validate=SLUG, allow_none=True, load_default=None)
    adjustment_id = fields.String(required=True, validate=SLUG)
    priority = fields.Integer(load_default=2, validate=validate.Range(1, 3))
    rationale = text(500, 5, required=True)
    source_ids = fields.List(fields.String(validate=SOURCE_ID), load_default=list)
    review_status = one_of(WRITABLE_REVIEW_STATUSES, load_default="published", metadata=REVIEW_STATUS_DOC)
    reviewed_by = fields.String(dump_only=True, allow_none=True)
    reviewed_at = fields.DateTime(dump_only=True, allow_none=True)


class RuleOutSchema(RuleSchema):
    review_status = fields.String(metadata=REVIEW_STATUS_OUT)
    revision = fields.Integer(metadata={"description": "send it with an edit or a clinical review of the rule"})


REVISION_READ = {"description": "the revision you read (409 with current_revision if the rule changed since)"}


class RulePatchSchema(Schema):
    revision = fields.Integer(required=True, metadata=REVISION_READ)
    priority = fields.Integer(validate=validate.Range(1, 3))
    rationale = text(500, 5)
    review_status = one_of(WRITABLE_REVIEW_STATUSES, metadata=REVIEW_STATUS_DOC)


class AdjustmentReviewSchema(Schema):
    revision = fields.Integer(required=True, metadata={"description": "the revision you reviewed (409 if it changed)"})


class RuleReviewSchema(Schema):
    """The revision of the rule you reviewed: the reviewer is the signed-in alliance admin, the time is now."""
    revision = fields.Integer(required=True, metadata=REVISION_READ)


class ReviewCountSchema(Schema):
    total = fields.Integer()
    unreviewed = fields.Integer()


class UnreviewedAdjustmentSchema(Schema):
    id = fields.String()
    title = fields.String()
    review_status = fields.String()


class UnreviewedRuleSchema(Schema):
    id = fields.Integer()
    limitation_id = fields.String()
    condition_id = fields.String(allow_none=True)
    work_function_id = fields.String(allow_none=True)
    adjustment_id = fields.String()
    priority = fields.Integer()
    rationale = fields.String(metadata={"description": "what a reviewer reads and reviews"})
    revision = fields.Integer(metadata={"description": "send it with the rule's clinical review"})
    review_status = fields.String()


class LastReviewSchema(Schema):
    by = fields.String(metadata={"description": "who reviewed, as they signed in"})
    at = fields.DateTime(metadata={"description": "when"})


class ReviewReportSchema(Schema):
    guidance_version = fields.Integer()
    clinically_reviewed = fields.Boolean(metadata={"description": "true only when every live item is reviewed"})
    adjustments = fields.Nested(ReviewCountSchema)
    rules = fields.Nested(ReviewCountSchema)
    last_review = fields.Nested(LastReviewSchema, allow_none=True, metadata={
        "description": "the latest clinical review of a library adjustment; null if none was ever reviewed"})
    unreviewed_adjustments = fields.List(fields.Nested(UnreviewedAdjustmentSchema))
    unreviewed_rules = fields.List(fields.Nested(UnreviewedRuleSchema))


class ConditionSchema(Schema):
    id = fields.String(required=True, validate=SLUG)
    name = text(120, 2, required=True)
    category = fields.String(required=True, validate=SLUG)
    synonyms = fields.List(text(120, 2), load_default=list)
    limitation_ids = fields.List(fields.String(validate=SLUG), required=True, validate=validate.Length(min=1))


class ConditionPatchSchema(Schema):
    name = text(120, 2)
    category = fields.String(validate=SLUG)
    synonyms = fields.List(text(120, 2))
    limitation_ids = fields.List(fields.String(validate=SLUG), validate=validate.Length(min=1))


ICF_CODE = validate.Regexp(r"^[bdes][0-9]{3,5}$", error="Not an ICF code (b, d, e or s and 3 to 5 digits).")


class LimitationInSchema(Schema):
    id = fields.String(required=True, validate=SLUG)
    name = text(120, 2, required=True)
    domain = one_of(DOMAINS, required=True)
    description = text(500, load_default="")
    icf_codes = fields.List(fields.String(validate=ICF_CODE), load_default=list)


class LimitationPatchSchema(Schema):
    revision = fields.Integer(required=True, metadata={
        "description": "the revision you read (409 with current_revision if the limitation changed since)"})
    name = text(120, 2)
    domain = one_of(DOMAINS)
    description = text(500)
    icf_codes = fields.List(fields.String(validate=ICF_CODE))


ONET_ELEMENT = validate.Regexp(r"^[1-7](\.[A-Za-z0-9]{1,3}){1,5}$",
                               error="Not an O*NET element id (for example 4.A.3.a.2).")


class WorkFunctionInSchema(Schema):
    id = fields.String(required=True, validate=SLUG)
    name = text(120, 2, required=True)
    onet_element_id = fields.String(validate=ONET_ELEMENT, allow_none=True, load_default=None,
                                    metadata={"description": "O*NET generalized work activity id, if one fits"})
    examples = fields.List(text(120, 2), load_default=list)


class WorkFunctionPatchSchema(Schema):
    name = text(120, 2)
    onet_element_id = fields.String(validate=ONET_ELEMENT, allow_none=True)
    examples = fields.List(text(120, 2))


PLACEHOLDERS = ("patient", "period", "task")


def _placeholders_only(value: str) -> None:
    """Braces only around the known placeholders: the clinician fills in {patient}, {period} and
    {task}; anything else in braces ('{0.__class__}', '{patient') would reach the fit note as typed."""
    fields_used = re.findall(r"\{([^{}]*)\}", value)
    unknown = sorted({f for f in fields_used if f not in PLACEHOLDERS})
    if unknown or re.sub(r"\{[^{}]*\}", "", value).count("{") or re.sub(r"\{[^{}]*\}", "", value).count("}"):
        raise ValidationError("Use braces only around a placeholder: " + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
                              + (f" (not {', '.join('{' + u + '}' for u in unknown)})" if unknown else "") + ".")


PHRASE_TEXT_CHECKS = [validate.Length(10, 500), _placeholders_only]
PHRASE_TEXT_DOC = {"description": "placeholders: {patient}, {period}, {task}"}
FOR_NOTHING = "Name the limitation or the adjustment this wording is for."


class PhrasePatchSchema(Schema):
    """Changed fields of ready wording; after the change it is still for a limitation or an adjustment."""
    revision = fields.Integer(required=True, metadata={
        "description": "the revision you read (409 with current_revision if the wording changed since)"})
    limitation_id = fields.String(validate=SLUG, allow_none=True)
    adjustment_id = fields.String(validate=SLUG, allow_none=True)
    text = fields.String(validate=PHRASE_TEXT_CHECKS, metadata=PHRASE_TEXT_DOC)


class PhraseInSchema(Schema):
    limitation_id = fields.String(validate=SLUG, allow_none=True, load_default=None)
    adjustment_id = fields.String(validate=SLUG, allow_none=True, load_default=None)
    text = fields.String(required=True, validate=PHRASE_TEXT_CHECKS, metadata=PHRASE_TEXT_DOC)

    @validates_schema
    def about_something(self, data, **_):
        if not (data.get("limitation_id") or data.get("adjustment_id")):
            raise ValidationError({"limitation_id": [FOR_NOTHING]})


class LimitationSchema(Schema):
    id = fields.String()
    name = fields.String()
    domain = one_of(DOMAINS)
    description = fields.String()
    icf_codes = fields.List(fields.String())


class LimitationOutSchema(LimitationSchema):
    revision = fields.Integer(metadata={"description": "send it with an edit of the limitation"})


class WorkFunctionSchema(Schema):
    id = fields.String()
    name = fields.String()
    onet_element_id = fields.String(allow_none=True)
    examples = fields.List(fields.String())


class HitSchema(Schema):
    adjustment = fields.Nested(AdjustmentOutSchema)
    score = fields.Float()
    limitations = fields.List(fields.String())
    conditions = fields.List(fields.String())
    work_functions = fields.List(fields.String())
    rationale = fields.String()
    text_match = fields.Boolean()
    clinically_reviewed = fields.Boolean(metadata={
        "description": "false unless the adjustment and the rules that found it were clinically reviewed"})


class GuidanceReviewSchema(Schema):
    """The library's clinical review, shown to clinicians beside the guidance (live content only)."""

    adjustments = fields.Integer(metadata={"description": "live adjustments"})
    adjustments_reviewed = fields.Integer(metadata={"description": "of those, clinically reviewed"})
    rules = fields.Integer(metadata={"description": "live rules (of live adjustments)"})
    rules_reviewed = fields.Integer(metadata={"description": "of those, clinically reviewed"})
    complete = fields.Boolean(metadata={"description": "every live adjustment and rule is reviewed"})


class SearchResultSchema(Schema):
    guidance_version = fields.Integer()
    conditions = fields.List(fields.Nested(ConditionSchema))
    limitations = fields.List(fields.Nested(LimitationSchema))
    work_functions = fields.List(fields.Nested(WorkFunctionSchema))
    hits = fields.List(fields.Nested(HitSchema))
    total = fields.Integer()
    review = fields.Nested(GuidanceReviewSchema, metadata={
        "description": "how much of this guidance version is clinically reviewed"})


class GuidanceVersionSchema(Schema):
    version = fields.Integer()
    published_at = fields.DateTime()
    published_by = fields.String()
    change = fields.String()


class VersionListSchema(Schema):
    items = fields.List(fields.Nested(GuidanceVersionSchema), metadata={"description": "newest first"})


class PhraseSchema(Schema):
    id = fields.Integer(metadata={"description": "GET or PATCH /guidance/phrases/<id>"})
    limitation_id = fields.String(allow_none=True)
    adjustment_id = fields.String(allow_none=True)
    text = fields.String()


class PhraseOutSchema(PhraseSchema):
    revision = fields.Integer(metadata={"description": "send it with an edit of the wording"})


class CatalogueSchema(Schema):
    guidance_version = fields.Integer()
    conditions = fields.List(fields.Nested(ConditionSchema))
    limitations = fields.List(fields.Nested(LimitationSchema))
    work_functions = fields.List(fields.Nested(WorkFunctionSchema))
    phrases = fields.List(fields.Nested(PhraseSchema))


# --- suggestions ------------------------------------------------------------------------


class IssuerSchema(Schema):
    name = text(200, 2, required=True)
    # Enforced, not only documented: the issued event's contract takes these and nothing else.
    profession = fields.String(required=True, validate=validate.OneOf(ISSUER_PROFESSIONS, error=PROFESSION_RULE))


class PatientSchema(Schema):
    nhs_number = fields.String(required=True, validate=validate.Regexp(r"^[0-9]{10}$", error=(
        "Enter the patient's NHS number in the correct format, 10 digits like 943 476 5919")))
    given_name = text(100, 1, required=True)
    family_name = text(100, 1, required=True)
    birth_date = fields.Date(required=True)
    # No looser than the restricted referral event these travel in (and the columns they are stored in).
    email = fields.Email(allow_none=True, load_default=None, validate=validate.Length(max=254))
    phone = fields.String(allow_none=True, load_default=None, validate=validate.Regexp(
        r"^\+?[0-9]{6,15}$", error="Enter a phone number of 6 to 15 digits, like 07700 900123 or +44 7700 900123."),
        metadata={"description": "stored without spaces, hyphens, dots or brackets"})
    postcode = fields.String(allow_none=True, load_default=None,
                             validate=validate.Regexp(r"^[A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2}$",
                                                      error="Not a UK postcode."))

    @pre_load
    def tidy(self, data, **_):
        if isinstance(data, dict) and isinstance(data.get("nhs_number"), str):
            data = {**data, "nhs_number": re.sub(r"[\s-]", "", data["nhs_number"])}
        if isinstance(data, dict) and isinstance(data.get("phone"), str):
            data = {**data, "phone": re.sub(r"[\s().-]", "", data["phone"]) or None}
        return data


class AssessmentSchema(Schema):
    date = fields.Date(required=True)
    method = one_of(ASSESSMENT_METHODS, required=True)
    condition_started_on = fields.Date(allow_none=True, load_default=None,
                                       metadata={"description": "when the condition began (for the 6-month rule)"})


class ConditionEntrySchema(Schema):
    text = text(200, 2, required=True)
    condition_id = fields.String(validate=SLUG, allow_none=True, load_default=None)
    disclose = fields.Boolean(load_default=False, metadata={"description": "the patient agrees the employer may see it"})


class ScheduleWeekSchema(Schema):
    week = fields.Integer(required=True, validate=validate.Range(1, 26))
    plan = text(200, 1, required=True)


class RecommendationSchema(Schema):
    difficulty = text(300, load_default="")
    adjustment_id = fields.String(validate=SLUG, allow_none=True, load_default=None)
    free_text = text(1000, allow_none=True, load_default=None)
    schedule = fields.List(fields.Nested(ScheduleWeekSchema), load_default=list, validate=validate.Length(max=26))
    # snapshot of the library wording when the suggestion was written; a free-text recommendation has none
    title = fields.String(dump_only=True, allow_none=True, metadata={
        "description": "the library adjustment's title; null for a free-text recommendation"})
    employer_text = fields.String(dump_only=True, allow_none=True, metadata={
        "description": "the library's words for the employer; null for a free-text recommendation"})
    fit_note_category = fields.String(dump_only=True, allow_none=True, metadata={
        "description": "the fit note box it falls under; null for a free-text recommendation"})


class PeriodSchema(Schema):
    start = fields.Date(required=True)
    end = fields.Date(allow_none=True, load_default=None)
    duration_days = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(1, 3650))


class JobSchema(Schema):
    title = text(120, allow_none=True, load_default=None)
    employer_name = text(200, allow_none=True, load_default=None)
    tasks = fields.List(fields.String(validate=SLUG), load_default=list,
                        metadata={"description": "work function ids from the guidance library"})
    notes = text(500, allow_none=True, load_default=None)


class SignpostingSchema(Schema):
    occupational_health = fields.Boolean(load_default=False)
    access_to_work = fields.Boolean(load_default=False)


class ConsentSchema(Schema):
    share_with_employer = fields.Boolean(required=True)
    refer_to_employment_adviser = fields.Boolean(required=True)
    referral_updates_by_email = fields.Boolean(load_default=False, metadata={
        "description": "the patient agrees to be emailed how the referral goes (received, accepted, closed); "
                       "needs the referral consent and the patient's email"})
    outcomes_to_gp = fields.Boolean(load_default=False, metadata={
        "description": "the patient agrees the employment adviser may report the referral's outcome back to "
                       "their GP practice; needs the referral consent"})


class SuggestionInSchema(Schema):
    issuer = fields.Nested(IssuerSchema, required=True)
    patient = fields.Nested(PatientSchema, required=True)
    assessment = fields.Nested(AssessmentSchema, required=True)
    conditions = fields.List(fields.Nested(ConditionEntrySchema), required=True, validate=validate.Length(1, 5))
    decision = one_of(DECISIONS, required=True)
    categories = fields.List(one_of(FIT_NOTE_CATEGORIES), load_default=list)
    functional_effects = text(2000, load_default="")
    recommendations = fields.List(fields.Nested(RecommendationSchema), load_default=list,
                                  validate=validate.Length(max=20))
    period = fields.Nested(PeriodSchema, required=True)
    reassessment_needed = fields.Boolean(load_default=False)
    review_date = fields.Date(allow_none=True, load_default=None)
    job = fields.Nested(JobSchema, load_default=dict)
    signposting = fields.Nested(SignpostingSchema, load_default=dict)
    consent = fields.Nested(ConsentSchema, required=True)
    supersedes_id = fields.UUID(allow_none=True, load_default=None,
                                metadata={"description": "an issued suggestion this one replaces when issued"})

    @validates_schema
    def outcomes_need_a_referral(self, data, **_):
        consent = data.get("consent") or {}
        if consent.get("outcomes_to_gp") and not consent.get("refer_to_employment_adviser"):
            raise ValidationError({"consent": {"outcomes_to_gp": [
                "Reporting outcomes back is about a referral: record the consent to a referral too."]}})

    @validates_schema
    def updates_need_a_referral_and_an_email(self, data, **_):
        consent = data.get("consent") or {}
        if not consent.get("referral_updates_by_email"):
            return
        if not consent.get("refer_to_employment_adviser"):
            problem = "Updates by email are about a referral: record the consent to a referral too."
        elif not (data.get("patient") or {}).get("email"):
            problem = "Add the patient's email address to send them updates."
        else:
            return
        raise ValidationError({"consent": {"referral_updates_by_email": [problem]}})


VERSIONS = validate.Range(1, 2**31 - 1, error="Send the version you read: a whole number from 1.")


class SuggestionUpdateSchema(SuggestionInSchema):
    version = fields.Integer(required=True, validate=VERSIONS,
                             metadata={"description": "the version you read (optimistic locking)"})


class VersionSchema(Schema):
    version = fields.Integer(required=True, validate=VERSIONS)


class WithdrawSchema(VersionSchema):
    reason = one_of([r for r in WITHDRAWAL_REASONS if r != "replaced"], required=True)


class ReferralRequestInSchema(VersionSchema):
    outcomes_to_gp = fields.Boolean(load_default=None, allow_none=True, metadata={
        "description": "the patient agrees the adviser may report outcomes back to the practice (true only when the "
                       "suggestion records it: 409 otherwise); when left out, what the suggestion records "
                       "(consent.outcomes_to_gp, false unless asked)"})


class ReferralRequestedSchema(Schema):
    request_id = fields.UUID(metadata={"description": "the request, as the suggestion's referrals[] name it"})
    status = fields.String(metadata={"description": "requested: handed to the referrals service through the "
                                                    "outbox; the suggestion's referrals[] follow it from there"})


# When the employer's changes start: a typing slip (0001, 9999) is refused, not recorded.
EFFECTIVE_FROM_DAYS_BEFORE, EFFECTIVE_FROM_DAYS_AFTER = 366, 731


class EmployerItemSchema(Schema):
    index = fields.Integer(required=True)
    adjustment_id = fields.String(allow_none=True)
    title = fields.String()
    outcome = one_of(EMPLOYER_OUTCOMES, required=True)
    reason = text(1000, load_default="")


class EmployerResponseSchema(Schema):
    id = fields.UUID(dump_only=True)
    outcome = fields.String(dump_only=True)
    items = fields.List(fields.Nested(EmployerItemSchema), required=True, validate=validate.Length(min=1))
    comments = text(2000, load_default="")
    responder_name = Text(required=True,
                          validate=validate.Length(2, 200, error="Enter your name, 2 to 200 characters"))
    responder_role = text(200, load_default="")
    effective_from = fields.Date(allow_none=True, load_default=None, metadata={
        "description": f"at most {EFFECTIVE_FROM_DAYS_BEFORE} days before or {EFFECTIVE_FROM_DAYS_AFTER} after today"})
    recorded_at = fields.DateTime(dump_only=True)

    @validates("effective_from")
    def a_plausible_start(self, value, **_):
        today = uk_today()
        if value is not None and not (today - timedelta(days=EFFECTIVE_FROM_DAYS_BEFORE) <= value
                                      <= today + timedelta(days=EFFECTIVE_FROM_DAYS_AFTER)):
            raise ValidationError("The date the changes start must be within a year before, or two years after, "
                                  "today.")

    @validates_schema(skip_on_field_errors=False)
    def reasons_for_refusals(self, data, **_):
        missing = {str(i): ["Say why this could not be agreed in full."]
                   for i, item in enumerate(data.get("items", []))
                   if item.get("outcome", "agreed") != "agreed" and not item.get("reason", "").strip()}
        if missing:
            raise ValidationError({"items": missing})


class EmployerAnswerSchema(EmployerResponseSchema):
    """An answer as the clinician sees it: which version of the advice it answered."""

    suggestion_version = fields.Integer(allow_none=True, metadata={
        "description": "the suggestion version the employer answered (an amendment starts a new round)"})
    current = fields.Boolean(metadata={"description": "false when it answered an earlier, since amended, version"})


class ScheduleOutSchema(Schema):
    week = fields.Integer()
    plan = fields.String()


class EmployerRecommendationSchema(Schema):
    index = fields.Integer(metadata={"description": "answer it by this number"})
    title = fields.String()
    difficulty = fields.String()
    advice = fields.String()
    schedule = fields.List(fields.Nested(ScheduleOutSchema))


class EmployeeSchema(Schema):
    given_name = fields.String()
    family_name = fields.String()


class EmployerPeriodSchema(Schema):
    start = fields.Date(metadata={"description": "the first day the advice covers"})
    end = fields.Date(allow_none=True, metadata={"description": "the last day; null if open-ended"})


class EmployerViewSchema(Schema):
    """What the employer was advised (as the letter says it; no diagnosis unless disclosed)."""

    employee = fields.Nested(EmployeeSchema, metadata={"description": "the patient's name, as the letter gives it"})
    issuer = fields.Nested(IssuerSchema, metadata={"description": "the clinician who issued the advice"})
    suggestion_version = fields.Integer()
    amended = fields.Boolean()
    assessment_date = fields.Date()
    decision = one_of(DECISIONS)
    categories = fields.List(one_of(FIT_NOTE_CATEGORIES))
    disclosed_conditions = fields.List(fields.String(), metadata={
        "description": "only conditions the patient agreed their employer may know about"})
    functional_effects = fields.String()
    period = fields.Nested(EmployerPeriodSchema)
    reassessment_needed = fields.Boolean()
    recommendations = fields.List(fields.Nested(EmployerRecommendationSchema))
    link_expires_at = fields.DateTime()
    outcomes = fields.List(fields.String())


class EmployerAnswerInSchema(EmployerResponseSchema):
    """The employer's answer: one item per recommendation (by `index`), a reason unless agreed.
    `partly_agreed` is accepted for `partially_agreed` (the event contract's code, which is stored)."""

    @pre_load
    def partly_means_partially(self, data, **_):
        if isinstance(data, dict) and isinstance(data.get("items"), list):
            data = {**data, "items": [{**item, "outcome": "partially_agreed"}
                                      if isinstance(item, dict) and item.get("outcome") == "partly_agreed" else item
                                      for item in data["items"]]}
        return data


class ReferralStatusSchema(Schema):
    request_id = fields.UUID(attribute="id")
    requested_at = fields.DateTime()
    referral_id = fields.UUID(allow_none=True)
    status = fields.String()
    business_status = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    assigned_org_id = fields.UUID(allow_none=True)
    service_id = fields.UUID(allow_none=True)
    status_changed_at = fields.DateTime(allow_none=True)
    unanswered_at = fields.DateTime(allow_none=True, metadata={
        "description": "when the sweep found no answer at all from the referrals service after "
                       "ADJUSTMENTS_REFERRAL_ANSWER_HOURS (not yet received there, as far as we know); null once "
                       "any answer arrives"})


def issue_number_field() -> fields.Integer:
    """Read-only, in a suggestion and in the list's rows alike (services.issue_counts gives it)."""
    return fields.Integer(dump_only=True, allow_none=True, metadata={
        "description": "which issue of the advice this is: 1 for the first, 2 once amended, one more for each "
                       "amendment (as the pages' \"Amended – second issue\"); kept once the suggestion ended; null "
                       "for a draft. Not `version`, which counts every save"})


class SuggestionLinksSchema(Schema):
    """Where to read the suggestion and its documents (paths on this service)."""

    self_ = fields.String(data_key="self", attribute="self", metadata={
        "description": "the suggestion", "example": "/suggestions/5b1e0f7c-3a52-4d8e-9a41-0c6f5f2b7d10"})
    letter = fields.String(metadata={"description": "the employer letter (HTML)"})
    letter_pdf = fields.String(metadata={"description": "the employer letter (PDF)"})
    summary = fields.String(metadata={"description": "the patient's summary (HTML)"})
    summary_pdf = fields.String(metadata={"description": "the patient's summary (PDF)"})


class SuggestionOutSchema(SuggestionInSchema):
    id = fields.UUID()
    practice_id = fields.UUID()
    clinician_id = fields.String()
    status = one_of(STATUSES)
    version = fields.Integer()
    guidance_version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    issued_at = fields.DateTime(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)
    erased_at = fields.DateTime(allow_none=True, metadata={
        "description": "when the patient's details and free text were erased (past retention or on request): "
                       "ids, codes and dates remain, the patient and typed text are null or empty"})
    withdrawn_reason = fields.String(allow_none=True)
    superseded_by_id = fields.UUID(allow_none=True)
    issue_number = issue_number_field()
    employer_response = fields.Nested(EmployerAnswerSchema, allow_none=True, metadata={
        "description": "the employer's answer to the current version (null until they answer the amended letter)"})
    employer_responses = fields.List(fields.Nested(EmployerAnswerSchema), metadata={
        "description": "every answer, newest first, including answers to earlier versions"})
    employer_link_expires_at = fields.DateTime(allow_none=True)
    referrals = fields.List(fields.Nested(ReferralStatusSchema))
    links = fields.Nested(SuggestionLinksSchema)


class SuggestionStateSchema(Schema):
    id = fields.UUID()
    practice_id = fields.UUID()
    status = one_of(STATUSES)
    version = fields.Integer()
    issued_at = fields.DateTime(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)
    employer_link_expires_at = fields.DateTime(allow_none=True)
    links = fields.Nested(SuggestionLinksSchema)


class SuggestionSummarySchema(Schema):
    id = fields.UUID()
    status = fields.String()
    version = fields.Integer()
    given_name = fields.String()
    family_name = fields.String()
    nhs_number = fields.String()
    decision = fields.String()
    period_start = fields.Date()
    period_end = fields.Date(allow_none=True)
    review_date = fields.Date(allow_none=True)
    issued_at = fields.DateTime(allow_none=True)
    issue_number = issue_number_field()
    employer_outcome = fields.String(allow_none=True)
    referral_status = fields.String(allow_none=True)
    referral_requested_at = fields.DateTime(allow_none=True)
    referral_not_yet_received = fields.Boolean(metadata={
        "description": "the referrals service has not answered the request within ADJUSTMENTS_REFERRAL_ANSWER_HOURS"})


class SuggestionFilters(Schema):
    status = one_of(STATUSES)
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 100_000))


class SuggestionListQuery(SuggestionFilters):
    # Deprecated: a query string is written to proxies' and servers' access logs. POST /suggestions/search.
    nhs_number = fields.String(validate=validate.Regexp(r"^[0-9]{10}$"), metadata={
        "deprecated": True, "description": "Deprecated: it puts the NHS number in access logs on the way. "
                                           "Use POST /suggestions/search with the NHS number in the body."})


class NhsNumberInBody(Schema):
    """A body naming a patient by `nhs_number` (the subclass declares the field) as people type it: spaces
    and hyphens are ignored, and ten digits must pass the check digit."""

    @pre_load
    def tidy(self, data, **_):
        if isinstance(data, dict) and isinstance(data.get("nhs_number"), str):
            data = {**data, "nhs_number": re.sub(r"[\s-]", "", data["nhs_number"])}
        return data

    @validates("nhs_number")
    def check_digit(self, value: str, **_) -> None:
        if re.fullmatch(r"[0-9]{10}", value) and not nhs_number_is_valid(value):
            raise ValidationError("This is not a valid NHS number: its check digit does not match.")


class SuggestionSearchSchema(SuggestionFilters, NhsNumberInBody):
    """The NHS-number search in a JSON body, kept out of the URL (and so out of access logs)."""

    nhs_number = fields.String(validate=validate.Regexp(r"^[0-9]{10}$", error=(
        "Enter the patient's NHS number in the correct format, 10 digits like 943 476 5919")),
        metadata={"description": "spaces and hyphens are ignored"})


class SuggestionListSchema(Schema):
    items = fields.List(fields.Nested(SuggestionSummarySchema))
    total = fields.Integer()


# --- a person's rights -------------------------------------------------------------------


class PersonLookupSchema(NhsNumberInBody):
    """Whose records: an NHS number, in the body (never the URL, so no access log holds it)."""

    nhs_number = fields.String(required=True, validate=validate.Regexp(r"^[0-9]{10}$", error=(
        "Enter the NHS number in the correct format, 10 digits like 943 476 5919")),
        metadata={"description": "spaces and hyphens are ignored"})


class ErasureRequestSchema(PersonLookupSchema):
    reason = fields.String(required=True, validate=validate.OneOf(ERASURE_REASONS), metadata={
        "description": "the UK GDPR Article 17(1) ground: " + ", ".join(ERASURE_REASONS)})


# What rights.export gives for each suggestion: its columns as stored (rights._columns), and those of its employer
# links, answers and referral requests, so the JSON schema is made from the tables themselves (a column added is
# documented with it). The JSON columns hold what the API took in, checked by its own schemas: their components.
def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


STORED_JSON = {
    "conditions": {"type": "array", "items": _ref("ConditionEntry")},
    "categories": {"type": "array", "items": {"type": "string", "enum": list(FIT_NOTE_CATEGORIES)}},
    "recommendations": {"type": "array", "items": _ref("Recommendation"), "description": "with the library's "
                        "title, employer_text and fit_note_category as they were when issued"},
    "job": _ref("Job"),
    "items": {"type": "array", "items": _ref("EmployerItem"), "description": "the answer to each recommendation"},
}
COLUMN_WORDS = {
    "clinician_id": "who wrote it, as they signed in", "guidance_version": "the library version it was written with",
    "issuer_name": "the clinician's name as the letter signs it", "review_due_notified_on": "when the practice was "
    "told its review is due", "suggestion_version": "the version the letter (or answer) was of",
    "used_at": "when the employer answered through it", "revoked_at": "when an amendment or an ending closed it",
    "referral_version": "the last referral version heard of", "unanswered_at": "when the sweep found no answer "
    "from the referrals service yet", "consent_id": "the patient's consent to the referral"}
JSON_TYPES = {uuid.UUID: {"type": "string", "format": "uuid"}, str: {"type": "string"}, int: {"type": "integer"},
              bool: {"type": "boolean"}, datetime: {"type": "string", "format": "date-time"},
              date: {"type": "string", "format": "date"}}


def _column(column: sa.Column) -> dict:
    described = STORED_JSON.get(column.key) if isinstance(column.type, sa.JSON) else JSON_TYPES[column.type.python_type]
    if described is None:
        raise LookupError(f"say what the JSON column {column.key} holds in schemas.STORED_JSON")
    words = {"description": COLUMN_WORDS[column.key]} if column.key in COLUMN_WORDS else {}
    return {**described, **({"nullable": True} if column.nullable else {}), **words}


def _rows_of(model, **more) -> dict:
    properties = {column.key: _column(column) for column in model.__table__.columns}
    return {"type": "object", "properties": {**properties, **more}, "additionalProperties": False}


SUGGESTION_EXPORT = {**_rows_of(
    Suggestion,
    employer_links={"type": "array", "items": _rows_of(EmployerLink), "description": "each letter's link (never "
                    "its token, which is not stored), oldest first"},
    employer_responses={"type": "array", "items": _rows_of(EmployerResponse),
                        "description": "the employer's answers, oldest first"},
    referral_requests={"type": "array", "items": _rows_of(ReferralRequest),
                       "description": "requests for an employment adviser referral, and how each went"},
    accessed={"type": "array", "description": "every recorded access", "items": {
        "type": "object", "additionalProperties": False, "properties": {
            "occurred_at": {"type": "string", "format": "date-time"}, "action": {"type": "string"},
            "organisation": {"type": "string", "nullable": True}, "role": {"type": "string"},
            "purpose": {"type": "string", "nullable": True}}}})}


class SubjectAccessSchema(Schema):
    suggestions = fields.List(fields.Dict(metadata=SUGGESTION_EXPORT), metadata={
        "description": "each suggestion held about the person, oldest first, as stored (the patient, the "
                       "clinician's assessment and advice, consent, dates), with its employer links (never a "
                       "token), the employer's answers, the referral requests and their progress, and every "
                       "recorded access (when, organisation, role, action, purpose)"})
    organisations = fields.List(fields.String(), metadata={"description": "every organisation that accessed them"})


class ErasedSuggestionSchema(Schema):
    suggestion_id = fields.UUID()
    status = one_of(STATUSES)
    withdrawn = fields.Boolean(metadata={
        "description": "it was current advice: withdrawn first (reason patient_request; its employer link died)"})
    referral_consent_withdrawn = fields.Boolean(metadata={
        "description": "a referral request was open: the consent was withdrawn first, so the referrals service "
                       "cancels the referral"})


class ErasureSchema(Schema):
    reason = fields.String()
    erased = fields.List(fields.Nested(ErasedSuggestionSchema))
