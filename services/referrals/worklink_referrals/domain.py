"""The referral lifecycle as a pure state machine (no Flask, no database).

Statuses follow FHIR Task.status (see FHIR_STATUS); the finer stage within a status is
the business status. Every action names the states it may start from, who may take it
(a relationship to the referral, not just a role), the data it needs, and the lifecycle
event it produces. `decide()` checks all of that plus the optimistic-lock version and
returns a `Decision` for the service layer to apply; it never mutates anything.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, Iterable, Mapping

from worklink.uktime import uk_time, uk_today


class Status(StrEnum):
    SUBMITTED = "submitted"
    TRIAGE = "triage"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    FAILED = "failed"
    ENTERED_IN_ERROR = "entered_in_error"


# Our status -> FHIR R4 Task.status (documented in the service README).
FHIR_STATUS = {
    Status.SUBMITTED: "requested", Status.TRIAGE: "received", Status.ACCEPTED: "accepted",
    Status.IN_PROGRESS: "in-progress", Status.ON_HOLD: "on-hold", Status.COMPLETED: "completed",
    Status.REJECTED: "rejected", Status.CANCELLED: "cancelled", Status.FAILED: "failed",
    Status.ENTERED_IN_ERROR: "entered-in-error",
}
TERMINAL = frozenset({Status.COMPLETED, Status.REJECTED, Status.CANCELLED, Status.FAILED, Status.ENTERED_IN_ERROR})
OPEN = frozenset(Status) - TERMINAL
# Terminal states that still take later outcome additions (e.g. the 13-week check).
OUTCOME_STATES = frozenset({Status.IN_PROGRESS, Status.ON_HOLD, Status.COMPLETED, Status.FAILED})

ACCEPTED_STAGES = ("waitlisted", "allocated", "contact_attempted")
IN_PROGRESS_STAGES = ("engaged", "plan_agreed", "job_search", "in_work_support")

REJECT_REASONS = ("not_eligible", "no_capacity", "out_of_area", "insufficient_information", "duplicate",
                  "failed_contact", "other")
CANCEL_REASONS = ("referrer_withdrew", "person_withdrew", "deceased", "other")  # what a person may choose
# Given only by the consent withdrawal itself (services.withdraw_consent, a system cancel): a cancel a
# person chose with it would say consent was withdrawn while leaving it standing.
CONSENT_WITHDRAWN = "consent_withdrawn"
FAIL_REASONS = ("failed_contact", "disengaged")
# Told to the referrer only if the person agreed that outcomes go back to them: a stage that says they are in
# work, and an ending that says they reached their goals, are outcomes too.
OUTCOME_STAGES = frozenset({"in_work_support"})
OUTCOME_REASONS = frozenset({"goals_met"})
HOLD_REASONS = ("person_unwell", "person_request", "awaiting_information", "other")
END_REASONS = ("goals_met", "support_period_ended", "moved_away", "other")
CHANNELS = ("phone", "text", "email", "letter", "in_person", "video")
ATTEMPT_RESULTS = ("no_answer", "left_message", "wrong_details", "declined", "reached")

OUTCOME_TYPES = ("job_start", "stayed_in_work", "sustained_job_outcome", "training_or_volunteering",
                 "fit_note_change", "disengaged")
# Each type's own fields, the only ones kept in its details (the page's one outcome form posts every type's: a
# job start's hours band left selected when the adviser then chose disengaged is not part of that outcome).
OUTCOME_FIELDS = {"job_start": ("hours_band",),
                  "sustained_job_outcome": ("weeks_in_work", "period_weeks", "hours_per_week"),
                  "fit_note_change": ("fit_note_from", "fit_note_to")}
HOURS_BANDS = ("under_7", "7_to_15", "16_to_29", "30_plus")
FIT_NOTE = ("not_fit", "may_be_fit", "fit")
SUSTAINMENT_WEEKS = (13, 26)
MAX_HOURS_PER_WEEK = 100  # more than anyone works: a typo, not an outcome
MAX_HOLD_DAYS = 365  # a hold is reviewed within a year
# A person referred for employment support: old enough to work part time in the UK (13), and alive.
YOUNGEST, OLDEST = 13, 120

# Relationships an actor can have to a referral.
ASSIGNED, REFERRER, PERSON, ADMIN, SYSTEM = "assigned_org", "referrer", "person", "alliance_admin", "system"

# Self-referrals have no referring organisation; they and their events name this fixed id instead. No token's
# organisation is ever their referrer: one carrying this id (a misconfigured or forged identity provider
# record) would otherwise read every self-referral.
SELF_REFERRAL_ORG = uuid.uuid5(uuid.NAMESPACE_URL, "urn:worklink:referrals:self-referral")


class DomainError(Exception):
    status = 400

    def __init__(self, detail: str, **extensions: Any):
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class IllegalTransition(DomainError):
    status = 409


class StaleVersion(DomainError):
    status = 409


class NotPermitted(DomainError):
    status = 403


class MissingData(DomainError):
    """Required data is absent or invalid; `errors` maps field -> message."""

    status = 422

    def __init__(self, errors: Mapping[str, str]):
        super().__init__("The action needs more or different data: " + "; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


def unless_outcome(code: str | None, outcomes_shared: bool) -> str | None:
    """A stage or reason code as the referrer may see it: None when it tells an outcome they may not know."""
    return None if not outcomes_shared and code in OUTCOME_STAGES | OUTCOME_REASONS else code


# What the person who agreed to status emails hears of each lifecycle step (notifications' resident codes).
PERSON_MESSAGES = {"received": "referral_received", "accepted": "referral_accepted",
                   "allocated": "adviser_will_contact_you", "rejected": "referral_closed",
                   "failed": "referral_closed", "completed": "referral_closed", "cancelled": "referral_closed"}
# The first message, at intake: a referral no adviser service could take (held) is with the alliance, who are
# matching it to a service - "received" would leave the person looking for a service the email cannot name.
HELD_AT_INTAKE_MESSAGE = "referral_being_matched"
# "Accepted" already says an adviser from the service will contact them: an adviser allocated within this
# time of acceptance (in the same click, or the next) adds nothing; one allocated later - off a waiting list -
# is news.
ADVISER_NEWS_AFTER = timedelta(hours=24)


def intake_message(routed: bool) -> str:
    """The message code the person hears when their referral is taken in."""
    return PERSON_MESSAGES["received"] if routed else HELD_AT_INTAKE_MESSAGE


def person_message(step: str, *, told_received: bool, accepted_at: datetime | None, had_adviser: bool,
                   now: datetime) -> str | None:
    """The message code the person hears for a lifecycle step, or None. Each once: "received" is told when
    the referral is taken in (so here only to one taken in before that was so); an adviser only the first
    time, and only when it is news."""
    if step == "received" and told_received:
        return None
    if step == "allocated" and (had_adviser or accepted_at is None or now - accepted_at < ADVISER_NEWS_AFTER):
        return None
    return PERSON_MESSAGES.get(step)


@dataclass(frozen=True)
class Actor:
    subject: str
    role: str  # resident | gp | adviser | org_admin | alliance_admin | system
    organisation: str | None = None
    via_person_link: bool = False  # the person, through their self-service link
    # As their token names them (OpenID Connect `name`, `org_name`), for other organisations to read instead of
    # the login id; not who they are (`subject` and `organisation` decide every rule).
    name: str | None = field(default=None, compare=False)
    organisation_name: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Attempt:
    channel: str
    result: str


@dataclass(frozen=True)
class Snapshot:
    """What the rules need to know about a referral."""

    status: Status
    version: int
    referrer_org_id: str
    assigned_org_id: str | None = None
    referrer_subject: str | None = None
    submitted_on: date | None = None  # outcomes cannot predate the referral
    business_status: str | None = None
    assigned_adviser: str | None = None
    held_from: Status | None = None
    attempts: tuple[Attempt, ...] = ()
    outcome_count: int = 0


@dataclass(frozen=True)
class Decision:
    action: str
    status: Status
    business_status: str | None
    updates: dict[str, Any] = field(default_factory=dict)
    events: tuple[str, ...] = ()  # lifecycle steps: "referrals.referral.<step>"


def relationships(actor: Actor, referral: Snapshot) -> set[str]:
    return relationships_to(actor, referral.referrer_org_id, referral.assigned_org_id)


def relationships_to(actor: Actor, referrer_org_id: str | None, assigned_org_id: str | None) -> set[str]:
    """The actor's relationships to a referral made by `referrer_org_id` and assigned to `assigned_org_id`."""
    found: set[str] = set()
    if actor.role == "system":
        found.add(SYSTEM)
    if actor.role == "alliance_admin":
        found.add(ADMIN)
    if actor.via_person_link:
        found.add(PERSON)
    elif actor.organisation and assigned_org_id and actor.organisation == assigned_org_id \
            and actor.role in ("adviser", "org_admin"):
        found.add(ASSIGNED)
    if not actor.via_person_link and actor.organisation and actor.organisation == referrer_org_id \
            and actor.organisation != str(SELF_REFERRAL_ORG) and actor.role in ("gp", "adviser", "org_admin"):
        found.add(REFERRER)
    return found


