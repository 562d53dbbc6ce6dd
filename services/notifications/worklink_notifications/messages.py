"""Message codes and their plain-language wording, and the default routing rules.

Wording says what happened and where to look, never anything about a person's
health: the detail stays in the owning service, behind its sign-in.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Callable

from worklink.uktime import uk_time

# message code -> (subject / inbox title, one plain sentence)
MESSAGES: dict[str, tuple[str, str]] = {
    "listing_published": ("Your listing is published", "A service listing of yours is now published."),
    "listing_updated": ("Your listing changed", "A service listing of yours was updated."),
    "listing_withdrawn": ("Your listing was withdrawn", "A service listing of yours was withdrawn."),
    "listing_review_due": ("Please check your listing", "A service listing of yours is due for review."),
    "capacity_changed": ("Capacity changed", "An adviser service's capacity to take referrals changed."),
    # what routing says of a capacity change now (VARIANTS): only a stop or a start is news to the owner
    "intake_paused": ("Not taking new referrals", "An adviser service of yours stopped taking new referrals: "
                                                  "no new referral is sent to it until it takes them again."),
    "intake_resumed": ("Taking new referrals again", "An adviser service of yours is taking new referrals again."),
    "referral_submitted": ("New referral", "A new referral was sent to your organisation."),
    "referral_received": ("Referral received", "Your referral was received by the adviser organisation."),
    "referral_accepted": ("Referral accepted", "Your referral was accepted."),
    "referral_rejected": ("Referral not accepted", "Your referral was not accepted."),
    "referral_allocated": ("Referral allocated", "A referral was allocated to an adviser in your organisation."),
    "referral_first_contact": ("First contact made", "An adviser has made first contact for your referral."),
    "referral_on_hold": ("Referral on hold", "Your referral was put on hold."),
    "referral_resumed": ("Referral resumed", "Your referral was resumed."),
    "referral_cancelled": ("Referral cancelled", "A referral to your organisation was cancelled."),
    "referral_failed": ("Referral could not go ahead", "Your referral could not go ahead."),
    "referral_completed": ("Referral completed", "Your referral was completed."),
    "referral_entered_in_error": ("Referral withdrawn", "A referral was withdrawn as entered in error."),
    "referral_held": ("Referral needs routing", "No adviser service could take a referral; it needs routing."),
    "referral_routed": ("New referral", "A held referral was routed to your organisation."),
    "referral_outcome": ("Outcome recorded", "An outcome was recorded for your referral."),
    "referral_feedback": ("What happened to your referral", "There is news about how your referral ended."),
    "referral_sla_breached": ("Referral overdue", "A referral missed its target time."),
    "suggestion_issued": ("Suggestion issued", "An adjustment suggestion from your practice was issued."),
    "suggestion_amended": ("Suggestion amended", "An adjustment suggestion from your practice was amended."),
    "suggestion_withdrawn": ("Suggestion withdrawn", "An adjustment suggestion from your practice was withdrawn."),
    # The same event with reason `replaced`: a GP wrote a newer suggestion in its place (its link opens that one).
    "suggestion_replaced": ("Suggestion replaced",
                            "An adjustment suggestion from your practice was replaced by a newer suggestion."),
    "suggestion_expired": ("Suggestion period ended", "The period an adjustment suggestion covers has ended."),
    "suggestion_review_due": ("Suggestion review due", "An adjustment suggestion is due for review."),
    "employer_response": ("Employer responded", "An employer responded to your suggested adjustments."),
    # A referral request the referrals service never answered (adjustments' sweep): the clinician's page says the
    # same; the alliance, told alongside, finds the hand-over by its request id and re-drives it.
    "suggestion_referral_not_received": ("Referral not yet received",
                                         "A referral you made has not yet been received by the employment advice "
                                         "service. The WorkLink alliance has been told and is looking into it; "
                                         "the suggestion says what to do."),
    "referral_request_unanswered": ("Referral request not received",
                                    "A referral request from a GP practice has had no answer from the referrals "
                                    "service in the expected time. Find its hand-over by the request id in the "
                                    "dead letters and re-drive it."),
    "webhook_failing": ("Your webhooks are failing", "Webhooks to one of your organisation's systems keep failing. "
                        "WorkLink keeps retrying them for a while; an administrator can see the error in the "
                        "webhook subscriber's status."),
}

# Messages to residents (notifications.person_message.requested): codes the owning
# services may ask for. Deliberately general: an email can be read by others.
PERSON_MESSAGES: dict[str, tuple[str, str]] = {
    # Sent when the referral is taken in: the person hears at once that it was made (with their private link).
    "referral_received": ("We have your referral",
                          "We have your referral for employment support. We will email you when there is "
                          "news about it."),
    # Sent instead when no adviser service could take the referral when it was made (referrals holds it): the
    # email has no service to link yet, so it says who has it and what happens next.
    "referral_being_matched": ("We have your referral",
                               "We have your referral for employment support. It is with the WorkLink alliance, "
                               "who are matching it to a local employment support service. We will email you "
                               "when a service has it."),
    # Says an adviser will contact them, so an adviser allocated at acceptance needs no second email.
    "referral_accepted": ("Your referral was accepted",
                          "An employment support service has accepted your referral. An adviser from the "
                          "service will contact you."),
    # Only when an adviser is allocated a day or more after acceptance (off a waiting list): news then.
    "adviser_will_contact_you": ("An adviser will contact you",
                                 "An employment adviser now has your referral and will contact you soon."),
    "self_referral_code": ("Your WorkLink code",
                           "Enter this code to finish referring yourself for employment support. It works "
                           "for 30 minutes. If you did not ask for it, you can ignore this email."),
    # To the address a waiting self-referral had, once it was changed on the code page: no code, nothing the
    # person typed. If it was not them (the next user of a shared computer), they hear before a referral is made.
    "self_referral_email_changed": ("Your WorkLink email address was changed",
                                    "The email address on your self-referral for employment support was changed, "
                                    "so its code now goes to the new address. If you did not change it, someone "
                                    "else may be using your details: refer yourself again on a device only you "
                                    "use, or ask your GP or Jobcentre work coach to refer you."),
    # The person asked for a new private status link (their old one had expired, or was lost): sent only to the
    # address referrals holds for the referral, with the link.
    "status_link_renewed": ("Your new link to your referral",
                            "You asked for a new link to see how your referral for employment support is going. "
                            "Your old link no longer works. If you did not ask for it, you can ignore this email: "
                            "only you receive the link."),
    "referral_closed": ("Your referral has closed",
                        "Your referral for employment support has closed. Contact your GP practice or the "
                        "service if you have questions."),
}


# --- why a resident hears from us, and how they stop -----------------------------------------------------------
# Every resident's email ends by saying who writes, why this address hears from us and how to stop (GOV.UK Notify
# and NHS content guidance; PECR allows no more than service messages). Referrals owns the choice: the person's
# status page (/my-referral/{token}) has "Stop emails about my referral", so these words point there.
PERSON_SENDER = ("This email is from WorkLink, a partnership of local health, care, voluntary and council "
                 "organisations that helps people get into or stay in work.")
# Status emails: sent under the referral's status-email consent, stopped on the person's page.
STATUS_EMAIL_WHY = ("You are getting it because you agreed to emails about your referral for employment support "
                    "when you were referred.")
STOP_ON_PAGE = "page"  # the template words it with the status link, or how to get one
# message code -> (why this address hears, how to stop: STOP_ON_PAGE or a sentence of its own)
PERSON_WHY: dict[str, tuple[str, str]] = {
    "referral_received": (STATUS_EMAIL_WHY, STOP_ON_PAGE),
    "referral_being_matched": (STATUS_EMAIL_WHY, STOP_ON_PAGE),
    "referral_accepted": (STATUS_EMAIL_WHY, STOP_ON_PAGE),
    "adviser_will_contact_you": (STATUS_EMAIL_WHY, STOP_ON_PAGE),
    # Closing is the last step referrals tells the person (its page no longer offers to stop emails then).
    "referral_closed": (STATUS_EMAIL_WHY, "Your referral has closed, so we will not email you about it again."),
    "self_referral_code": ("You are getting it because you asked for a code on our website to refer yourself for "
                           "employment support.", "We will not email you again unless you ask us to."),
    # To the address the self-referral had before it was changed: the next code and any news go to the new one.
    "self_referral_email_changed": ("You are getting it because this email address was given on a self-referral "
                                    "for employment support on our website.",
                                    "We will not email this address about that self-referral again."),
    # Sent at the person's request, with the link: status emails, if they are on, stop on that page.
    "status_link_renewed": ("You are getting it because someone asked on our website for a new link to a referral "
                            "that this email address follows.", STOP_ON_PAGE),
}
PERSON_WHY_UNKNOWN = ("You are getting it because you agreed to be contacted by email about employment support.",
                      STOP_ON_PAGE)


def person_why(code: str) -> tuple[str, str]:
    return PERSON_WHY.get(code, PERSON_WHY_UNKNOWN)


# The one message that carries a secret: the person's one-time code (its own template).
CODE_MESSAGE = "self_referral_code"
# How long the code works, as its e-mail says (referrals' REFERRALS_SELF_REFERRAL_CODE_MINUTES default):
# one not sent by then is given up, never sent late.
CODE_VALID_FOR = timedelta(minutes=30)
# The messages that may carry the person's private status link: the first news of a referral, routed to a
# service or held with the alliance, and a new link the person asked for.
LINK_MESSAGES = frozenset({"referral_received", "referral_being_matched", "status_link_renewed"})


# (rule's message code, event field, its value) -> the code said instead: one event type covers two happenings.
# adjustments.suggestion.withdrawn is also published when a GP replaces a suggestion (reason `replaced`,
# `superseded_by_id` the newer one); a practice told it was "withdrawn" looked for a suggestion that no longer held.
VARIANTS: dict[tuple[str, str, str], str] = {
    ("suggestion_withdrawn", "reason", "replaced"): "suggestion_replaced",
    ("capacity_changed", "accepting_referrals", False): "intake_paused",
    ("capacity_changed", "accepting_referrals", True): "intake_resumed",
}


def code_for(rule_code: str, data: dict[str, Any]) -> str:
    """The message code a delivery of this event gets under a rule naming `rule_code` (the rule's own, unless the
    event says it was a variant of it)."""
    for (code, field, value), variant in VARIANTS.items():
        if code == rule_code and data.get(field) == value:
            return variant
    return rule_code


def rule_titles(rule_code: str) -> list[str]:
    """What a rule naming `rule_code` tells people, by title: its own message's and its variants' (VARIANTS), its own
    left out when its variants cover every value of their field (a capacity summary is a stop or a start now)."""
    variants = {value: variant for (code, _field, value), variant in VARIANTS.items() if code == rule_code}
    said = list(variants.values()) if set(variants) == {True, False} else [rule_code, *variants.values()]
    return [wording(code)[0] for code in said]


def wording(code: str, person: bool = False) -> tuple[str, str]:
    table = PERSON_MESSAGES if person else MESSAGES
    return table.get(code, ("WorkLink update", "Something changed in WorkLink that you may want to look at."))


# --- details: what a message's facts say, in words ------------------------------------------------------------
# A message's sentence says what happened; these say which target, when, what changed, from the ids, codes and
# times the delivery holds (routing.FACT_FIELDS). Never a reason or outcome code (they can tell a person's health),
# and never an id fragment: "Referral 0a658e54" matched nothing a reader could look up (referrals' queue shows
# references such as R-J9E2K6YJ, which no event carries); the record is reached by the message's link instead.

# The referral's status when a target was missed, as the referral's own page names it (referrals' queue labels).
REFERRAL_STATUS_WORDS = {
    "submitted": "submitted", "triage": "being checked", "accepted": "accepted", "in_progress": "in progress",
    "on_hold": "on hold", "completed": "completed", "rejected": "rejected", "cancelled": "cancelled",
    "failed": "closed as could not contact", "entered_in_error": "entered in error",
}
# referrals.referral.sla_breached `clock`: what was due by the target.
TARGET_WORDS = {
    "acknowledge": "acknowledging the referral",
    "first_contact_attempt": "a first attempt to contact the person",
    "first_meeting": "a first meeting with the person",
}


def uk_moment(value: Any) -> str | None:
    """A stored time (ISO text in facts, or a datetime) as people in the UK read it: 25 November 2026, 17:00."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        return None
    return uk_time(moment).strftime("%-d %B %Y, %H:%M")


