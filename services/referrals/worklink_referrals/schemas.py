"""Request and response schemas (they also make the OpenAPI document)."""

from __future__ import annotations

from datetime import date

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from worklink.events.contracts.adjustments import DECISIONS as ADJUSTMENT_DECISIONS, FIT_NOTE_CATEGORIES
from worklink.nhs import nhs_number_is_valid
from worklink.retention import ERASURE_REASONS
from worklink_referrals import domain

CODE = validate.Regexp(r"^[a-z0-9][a-z0-9_]{0,31}$", error="a lower-case code")
EMPLOYMENT = ("in_work_at_risk", "off_sick_fit_note", "unemployed", "economically_inactive")
HEALTH = ("mental_health", "musculoskeletal", "long_term_condition", "other")
CONSENT_METHODS = ("verbal", "written", "online", "clinician_recorded")
CONTACT = ("phone", "text", "email", "letter")


class Text(fields.String):
    """Free text, stripped: text of spaces alone is no text, so it fails a minimum length (and a
    name, reason or note of blanks never reaches an adviser, a duplicate link or the match key)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


def _nhs_check_digit(value: str) -> None:
    if not nhs_number_is_valid(value):  # a typo would also defeat duplicate detection by NHS number
        raise ValidationError("not a valid NHS number: check the digits (the last one is a check digit)")


def _plausible_birth_date(value: date) -> None:
    if problem := domain.birth_date_problem(value, date.today()):
        raise ValidationError(problem)


class PersonSchema(Schema):
    nhs_number = fields.String(validate=[validate.Regexp(r"^[0-9]{10}$", error="10 digits"), _nhs_check_digit])
    given_name = Text(required=True, validate=validate.Length(1, 100))
    family_name = Text(required=True, validate=validate.Length(1, 100))
    birth_date = fields.Date(required=True, validate=_plausible_birth_date)
    postcode = fields.String(validate=validate.Regexp(r"^[A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2}$",
                                                      error="a UK postcode"))
    email = fields.Email()
    phone = fields.String(validate=validate.Regexp(r"^\+?[0-9 ]{6,20}$", error="a phone number"))
    preferred_contact = fields.String(validate=validate.OneOf(CONTACT))
    deprivation_decile = fields.Integer(validate=validate.Range(1, 10),
                                        metadata={"description": "IMD decile of the home area (1 = most deprived)"})
    sex = fields.String(validate=validate.OneOf(("female", "male", "other", "not_stated")))
    ethnicity = fields.String(validate=CODE, metadata={"description": "ONS ethnic group code"})


class ConsentSchema(Schema):
    """Explicit consent to refer and share with the adviser service (UK GDPR Art 9(2)(a))."""

    explicit = fields.Boolean(required=True, validate=validate.Equal(True, error="the person must agree explicitly"))
    captured_by = Text(validate=validate.Length(1, 255),
                                metadata={"description": "who captured it (defaults to the caller)"})
    captured_at = fields.AwareDateTime(required=True)
    method = fields.String(required=True, validate=validate.OneOf(CONSENT_METHODS))
    outcomes_to_referrer = fields.Boolean(required=True,
                                          metadata={"description": "may outcomes go back to the referrer/GP"})
    updates_by_email = fields.Boolean(load_default=False, metadata={
        "description": "the person agreed to general status emails (received, accepted, closed) at person.email"})


class DuplicateSchema(Schema):
    reason = Text(required=True, validate=validate.Length(3, 500))


class IntakeSchema(Schema):
    person = fields.Nested(PersonSchema, required=True)
    consent = fields.Nested(ConsentSchema, required=True)
    service_id = fields.UUID(metadata={"description": "a directory service; omitted = routed by area"})
    employment_situation = fields.String(required=True, validate=validate.OneOf(EMPLOYMENT))
    health_category = fields.String(validate=validate.OneOf(HEALTH))
    reason = Text(validate=validate.Length(1, 2000))
    replaces_id = fields.UUID(metadata={"description": "the earlier (closed) referral this re-referral replaces"})
    duplicate = fields.Nested(DuplicateSchema, metadata={"description": "link despite an open referral"})

    @validates_schema
    def contactable(self, data, **_):
        person = data.get("person") or {}
        if not (person.get("email") or person.get("phone")):
            raise ValidationError("give an email address or a phone number", "person")


class SelfConsentSchema(Schema):
    explicit = fields.Boolean(required=True, validate=validate.Equal(True, error="you need to agree to continue"))
    # Asked, never assumed: a message to a resident goes only with their consent (status emails are a choice of
    # their own, apart from the referral; they can change it on their status page).
    updates_by_email = fields.Boolean(required=True, metadata={
        "description": "the person's answer to 'may we email you updates about your referral' (received, "
                       "accepted, closed) at person.email; false: none (they follow it on their status page)"})


class SelfReferralSchema(Schema):
    person = fields.Nested(PersonSchema, required=True)
    consent = fields.Nested(SelfConsentSchema, required=True)
    service_id = fields.UUID()
    employment_situation = fields.String(required=True, validate=validate.OneOf(EMPLOYMENT))
    health_category = fields.String(validate=validate.OneOf(HEALTH))
    reason = Text(validate=validate.Length(1, 2000))

    @validates_schema
    def contactable(self, data, **_):
        person = data.get("person") or {}
        if not (person.get("email") or person.get("phone")):
            raise ValidationError("give an email address or a phone number so we can check it is you", "person")


class PendingSchema(Schema):
    id = fields.UUID()
    expires_at = fields.DateTime()
    sent_to = fields.String(metadata={"description": "email or phone"})
    code = fields.String(metadata={"description": "development and test only; production sends it"})


class VerifySchema(Schema):
    # Spaces anywhere are a harmless slip (a code read out or copied as "123 456"): services.check_self_referral_code
    # drops them. Anything else but 6 digits is refused here, before the waiting record is read: it cannot be the
    # code, so it tries nothing on the record and is neither counted among the 5 attempts nor audited.
    code = fields.String(required=True, validate=validate.Regexp(r"^ *(?:[0-9] *){6}$", error="the 6-digit code"),
                         metadata={"description": "the 6 digits sent; spaces are ignored"})


class ActionSchema(Schema):
    """One lifecycle action; which fields are needed depends on the action (422 names the missing ones)."""

    version = fields.Integer(required=True, metadata={"description": "the version you last read"})
    adviser_id = Text(validate=validate.Length(1, 255), metadata={
        "description": "accept, assign: the adviser's login id - yours, the adviser holding the referral, or an adviser "
                       "of its organisation known to referrals (they have used it); another is a 422 on /adviser_id"})
    claim = fields.Boolean(metadata={"description": "accept, assign: true to take the referral on yourself"})
    channel = fields.String(validate=validate.OneOf(domain.CHANNELS))
    result = fields.String(validate=validate.OneOf(domain.ATTEMPT_RESULTS))
    business_status = fields.String(validate=validate.OneOf(domain.IN_PROGRESS_STAGES))
    reason = fields.String(validate=CODE)
    end_reason = fields.String(validate=validate.OneOf(domain.END_REASONS))
    text = Text(validate=validate.Length(1, 2000))
    note = Text(validate=validate.Length(1, 2000))
    review_date = fields.Date()
    redirect_service_id = fields.UUID()
    # outcomes
    type = fields.String(validate=validate.OneOf(domain.OUTCOME_TYPES))
    occurred_on = fields.Date()
    hours_band = fields.String(validate=validate.OneOf(domain.HOURS_BANDS))
    weeks_in_work = fields.Integer()
    period_weeks = fields.Integer()
    hours_per_week = fields.Float()
    fit_note_from = fields.String(validate=validate.OneOf(domain.FIT_NOTE))
    fit_note_to = fields.String(validate=validate.OneOf(domain.FIT_NOTE))
    sustainment_check_weeks = fields.Integer(validate=validate.OneOf(domain.SUSTAINMENT_WEEKS))


class NoteInSchema(Schema):
    text = Text(required=True, validate=validate.Length(1, 4000))


class RouteSchema(Schema):
    service_id = fields.UUID(required=True)


class ServiceIntakeSchema(Schema):
    """Whether an adviser service takes new referrals now (its organisation can pause it)."""

    service_id = fields.UUID()
    organization_id = fields.UUID()
    accepting_referrals = fields.Boolean()


class ServiceIntakeChangeSchema(Schema):
    accepting_referrals = fields.Boolean(required=True, metadata={
        "description": "false pauses new referrals to the service (they are held for the alliance or routed "
                       "to another service); true resumes, and held referrals it can take are routed to it"})


MAX_OFFSET = 100_000  # as adjustments: far past any real list, and inside every database's integers


class QueueQuerySchema(Schema):
    view = fields.String(load_default="all", validate=validate.OneOf(
        ("all", "new", "breaching", "mine", "unassigned", "waitlist", "on_hold", "review_due", "checks_due", "sent",
         "held")),
        metadata={"description": "new, breaching, mine, unassigned (open, no adviser holds it), waitlist, on_hold "
                                 "(soonest review first), review_due (holds whose review date has come, the longest "
                                 "overdue first), checks_due (sustainment checks due, the longest due first) for "
                                 "advisers; sent (referrers); held (alliance)"})
    status = fields.String(validate=validate.OneOf([s.value for s in domain.Status]))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, MAX_OFFSET))


class CheckQuerySchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, MAX_OFFSET))


class HoldSchema(Schema):
    reason = fields.String()
    review_date = fields.Date(metadata={"description": "YYYY-MM-DD"})


class ClockSchema(Schema):
    clock = fields.String()
    due_at = fields.DateTime()
    met_at = fields.DateTime(allow_none=True)
    breached = fields.Boolean()


# A staff member's login id is their organisation's internal identifier: that organisation's readers get it,
# any other reader the same field in words (access.staff_words).
STAFF_BY = ("who: their login id to their own organisation; to any other, their display name or their role, "
            "at their organisation (\"an employment adviser at Riverside Works\")")
DISPLAY_NAME = "their display name, if their token carried one (`name`); null if not"


class AttemptSchema(Schema):
    channel = fields.String()
    result = fields.String()
    attempted_at = fields.DateTime()
    by = fields.String(metadata={"description": STAFF_BY})
    by_name = fields.String(allow_none=True, metadata={"description": DISPLAY_NAME})


class NoteSchema(Schema):
    text = fields.String()
    by = fields.String(metadata={"description": STAFF_BY})
    by_name = fields.String(allow_none=True, metadata={"description": DISPLAY_NAME})
    written_at = fields.DateTime()


class OutcomeDetailsSchema(Schema):
    """What an outcome adds to its type and date (domain.validate_outcome keeps these and nothing else): which
    fields depends on the type, and a field another type asks for is not kept with it."""

    hours_band = fields.String(validate=validate.OneOf(domain.HOURS_BANDS), metadata={
        "description": "job_start: the hours a week of the job, as a band (always given with one)"})
    weeks_in_work = fields.Integer(metadata={
        "description": "sustained_job_outcome: weeks in work, at least 13 (always given with one)"})
    period_weeks = fields.Integer(metadata={
        "description": "sustained_job_outcome: the weeks (13 to 16) the weeks in work fall within"})
    hours_per_week = fields.Float(metadata={
        "description": f"sustained_job_outcome: hours a week, 7 to {domain.MAX_HOURS_PER_WEEK}"})
    fit_note_from = fields.String(validate=validate.OneOf(domain.FIT_NOTE), metadata={
        "description": "fit_note_change: the fit note before (always given with one)"})
    fit_note_to = fields.String(validate=validate.OneOf(domain.FIT_NOTE), metadata={
        "description": "fit_note_change: the fit note now, closer to fit than fit_note_from"})
    sustainment_check_weeks = fields.Integer(validate=validate.OneOf(domain.SUSTAINMENT_WEEKS), metadata={
        "description": "any type: the sustainment check (13 or 26 weeks after a job start) it recorded as done"})


OUTCOME_DETAILS_EXAMPLE = {"hours_band": "16_to_29"}


class OutcomeSchema(Schema):
    type = fields.String(validate=validate.OneOf(domain.OUTCOME_TYPES))
    occurred_on = fields.Date()
    details = fields.Nested(OutcomeDetailsSchema, metadata={
        "description": "the type's own fields (an empty object for stayed_in_work, training_or_volunteering and "
                       "disengaged unless it recorded a sustainment check)", "example": OUTCOME_DETAILS_EXAMPLE})
    recorded_at = fields.DateTime()


class HistorySchema(Schema):
    action = fields.String()
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    business_status = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    actor_role = fields.String()
    occurred_at = fields.DateTime()
    version = fields.Integer()


class ConsentOutSchema(Schema):
    captured_by = fields.String(metadata={"description": "as the referrer stated it; when left to default (the "
                                          "referrer themselves), " + STAFF_BY})
    captured_at = fields.DateTime()
    method = fields.String()
    scope_service_id = fields.UUID(allow_none=True)
    outcomes_to_referrer = fields.Boolean()
    updates_by_email = fields.Boolean()
    updates_answered_at = fields.DateTime(allow_none=True, metadata={
        "description": "when the person's answer about status emails (updates_by_email) was given"})
    updates_answered_how = fields.String(allow_none=True, metadata={
        "description": "how it was given: with_consent (the referrer recorded it with the consent), "
                       "self_referral_form, status_page (the person changed it), not_asked (a self-referral made "
                       "before the form asked: emails to the verified address)"})
    withdrawn_at = fields.DateTime(allow_none=True)


class AdjustmentContextSchema(Schema):
    """What the clinician's adjustment suggestion said, as its adjustments.referral.requested carried it."""

    request_id = fields.UUID(metadata={"description": "the adjustments service's referral request"})
    suggestion_id = fields.UUID(metadata={"description": "the suggestion it was made from"})
    fit_note_decision = fields.String(validate=validate.OneOf(ADJUSTMENT_DECISIONS), metadata={
        "description": "the fit note's decision: not_fit or may_be_fit"})
    categories = fields.List(fields.String(validate=validate.OneOf(FIT_NOTE_CATEGORIES)), allow_none=True, metadata={
        "description": "the fit note's 'may be fit' adjustments (empty if none were ticked)"})