@dataclass(frozen=True)
class Rule:
    sources: frozenset[Status]
    who: frozenset[str]


S = Status
RULES: dict[str, Rule] = {
    "acknowledge": Rule(frozenset({S.SUBMITTED}), frozenset({ASSIGNED})),
    "accept": Rule(frozenset({S.SUBMITTED, S.TRIAGE}), frozenset({ASSIGNED})),
    "assign": Rule(frozenset({S.SUBMITTED, S.TRIAGE, S.ACCEPTED, S.IN_PROGRESS, S.ON_HOLD}), frozenset({ASSIGNED})),
    "record_contact_attempt": Rule(frozenset({S.ACCEPTED, S.IN_PROGRESS}), frozenset({ASSIGNED})),
    "make_first_contact": Rule(frozenset({S.ACCEPTED}), frozenset({ASSIGNED})),
    "update_progress": Rule(frozenset({S.IN_PROGRESS}), frozenset({ASSIGNED})),
    "put_on_hold": Rule(frozenset({S.ACCEPTED, S.IN_PROGRESS}), frozenset({ASSIGNED})),
    "resume": Rule(frozenset({S.ON_HOLD}), frozenset({ASSIGNED})),
    "reject": Rule(frozenset({S.SUBMITTED, S.TRIAGE}), frozenset({ASSIGNED, ADMIN})),
    "cancel": Rule(OPEN, frozenset({REFERRER, PERSON, ADMIN, SYSTEM})),
    "fail": Rule(frozenset({S.ACCEPTED, S.IN_PROGRESS, S.ON_HOLD}), frozenset({ASSIGNED})),
    "complete": Rule(frozenset({S.IN_PROGRESS}), frozenset({ASSIGNED})),
    "enter_in_error": Rule(frozenset(Status) - {S.ENTERED_IN_ERROR}, frozenset({REFERRER, ADMIN})),
    "record_outcome": Rule(OUTCOME_STATES, frozenset({ASSIGNED})),
}
ACTIONS = tuple(RULES)
# The referrer may only cancel before the adviser's work starts (BaRS: cancel while active).
REFERRER_CANCELS_FROM = frozenset({S.SUBMITTED, S.TRIAGE, S.ACCEPTED})
# ... and may mark it entered in error only before the adviser organisation has received it: after that
# it is the adviser's work (and its outcomes), which only the alliance may strike out.
REFERRER_ENTERS_IN_ERROR_FROM = frozenset({S.SUBMITTED})
FAILED_CONTACT_MIN_ATTEMPTS = 3
FAILED_CONTACT_MIN_CHANNELS = 2