def uk_day(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def _missed_target(facts: dict) -> list[str]:
    target, due = TARGET_WORDS.get(facts.get("clock", "")), uk_moment(facts.get("due_at"))
    found = [f"Missed target: {target}, due by {due}." if target and due else None]
    if status := REFERRAL_STATUS_WORDS.get(facts.get("status", "")):
        found.append(f"The referral was {status} at the time.")
    return found


def _listing_changed(facts: dict) -> list[str]:
    changed = [str(part).replace("_", " ") for part in facts.get("changed") or ()]
    return [f"What changed: {', '.join(changed)}." if changed else None]


def _failing_webhooks(facts: dict) -> list[str]:
    since = uk_moment(facts.get("failing_since"))
    return [f"Failing since {since}." if since else None]


def _unanswered_request(facts: dict) -> list[str]:
    # The alliance finds the hand-over by this id in the dead letters: the whole id, labelled, is what it searches.
    return [f"Request id: {facts['request_id']}" if facts.get("request_id") else None]


DETAILS: dict[str, Callable[[dict], list[str | None]]] = {
    "referral_sla_breached": _missed_target,
    "listing_updated": _listing_changed,
    "webhook_failing": _failing_webhooks,
    "referral_request_unanswered": _unanswered_request,
}


def details(code: str, facts: dict | None) -> list[str]:
    """The lines a staff message adds to its sentence, from its facts (none for most messages)."""
    describe = DETAILS.get(code)
    if describe is None:
        return []
    try:
        return [line for line in describe(facts or {}) if line]
    except (TypeError, ValueError):  # a fact from an older row in another shape: the sentence still stands
        return []


_ORG = "inbox,email,webhook"
# (event type, audience, channels, message code): installed by migration 0002 and
# reviewable/editable by alliance_admin through /routing-rules. A type with no rule
# is consumed and counted, and tells no one.
DEFAULT_RULES: list[tuple[str, str, str, str]] = [
    ("directory.service.published", "service_owner", "inbox", "listing_published"),
    ("directory.service.updated", "service_owner", "inbox", "listing_updated"),
    ("directory.service.withdrawn", "service_owner", "inbox,email", "listing_withdrawn"),
    ("directory.service.review_due", "service_owner", _ORG, "listing_review_due"),
    ("referrals.capacity.changed", "service_owner", "inbox", "capacity_changed"),
    ("referrals.referral.submitted", "assigned_org", _ORG, "referral_submitted"),
    ("referrals.referral.received", "referrer_org", "inbox", "referral_received"),
    ("referrals.referral.accepted", "referrer_org", _ORG, "referral_accepted"),
    ("referrals.referral.rejected", "referrer_org", _ORG, "referral_rejected"),
    ("referrals.referral.allocated", "assigned_org", _ORG, "referral_allocated"),
    ("referrals.referral.first_contact_made", "referrer_org", "inbox", "referral_first_contact"),
    ("referrals.referral.put_on_hold", "referrer_org", "inbox", "referral_on_hold"),
    ("referrals.referral.resumed", "referrer_org", "inbox", "referral_resumed"),
    ("referrals.referral.cancelled", "assigned_org", _ORG, "referral_cancelled"),
    ("referrals.referral.failed", "referrer_org", "inbox,email", "referral_failed"),
    ("referrals.referral.completed", "referrer_org", _ORG, "referral_completed"),
    ("referrals.referral.entered_in_error", "assigned_org", "inbox", "referral_entered_in_error"),
    ("referrals.referral.held", "alliance", "inbox,email", "referral_held"),
    ("referrals.referral.routed", "assigned_org", _ORG, "referral_routed"),
    ("referrals.referral.outcome_recorded", "referrer_org", "inbox", "referral_outcome"),
    ("referrals.referral.feedback_ready", "referrer_org", _ORG, "referral_feedback"),
    ("referrals.referral.sla_breached", "assigned_org_lead", _ORG, "referral_sla_breached"),
    ("referrals.referral.sla_breached", "alliance", "inbox,email", "referral_sla_breached"),
    # The employer's answer goes to the clinician who advised (0006) and to their practice (0004).
    ("adjustments.employer_response.recorded", "clinician", "inbox,email", "employer_response"),
    ("adjustments.employer_response.recorded", "practice", _ORG, "employer_response"),
    ("adjustments.suggestion.issued", "practice", "inbox", "suggestion_issued"),
    ("adjustments.suggestion.amended", "practice", "inbox", "suggestion_amended"),
    ("adjustments.suggestion.withdrawn", "practice", "inbox", "suggestion_withdrawn"),
    ("adjustments.suggestion.expired", "practice", "inbox", "suggestion_expired"),
    ("adjustments.suggestion.review_due", "practice", "inbox,email", "suggestion_review_due"),
    # A referral request never answered (0020): the clinician who referred, and the alliance to act on it.
    ("adjustments.referral_request.unanswered", "clinician", "inbox,email", "suggestion_referral_not_received"),
    ("adjustments.referral_request.unanswered", "alliance", "inbox,email", "referral_request_unanswered"),
]