class ReferrerOutSchema(Schema):
    role = fields.String(metadata={"description": "gp | adviser | org_admin | alliance_admin | resident"})
    name = fields.String(metadata={"description": "their name, from their token or the suggestion's issuer"})
    profession = fields.String(metadata={"description": "a clinician's profession, from the adjustment suggestion"})
    organisation_name = fields.String(metadata={"description": "their organisation's name, from their token, else "
                                                               "the one a later token of the organisation gave"})


class ReferralSchema(Schema):
    id = fields.UUID()
    reference = fields.String()
    version = fields.Integer()
    status = fields.String()
    fhir_status = fields.String(metadata={"description": "FHIR R4 Task.status"})
    business_status = fields.String(allow_none=True)
    status_reason = fields.String(allow_none=True)
    status_text = fields.String(allow_none=True)
    source = fields.String()
    referrer_org_id = fields.String()
    referrer = fields.Nested(ReferrerOutSchema, metadata={
        "description": "who referred, in words (the login id is never shown); fields absent when not known"})
    service_id = fields.UUID(allow_none=True)
    assigned_org_id = fields.String(allow_none=True)
    assigned_org_name = fields.String(allow_none=True, metadata={
        "description": "the assigned organisation's name, if one of its staff's tokens carried it (`org_name`)"})
    assigned_adviser = fields.String(allow_none=True, metadata={"description": "the adviser " + STAFF_BY})
    assigned_adviser_name = fields.String(allow_none=True, metadata={
        "description": "the adviser's display name, if they took the referral on with a token carrying one"})
    routing = fields.String()
    redirect_service_id = fields.UUID(allow_none=True)
    person = fields.Nested(PersonSchema, metadata={"description": "omitted once consent is withdrawn"})
    employment_situation = fields.String(allow_none=True)
    health_category = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    adjustment = fields.Nested(AdjustmentContextSchema, allow_none=True, metadata={
        "description": "the adjustment suggestion a referral from the adjustments service came with (source "
                       "adjustments); null for any other referral"})
    consent = fields.Nested(ConsentOutSchema)
    replaces_id = fields.UUID(allow_none=True)
    duplicate_of_id = fields.UUID(allow_none=True)
    duplicate_reason = fields.String(allow_none=True)
    submitted_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)
    erased_at = fields.DateTime(allow_none=True, metadata={
        "description": "when the person's details were erased (retention period over, or their erasure request)"})
    hold = fields.Nested(HoldSchema, allow_none=True, metadata={"description": "only while on hold"})
    clocks = fields.List(fields.Nested(ClockSchema))
    attempts = fields.List(fields.Nested(AttemptSchema))
    notes = fields.List(fields.Nested(NoteSchema))
    outcomes = fields.List(fields.Nested(OutcomeSchema))
    history = fields.List(fields.Nested(HistorySchema))
    allowed_actions = fields.List(fields.String())
    status_link_sent_to = fields.String(metadata={
        "description": "only when created: how the person gets their private status link - 'email' (with "
                       "their first status email, to the address they agreed to status emails at) or 'none' "
                       "(they did not agree to status emails). The link is never given to the referrer."})
    caseload_warning = fields.String(metadata={
        "description": "only in the answer to accept or assign, when the adviser then holds more active clients "
                       "than the caseload limit (REFERRALS_CASELOAD_LIMIT)"})