def decide(referral: Snapshot, action: str, actor: Actor, data: Mapping[str, Any], *,
           expected_version: int | None, now: datetime,
           failed_contact_attempts: int = FAILED_CONTACT_MIN_ATTEMPTS) -> Decision:
    """Check an action against the rules; raise a DomainError or return what changes.
    `failed_contact_attempts` is N in 'could not contact after N attempts over at least 2 channels'."""
    rule = RULES.get(action)
    if rule is None:
        raise MissingData({"action": f"must be one of {', '.join(ACTIONS)}"})
    if expected_version is None:
        raise MissingData({"version": "send the version you last read (optimistic locking)"})
    if expected_version != referral.version:
        raise StaleVersion(f"The referral has changed since version {expected_version}; it is now at version "
                           f"{referral.version}. Read it again and retry.", current_version=referral.version)
    if referral.status not in rule.sources:
        allowed = sorted(a for a, r in RULES.items() if referral.status in r.sources)
        raise IllegalTransition(f"Cannot {action.replace('_', ' ')} a referral that is {referral.status.value}.",
                                current_status=referral.status.value, allowed_actions=allowed)
    who = relationships(actor, referral)
    if not who & rule.who:
        raise NotPermitted(f"Only {', '.join(sorted(rule.who))} may {action.replace('_', ' ')} this referral.")
    if action == "cancel" and who & rule.who == {REFERRER} and referral.status not in REFERRER_CANCELS_FROM:
        raise IllegalTransition("The referrer can cancel only before the adviser's work has started; "
                                "the person or the alliance can still cancel.", current_status=referral.status.value)
    if action == "enter_in_error" and who & rule.who == {REFERRER} and referral.status not in REFERRER_ENTERS_IN_ERROR_FROM:
        raise IllegalTransition("The referrer can mark a referral entered in error only before the adviser "
                                "organisation has received it; ask the alliance to do it now.",
                                current_status=referral.status.value)
    if action == "fail":
        return _fail(referral, actor, data, now, min_attempts=failed_contact_attempts)
    return _DECIDERS[action](referral, actor, data, now)