class ListedHoldSchema(Schema):
    review_date = fields.Date(allow_none=True, metadata={"description": "when the hold is to be reviewed"})
    review_overdue = fields.Boolean(metadata={"description": "the review date has passed (UK date)"})


class DueCheckSchema(Schema):
    weeks = fields.Integer(metadata={"description": "13 or 26 weeks after the job start"})
    due_on = fields.Date()


class QueueItemSchema(Schema):
    id = fields.UUID()
    reference = fields.String()
    version = fields.Integer()
    status = fields.String()
    business_status = fields.String(allow_none=True)
    source = fields.String()
    area = fields.String(allow_none=True)
    assigned_adviser = fields.String(allow_none=True, metadata={
        "description": "the adviser who holds the referral, " + STAFF_BY + "; null: no adviser holds it"})
    assigned_adviser_name = fields.String(allow_none=True, metadata={"description": "the adviser's " + DISPLAY_NAME})
    hold = fields.Nested(ListedHoldSchema, allow_none=True, metadata={
        "description": "while on hold: its review date (the reason is on the referral); null otherwise"})
    sustainment_check_due = fields.Nested(DueCheckSchema, allow_none=True, metadata={
        "description": "the assigned organisation and alliance admins: the sustainment check due and not yet "
                       "recorded (the longest due, when both are), while consent stands; null when none is, and "
                       "always for the referrer"})
    submitted_at = fields.DateTime()
    breached_clocks = fields.List(fields.String())
    name = fields.String(metadata={"description": "omitted once consent is withdrawn"})


class CaseloadSchema(Schema):
    active = fields.Integer(metadata={"description": "the adviser's active clients"})
    limit = fields.Integer(metadata={"description": "the caseload limit (REFERRALS_CASELOAD_LIMIT)"})
    warning = fields.String(metadata={"description": "only above the limit: what to do, in words"})


class QueueSchema(Schema):
    items = fields.List(fields.Nested(QueueItemSchema))
    total = fields.Integer()
    caseload = fields.Nested(CaseloadSchema, allow_none=True, metadata={
        "description": "advisers: their own caseload; null for everyone else"})


class PersonStatusSchema(Schema):
    reference = fields.String()
    status = fields.String()
    status_text = fields.String(metadata={"description": "what the status means, in plain words"})
    submitted_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)
    consent_withdrawn = fields.Boolean()
    updates_by_email = fields.Boolean(metadata={"description": "whether we email you updates about your referral "
                                                               "(you can start or stop them on your status page)"})
    service_page = fields.String(allow_none=True, metadata={
        "description": "the public directory page of the service the referral is with (what it offers, how to "
                       "reach it); null while no service has it, or when the directory's address is not set"})
    suggested_service_page = fields.String(allow_none=True, metadata={
        "description": "when the service could not take the referral and suggested another (a rejection's "
                       "redirect_service_id): that service's public directory page; else null"})
    status_link = fields.String(metadata={"description": "only when created, to the person who verified their "
                                                         "contact route: their private status page; keep it private"})