# --- one function per action: required data and the resulting state ---------------------------


def _acknowledge(r: Snapshot, actor: Actor, data, now) -> Decision:
    return Decision("acknowledge", S.TRIAGE, None, {"acknowledged_at": now}, ("received",))


def _accept(r: Snapshot, actor: Actor, data, now) -> Decision:
    adviser = data.get("adviser_id") or (actor.subject if data.get("claim") else None)
    updates: dict[str, Any] = {"accepted_at": now}
    events: tuple[str, ...] = ("accepted",)
    if r.status is S.SUBMITTED:  # accepting straight away also acknowledges it
        updates["acknowledged_at"] = now
        events = ("received", "accepted")
    if adviser:
        updates["assigned_adviser"] = adviser
        return Decision("accept", S.ACCEPTED, "allocated", updates, events + ("allocated",))
    return Decision("accept", S.ACCEPTED, "waitlisted", updates, events)


def _assign(r: Snapshot, actor: Actor, data, now) -> Decision:
    adviser = data.get("adviser_id") or (actor.subject if data.get("claim") else None)
    if not adviser:
        raise MissingData({"adviser_id": "name the adviser, or send claim: true to take it yourself"})
    if r.status is S.ACCEPTED:
        stage = r.business_status if r.business_status == "contact_attempted" else "allocated"
        return Decision("assign", r.status, stage, {"assigned_adviser": adviser}, ("allocated",))
    return Decision("assign", r.status, r.business_status, {"assigned_adviser": adviser})


def _record_contact_attempt(r: Snapshot, actor: Actor, data, now) -> Decision:
    errors = {}
    if data.get("channel") not in CHANNELS:
        errors["channel"] = f"must be one of {', '.join(CHANNELS)}"
    if data.get("result") not in ATTEMPT_RESULTS:
        errors["result"] = f"must be one of {', '.join(ATTEMPT_RESULTS)}"
    if errors:
        raise MissingData(errors)
    stage = "contact_attempted" if r.status is S.ACCEPTED else r.business_status
    return Decision("record_contact_attempt", r.status, stage,
                    {"attempt": Attempt(data["channel"], data["result"]), "attempted_at": now})


def _make_first_contact(r: Snapshot, actor: Actor, data, now) -> Decision:
    return Decision("make_first_contact", S.IN_PROGRESS, "engaged",
                    {"first_contact_at": now, "assigned_adviser": r.assigned_adviser or actor.subject},
                    ("first_contact_made",))


def _update_progress(r: Snapshot, actor: Actor, data, now) -> Decision:
    stage = data.get("business_status")
    if stage not in IN_PROGRESS_STAGES:
        raise MissingData({"business_status": f"must be one of {', '.join(IN_PROGRESS_STAGES)}"})
    return Decision("update_progress", S.IN_PROGRESS, stage)