class PersonCancelSchema(Schema):
    withdraw_consent = fields.Boolean(load_default=False)


class NewLinkSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=255), metadata={
        "description": "the email address you gave with your referral (a new link goes to the one we hold)"})


class NewLinkAnswerSchema(Schema):
    detail = fields.String(metadata={"description": "the same whether or not the address matched a referral"})


class PersonEmailsSchema(Schema):
    updates_by_email = fields.Boolean(required=True, metadata={
        "description": "true: email me updates about my referral; false: stop them"})


class CheckSchema(Schema):
    referral_id = fields.UUID()
    weeks = fields.Integer()
    due_on = fields.Date()


class NhsNumber(fields.String):
    """An NHS number as people write it: spaces ignored, then 10 digits with a valid check digit."""

    def _deserialize(self, value, attr, data, **kwargs):
        return "".join(super()._deserialize(value, attr, data, **kwargs).split())


class PersonLookupSchema(Schema):
    """Whose records: an NHS number (in the body, never the URL) or one of their referrals' id."""

    nhs_number = NhsNumber(validate=[validate.Regexp(r"^[0-9]{10}$", error="10 digits"), _nhs_check_digit])
    referral_id = fields.UUID()

    @validates_schema
    def _one_of(self, data, **kwargs):
        if "nhs_number" in data and "referral_id" in data:
            raise ValidationError("give an NHS number or a referral id, not both", "referral_id")
        if "nhs_number" not in data and "referral_id" not in data:
            raise ValidationError("give the person's NHS number, or the id of one of their referrals", "nhs_number")


class ErasureRequestSchema(PersonLookupSchema):
    reason = fields.String(required=True, validate=validate.OneOf(ERASURE_REASONS), metadata={
        "description": "the UK GDPR Article 17(1) ground: no_longer_necessary, consent_withdrawn, objection, "
                       "unlawful_processing, legal_obligation"})


def _object(**properties) -> dict:
    return {"type": "object", "properties": properties, "additionalProperties": False}


def _list_of(**properties) -> dict:
    return {"type": "array", "items": _object(**properties)}


# The component apispec makes of OutcomeDetailsSchema (nested in ReferralSchema): the export's outcome details are
# the same stored dict, so one description serves both.
OUTCOME_DETAILS = {"$ref": "#/components/schemas/OutcomeDetails"}
# What rights.export gives for each referral (made JSON by to_json_types, so documented here, not dumped: a
# schema would re-format its times). Everything but the ids, reference, status and source may be null.
_TEXT, _UUID = {"type": "string", "nullable": True}, {"type": "string", "format": "uuid", "nullable": True}
_WHEN, _DAY = {"type": "string", "format": "date-time", "nullable": True}, {"type": "string", "format": "date",
                                                                              "nullable": True}
_WHOLE, _YES_NO = {"type": "integer", "nullable": True}, {"type": "boolean", "nullable": True}
REFERRAL_EXPORT = _object(
    id={"type": "string", "format": "uuid"}, reference={"type": "string"}, status={"type": "string"},
    business_status=_TEXT, status_reason=_TEXT, status_text=_TEXT, source={"type": "string"},
    referrer_org_id=_TEXT, service_id=_UUID, assigned_org_id=_TEXT,
    assigned_adviser={**_TEXT, "description": "the adviser as no organisation's reader sees them, never a login id"},
    submitted_at=_WHEN, closed_at=_WHEN, erased_at=_WHEN,
    person=_object(nhs_number=_TEXT, given_name=_TEXT, family_name=_TEXT, birth_date=_DAY, postcode=_TEXT,
                   email=_TEXT, phone=_TEXT, preferred_contact=_TEXT, deprivation_decile=_WHOLE, sex=_TEXT,
                   ethnicity=_TEXT, age_band=_TEXT),
    need=_object(employment_situation=_TEXT, health_category=_TEXT, reason=_TEXT),
    adjustment=_object(request_id=_UUID, suggestion_id=_UUID,
                       fit_note_decision={**_TEXT, "enum": [*ADJUSTMENT_DECISIONS, None]},
                       categories={"type": "array", "items": {"type": "string", "enum": list(FIT_NOTE_CATEGORIES)},
                                   "nullable": True}),
    consent=_object(consent_id=_UUID, captured_by=_TEXT, captured_at=_WHEN, method=_TEXT, scope_service_id=_UUID,
                    outcomes_to_referrer=_YES_NO, updates_by_email=_YES_NO, updates_answered_at=_WHEN,
                    updates_answered_how=_TEXT,
                    updates_consent_id={**_UUID, "description": "the consent the status emails go under"},
                    withdrawn_at=_WHEN),
    duplicate_of_id=_UUID, duplicate_reason=_TEXT, replaces_id=_UUID,
    history=_list_of(action=_TEXT, from_status=_TEXT, to_status=_TEXT, business_status=_TEXT, reason=_TEXT,
                     actor_role=_TEXT, occurred_at=_WHEN),
    notes=_list_of(text=_TEXT, organisation=_TEXT, written_at=_WHEN),
    contact_attempts=_list_of(channel=_TEXT, result=_TEXT, attempted_at=_WHEN),
    outcomes=_list_of(type=_TEXT, occurred_on=_DAY, details=OUTCOME_DETAILS, recorded_at=_WHEN),
    sustainment_checks=_list_of(weeks=_WHOLE, due_on=_DAY, done_at=_WHEN),
    accessed=_list_of(occurred_at=_WHEN, action=_TEXT, organisation=_TEXT, role=_TEXT, purpose=_TEXT),
)