def _put_on_hold(r: Snapshot, actor: Actor, data, now) -> Decision:
    errors = _reason_errors(data, HOLD_REASONS)
    review = data.get("review_date")
    if not isinstance(review, date) or isinstance(review, datetime):
        errors["review_date"] = "a date (YYYY-MM-DD) to review the hold"
    elif review <= uk_today(now):
        errors["review_date"] = "must be in the future"
    elif review > uk_today(now) + timedelta(days=MAX_HOLD_DAYS):
        errors["review_date"] = f"review the hold within {MAX_HOLD_DAYS} days"
    if errors:
        raise MissingData(errors)
    return Decision("put_on_hold", S.ON_HOLD, r.business_status,
                    {"held_from": r.status, "hold_reason": data["reason"], "hold_review_date": review},
                    ("put_on_hold",))


def _resume(r: Snapshot, actor: Actor, data, now) -> Decision:
    if not (data.get("note") or "").strip():
        raise MissingData({"note": "say why the hold ends"})
    return Decision("resume", r.held_from or S.IN_PROGRESS, r.business_status,
                    {"held_from": None, "hold_reason": None, "hold_review_date": None}, ("resumed",))


def _reject(r: Snapshot, actor: Actor, data, now) -> Decision:
    errors = _reason_errors(data, REJECT_REASONS)
    if errors:
        raise MissingData(errors)
    return Decision("reject", S.REJECTED, None,
                    {"status_reason": data["reason"], "redirect_service_id": data.get("redirect_service_id"),
                     "closed_at": now}, ("rejected", "feedback_ready"))


def _cancel(r: Snapshot, actor: Actor, data, now) -> Decision:
    if data.get("reason") == CONSENT_WITHDRAWN and actor.role != "system":
        raise MissingData({"reason": "consent_withdrawn is recorded by the consent withdrawal itself "
                                     "(POST /referrals/{id}/consent-withdrawal), which also stops sharing; "
                                     f"a cancel takes one of {', '.join(CANCEL_REASONS)}"})
    errors = _reason_errors(data, CANCEL_REASONS + ((CONSENT_WITHDRAWN,) if actor.role == "system" else ()))
    if errors:
        raise MissingData(errors)
    return Decision("cancel", S.CANCELLED, None, {"status_reason": data["reason"], "closed_at": now},
                    ("cancelled", "feedback_ready"))


def _fail(r: Snapshot, actor: Actor, data, now, min_attempts: int = FAILED_CONTACT_MIN_ATTEMPTS) -> Decision:
    errors = _reason_errors(data, FAIL_REASONS)
    if errors:
        raise MissingData(errors)
    if data["reason"] == "failed_contact":
        unanswered = [a for a in r.attempts if a.result != "reached"]
        channels = {a.channel for a in unanswered}
        if len(unanswered) < min_attempts or len(channels) < FAILED_CONTACT_MIN_CHANNELS:
            raise MissingData({"reason": f"failed contact needs at least {min_attempts} recorded "
                               f"attempts over at least {FAILED_CONTACT_MIN_CHANNELS} channels "
                               f"(have {len(unanswered)} over {len(channels)})"})
    return Decision("fail", S.FAILED, None, {"status_reason": data["reason"], "closed_at": now},
                    ("failed", "feedback_ready"))


def _complete(r: Snapshot, actor: Actor, data, now) -> Decision:
    errors = _reason_errors(data, END_REASONS, field_name="end_reason")
    if r.outcome_count < 1:
        errors["outcomes"] = "record at least one outcome before completing"
    if errors:
        raise MissingData(errors)
    return Decision("complete", S.COMPLETED, None, {"status_reason": data["end_reason"], "closed_at": now},
                    ("completed", "feedback_ready"))


def _enter_in_error(r: Snapshot, actor: Actor, data, now) -> Decision:
    if not (data.get("text") or "").strip():
        raise MissingData({"text": "say what was wrong"})
    return Decision("enter_in_error", S.ENTERED_IN_ERROR, None,
                    {"status_reason": "entered_in_error", "closed_at": now}, ("entered_in_error",))


def _record_outcome(r: Snapshot, actor: Actor, data, now) -> Decision:
    outcome = validate_outcome(data, today=uk_today(now), earliest=r.submitted_on)
    events = ("outcome_recorded",) + (("feedback_ready",) if r.status in TERMINAL else ())
    return Decision("record_outcome", r.status, r.business_status, {"outcome": outcome}, events)


def _reason_errors(data, allowed: Iterable[str], field_name: str = "reason") -> dict[str, str]:
    reason = data.get(field_name)
    if reason not in allowed:
        return {field_name: f"must be one of {', '.join(allowed)}"}
    if reason == "other" and not (data.get("text") or "").strip():
        return {"text": "explain the 'other' reason"}
    return {}


_DECIDERS = {
    "acknowledge": _acknowledge, "accept": _accept, "assign": _assign,
    "record_contact_attempt": _record_contact_attempt, "make_first_contact": _make_first_contact,
    "update_progress": _update_progress, "put_on_hold": _put_on_hold, "resume": _resume, "reject": _reject,
    "cancel": _cancel, "fail": _fail, "complete": _complete, "enter_in_error": _enter_in_error,
    "record_outcome": _record_outcome,
}
assert set(_DECIDERS) == set(RULES)


# --- outcomes ------------------------------------------------------------------------------------


def birth_date_problem(born: date, today: date) -> str | None:
    """Why a date of birth cannot be a referred person's (None if it can)."""
    if born >= today:
        return "must be in the past"
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if age < YOUNGEST:
        return f"the person must be at least {YOUNGEST}"
    if age > OLDEST:
        return "check the year"
    return None


def validate_outcome(data: Mapping[str, Any], *, today: date, earliest: date | None = None) -> dict[str, Any]:
    """An outcome's required data by type; returns the cleaned outcome or raises MissingData.
    `earliest`: the day the referral was made (an outcome of it cannot come before)."""
    kind = data.get("type")
    if kind not in OUTCOME_TYPES:
        raise MissingData({"type": f"must be one of {', '.join(OUTCOME_TYPES)}"})
    errors: dict[str, str] = {}
    occurred = data.get("occurred_on")
    if not isinstance(occurred, date):
        errors["occurred_on"] = "the date it happened (YYYY-MM-DD)"
    elif occurred > today:
        errors["occurred_on"] = "cannot be in the future"
    elif earliest and occurred < earliest:
        errors["occurred_on"] = f"cannot be before the referral was made ({earliest.isoformat()})"
    if kind == "job_start" and data.get("hours_band") not in HOURS_BANDS:
        errors["hours_band"] = f"must be one of {', '.join(HOURS_BANDS)}"
    if kind == "sustained_job_outcome":
        # IPSPC job outcome: at least 7 hours a week for 13 weeks within a 16-week period.
        weeks, window, hours = data.get("weeks_in_work"), data.get("period_weeks"), data.get("hours_per_week")
        if not isinstance(weeks, int) or weeks < 13:
            errors["weeks_in_work"] = "at least 13 weeks in work"
        if not isinstance(window, int) or not 13 <= window <= 16:
            errors["period_weeks"] = "the 13 weeks must fall within at most 16"
        elif isinstance(weeks, int) and weeks > window:
            errors["weeks_in_work"] = "cannot be more than period_weeks"
        if not isinstance(hours, (int, float)) or not 7 <= hours <= MAX_HOURS_PER_WEEK:
            errors["hours_per_week"] = f"at least 7 and at most {MAX_HOURS_PER_WEEK} hours a week"
    if kind == "fit_note_change":
        before, after = data.get("fit_note_from"), data.get("fit_note_to")
        if before not in FIT_NOTE or after not in FIT_NOTE:
            errors["fit_note_to"] = f"fit_note_from and fit_note_to must be among {', '.join(FIT_NOTE)}"
        elif FIT_NOTE.index(after) <= FIT_NOTE.index(before):
            errors["fit_note_to"] = "a fit-note change must move towards fit"
    check = data.get("sustainment_check_weeks")
    if check is not None and check not in SUSTAINMENT_WEEKS:
        errors["sustainment_check_weeks"] = "13 or 26"
    if errors:
        raise MissingData(errors)
    keep = ("type", "occurred_on", *OUTCOME_FIELDS.get(kind, ()), "sustainment_check_weeks")
    return {k: data.get(k) for k in keep if data.get(k) is not None}


def sustainment_due_dates(job_started_on: date) -> dict[int, date]:
    """Checks at 13 and 26 weeks after a job start."""
    return {weeks: job_started_on + timedelta(weeks=weeks) for weeks in SUSTAINMENT_WEEKS}