class SubjectAccessSchema(Schema):
    referrals = fields.List(fields.Dict(metadata=REFERRAL_EXPORT), metadata={
        "description": "each referral held about the person, oldest first: the person, the need, consent, "
                       "history, notes, contact attempts, outcomes, sustainment checks, and every recorded "
                       "access (when, organisation, role, action, purpose)"})
    organisations = fields.List(fields.String(), metadata={"description": "every organisation that accessed them"})


class ErasedReferralSchema(Schema):
    referral_id = fields.UUID()
    reference = fields.String()
    status = fields.String()
    cancelled = fields.Boolean(metadata={"description": "it was open: cancelled with consent withdrawn first"})
    already_erased = fields.Boolean()


class ErasureSchema(Schema):
    reason = fields.String()
    erased = fields.List(fields.Nested(ErasedReferralSchema))


# --- insights (aggregates only: a figure from 1 to 4, or built on fewer than 5 referrals, is null) --------------

def _suppressed_count(description: str = "") -> fields.Integer:
    return fields.Integer(allow_none=True, metadata={"description": description or "null when from 1 to 4"})


class WaitSchema(Schema):
    median = fields.Float(allow_none=True, metadata={"description": "days from submission to first contact"})
    p90 = fields.Float(allow_none=True, metadata={"description": "90th percentile of those days"})
    referrals = _suppressed_count("the referrals contacted, that the figures are built on")


OutcomeRatesSchema = Schema.from_dict(
    {kind: fields.Float(allow_none=True) for kind in domain.OUTCOME_TYPES}, name="OutcomeRatesSchema")


class InsightSummarySchema(Schema):
    referrals = _suppressed_count()
    rejection_rate = fields.Float(allow_none=True, metadata={"description": "share of the referrals rejected"})
    days_to_first_contact = fields.Nested(WaitSchema)
    outcome_rates = fields.Nested(OutcomeRatesSchema, metadata={
        "description": "share of the completed or failed referrals with each outcome type"})


def _counts(description: str) -> fields.Dict:
    return fields.Dict(keys=fields.String(), values=fields.Integer(allow_none=True), metadata={
        "description": description + " (not_recorded when unknown); hidden counts are null"})


class EquityGroupSchema(InsightSummarySchema):
    """One group of an equity breakdown: the summary's figures, and its row of two two-way tables."""

    by_status = fields.Dict(keys=fields.String(), values=fields.Integer(allow_none=True), metadata={
        "description": "the group's referrals by status: every status in the overall by_status, 0 included; a count "
                       "from 1 to 4 is null, and so is any other count that, with the group's size, the overall "
                       "counts and the other groups' counts, would let a hidden count be worked out"})
    rejection_reasons = fields.Dict(keys=fields.String(), values=fields.Integer(allow_none=True), metadata={
        "description": "the group's rejected referrals by reason (not_recorded when unknown): every reason in the "
                       "overall rejection_reasons, 0 included; they add up to by_status.rejected, and are hidden "
                       "as by_status is, so that neither gives the other's hidden counts away"})


def _breakdown(description: str) -> fields.Dict:
    return fields.Dict(keys=fields.String(), values=fields.Nested(EquityGroupSchema), metadata={
        "description": description + "; a group whose size is hidden has every figure null"})


class EquitySchema(Schema):
    deprivation_decile = _breakdown("by IMD decile, 1 = most deprived")
    age_band = _breakdown("by age band on the day referred (16_24, 25_34, 35_49, 50_64, 65_plus)")
    sex = _breakdown("by sex")
    ethnicity = _breakdown("by ONS ethnic group code")
    source = _breakdown("by source")
    employment_situation = _breakdown("by employment situation when referred (" + ", ".join(EMPLOYMENT) + ")")
    health_category = _breakdown("by health need when referred (" + ", ".join(HEALTH) + ")")


class InsightsSchema(Schema):
    generated_on = fields.Date(metadata={"description": "the UK date the figures were made"})
    suppression = fields.String(metadata={"description": "the suppression rule, in words"})
    overall = fields.Nested(InsightSummarySchema)
    by_source = _counts("referrals by source")
    by_area = _counts("referrals by postcode district")
    by_status = _counts("referrals by status")
    rejection_reasons = _counts("rejected referrals by reason")
    equity = fields.Nested(EquitySchema)