def sustainment_check_problem(weeks: int, due_on: date | None, occurred_on: date) -> str | None:
    """Why an outcome cannot be the `weeks` sustainment check (None if it can): there is none without a job start,
    and one recorded before it is due says nothing of the person's work at 13 or 26 weeks."""
    if due_on is None:
        return f"no job start is recorded on this referral, so there is no {weeks}-week check"
    if occurred_on < due_on:
        return f"the {weeks}-week check is due on {due_on.isoformat()}: record it on or after that day"
    return None


# --- working-day clocks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ClockTargets:
    """Working-day targets (configurable): acknowledge, first contact attempt, first meeting."""

    acknowledge: int = 2
    first_contact_attempt: int = 5
    first_meeting: int = 10
    holidays: frozenset[date] = frozenset()


CLOCKS = ("acknowledge", "first_contact_attempt", "first_meeting")


def is_working_day(day: date, holidays: frozenset[date] = frozenset()) -> bool:
    return day.weekday() < 5 and day not in holidays


def add_working_days(start: datetime, days: int, holidays: frozenset[date] = frozenset()) -> datetime:
    """The same UK time of day `days` UK working days later (a weekend start counts from Monday),
    in UTC. Days are counted on the UK calendar: 00:30 BST on a Saturday is a weekend start though
    it is still Friday in UTC, and 09:00 stays 09:00 across a change of the clocks."""
    moment = uk_time(start)
    remaining = days
    while remaining > 0:
        moment += timedelta(days=1)  # wall-clock arithmetic within Europe/London
        if is_working_day(moment.date(), holidays):
            remaining -= 1
    return moment.astimezone(timezone.utc)


def working_days_between(start: datetime, end: datetime, holidays: frozenset[date] = frozenset()) -> int:
    """UK working days after `start`'s UK day up to and including `end`'s (the inverse of add_working_days)."""
    day, count = uk_today(start), 0
    while day < uk_today(end):
        day += timedelta(days=1)
        count += is_working_day(day, holidays)
    return count


@dataclass(frozen=True)
class ClockState:
    submitted_at: datetime
    acknowledged_at: datetime | None = None
    accepted_at: datetime | None = None
    first_attempt_at: datetime | None = None
    first_contact_at: datetime | None = None
    holds: tuple[tuple[datetime, datetime], ...] = ()  # (put on hold, resumed or now), in order
    # The acknowledge clock runs from when an adviser organisation got the referral: when it was routed
    # after being held (None: routed on submission). It does not run while held for want of a service:
    # no organisation can acknowledge it, and the alliance is alerted instead.
    routed_at: datetime | None = None
    awaiting_route: bool = False


def clock_deadlines(state: ClockState, targets: ClockTargets) -> dict[str, tuple[datetime, datetime | None]]:
    """For each running or finished clock: (due at, met at or None).

    Clocks stop while on hold: a hold that began before a clock was due and before it was met
    moves its deadline by the working days the hold covered."""
    h = targets.holidays
    clocks = {}
    if not state.awaiting_route:
        clocks["acknowledge"] = (_paused(state, state.routed_at or state.submitted_at, targets.acknowledge,
                                         state.acknowledged_at, h), state.acknowledged_at)
    if state.accepted_at:
        first_attempt = min(filter(None, (state.first_attempt_at, state.first_contact_at)), default=None)
        clocks["first_contact_attempt"] = (_paused(state, state.accepted_at, targets.first_contact_attempt,
                                                   first_attempt, h), first_attempt)
        # The first meeting is the first contact made (the referral moves to in progress).
        clocks["first_meeting"] = (_paused(state, state.accepted_at, targets.first_meeting,
                                           state.first_contact_at, h), state.first_contact_at)
    return clocks


def _paused(state: ClockState, start: datetime, days: int, met: datetime | None,
            holidays: frozenset[date]) -> datetime:
    due = add_working_days(start, days, holidays)
    for held, resumed in state.holds:
        if start <= held < due and (met is None or held < met):
            due = add_working_days(due, working_days_between(held, resumed, holidays), holidays)
    return due


def breached_clocks(state: ClockState, targets: ClockTargets, now: datetime) -> list[str]:
    """Clocks that missed their target: met late, or not met and now past due."""
    return [name for name, (due, met) in clock_deadlines(state, targets).items()
            if (met or now) > due]
