"""Pages: the adviser queue and referral page, the referrer's view, the person's status page, insights.

They use the same use cases, scope checks and audit as the JSON API; they work without JavaScript.
"""

from __future__ import annotations

import functools
import secrets
import uuid
from datetime import datetime

import sqlalchemy as sa
from flask import after_this_request, redirect, render_template, request
from marshmallow import ValidationError

from worklink.audit import person_record
from worklink.auth import ROLE_PERSON, current_principal, optional_principal, requires
from worklink.problems import Problem
from worklink.sites import directory_service_page, named_service, site_link_keys
from worklink.uktime import uk_moment, uk_today
from worklink.web import service_context
from worklink.web.dates import typed_date
from worklink.web.numbers import whole_number
from worklink.web.pages import PagesBlueprint, cookie_secure, errors_by_field
from worklink_referrals import access, domain, insights, services
from worklink_referrals.api import now, settings
from worklink_referrals.api.public import (PLAIN_STATUS, StatusLinkNotWorking, audit_pending, audits_refused_links,
                                           person_principal, person_status, referral_by_link, request_new_links)
from worklink_referrals.models import Referral, RoutingService, RoutingServiceArea, SustainmentCheck
from worklink_referrals.schemas import (EMPLOYMENT, ActionSchema, NewLinkSchema, NoteInSchema, PersonSchema,
                                        SelfReferralSchema, VerifySchema)

pages = PagesBlueprint("referral_pages", __name__, template_folder="templates")

PAGE_SIZE = 50  # referrals a list page shows
VIEWS = (("new", "New"), ("breaching", "Breaching targets"), ("mine", "Mine"), ("unassigned", "Not assigned"),
         ("waitlist", "Waitlist"), ("on_hold", "On hold"), ("review_due", "Holds to review"),
         ("checks_due", "Sustainment checks due"), ("all", "All"))
# The alliance holds no caseload and allocates no one ("Mine", "Not assigned", the adviser's holds and calls mean
# nothing to it); what it must act on is the referral no adviser service could take (held), so that list comes first.
ALLIANCE_VIEWS = (("held", "Held referrals"), ("new", "New"), ("breaching", "Breaching targets"),
                  ("waitlist", "Waitlist"), ("on_hold", "On hold"), ("all", "All"))
# Cancel reasons only withdraw_consent gives: a plain cancel with them would leave consent standing.
WITHDRAWAL_ONLY = {"consent_withdrawn"}
HEADINGS = {"new": "New referrals", "breaching": "Referrals breaching targets", "mine": "My referrals",
            "unassigned": "Referrals no adviser holds", "waitlist": "Waitlist", "on_hold": "Referrals on hold",
            "review_due": "Holds to review", "checks_due": "Sustainment checks due",
            "all": "All referrals", "held": "Held referrals"}
LABELS = {
    "submitted": "Submitted", "triage": "Being checked", "accepted": "Accepted", "in_progress": "In progress",
    "on_hold": "On hold", "completed": "Completed", "rejected": "Rejected", "cancelled": "Cancelled",
    "failed": "Could not contact", "entered_in_error": "Entered in error",
}
# The referral's codes in an adviser's words (the self-referral form asks the person in the first person).
SITUATIONS = {
    "in_work_at_risk": "In work, but their health is making it hard to stay in work",
    "off_sick_fit_note": "Off sick from their job, with a fit note",
    "unemployed": "Out of work and looking for work",
    "economically_inactive": "Not working and not looking for work at the moment",
}
CONSENT_WORDS = {"verbal": "Given verbally", "written": "Given in writing", "online": "Given online",
                "clinician_recorded": "In the clinical record"}
# An adjustment suggestion's fit-note decision and the advice boxes it ticked, in the fit note's own words.
FIT_NOTE_WORDS = {"may_be_fit": "may be fit for work", "not_fit": "not fit for work"}
FIT_NOTE_ADVICE = {"phased_return": "a phased return to work", "altered_hours": "altered hours",
                   "amended_duties": "amended duties", "workplace_adaptations": "workplace adaptations"}


def adjustment_words(adjustment: dict) -> str:
    """"Fit note: may be fit for work, advising a phased return to work and altered hours" (codes it does not
    know are shown as they are, never dropped)."""
    decision = adjustment.get("fit_note_decision")
    words = "Fit note: " + FIT_NOTE_WORDS.get(decision, (decision or "not recorded").replace("_", " "))
    advice = [FIT_NOTE_ADVICE.get(code, code.replace("_", " ")) for code in adjustment.get("categories") or []]
    if advice:
        words += ", advising " + (", ".join(advice[:-1]) + " and " + advice[-1] if len(advice) > 1 else advice[0])
    return words


# Why support is on hold (domain.HOLD_REASONS), in words: to staff (the referral page, its history, the form's choices),
# and to the person on their status page ("Your support is paused for now, while you are unwell"). An "other" hold
# says nothing more to the person: its explanation is a case note.
HOLD_REASON_WORDS = {"person_unwell": "The person is unwell", "person_request": "The person asked for a pause",
                     "awaiting_information": "Waiting for information", "other": "Another reason"}
PERSON_HOLD_WORDS = {"person_unwell": "while you are unwell", "person_request": "because you asked for a pause",
                     "awaiting_information": "while the service waits for information it needs"}


def hold_words(reason: str | None) -> str:
    """A hold's reason in staff's words; a code this page does not know is shown as it is, never dropped."""
    return HOLD_REASON_WORDS.get(reason or "", (reason or "not recorded").replace("_", " ").capitalize())


# The response-time targets (domain.CLOCKS), in words: the queue's "Targets missed" and a referral's targets.
CLOCK_NAMES = {"acknowledge": "Acknowledgement", "first_contact_attempt": "First contact attempt",
               "first_meeting": "First meeting"}
# A history entry's step and who took it, in words (the API's history keeps the codes).
HISTORY_STEPS = {
    "submit": "Referral made", "route": "Routed to an adviser service", "hold": "Held for the alliance to route",
    "link_duplicate": "Linked to an earlier referral for the same person",
    "relink_duplicate": "Linked to another earlier referral for the same person",
    "unlink_duplicate": "No longer linked to an earlier referral",
    "acknowledge": "Acknowledged", "accept": "Accepted", "assign": "Taken on by an adviser",
    "record_contact_attempt": "Contact attempt logged", "make_first_contact": "First contact made",
    "update_progress": "Stage updated", "record_outcome": "Outcome recorded", "put_on_hold": "Support put on hold",
    "resume": "Support resumed", "complete": "Completed", "reject": "Rejected", "cancel": "Cancelled",
    "fail": "Closed: could not contact or disengaged", "enter_in_error": "Marked as entered in error",
    "start_status_emails": "Status emails turned on", "stop_status_emails": "Status emails turned off",
}
HISTORY_ACTORS = {**ROLE_PERSON, "resident": "the person", "system": "WorkLink"}

# What a form post did, shown on the page it redirects to (`?done=<code>`; success_banner): the code, never the
# words, travels in the address. The referral page's codes are its actions, and a few of their variants.
REFERRAL_DONE = {
    "acknowledge": ("Referral acknowledged", "Accept it or reject it next."),
    "accept": ("Referral accepted", "It is assigned to you. Log your attempts to contact the person below."),
    "waitlist": ("Referral accepted onto the waitlist", "It is in the Waitlist view until an adviser takes it on."),
    "assign": ("Referral taken on", "It is assigned to you."),
    "accept_another": ("Referral accepted", "It is assigned to the adviser you chose."),
    "assign_another": ("Referral assigned", "It is assigned to the adviser you chose."),
    "record_contact_attempt": ("Contact attempt logged", None),
    "make_first_contact": ("First contact recorded", "Support is now in progress."),
    "update_progress": ("Stage updated", None),
    "record_outcome": ("Outcome recorded", None),
    "put_on_hold": ("Support put on hold", "Resume it from this page when the hold ends."),
    "resume": ("Support resumed", None),
    "complete": ("Referral completed", None),
    "reject": ("Referral rejected", None),
    "fail": ("Referral closed", None),
    "enter_in_error": ("Referral marked as entered in error", None),
    "cancel": ("Referral cancelled", None),
    "consent_withdrawn": ("Withdrawal of consent recorded", "Nothing more about the person will be shared."),
    "route": ("Referral routed", "The service you chose now has it in its queue."),
    "note": ("Note saved", None, ("#notes", "See the notes")),
}
TAKEN_ON = ("accept", "assign")  # the codes of the forms that give the reader the referral
GIVEN_TO_ANOTHER = tuple(f"{action}_another" for action in TAKEN_ON)  # ... that give it to a colleague
PERSON_DONE = {
    "stopped": ("Your referral is stopped", "The employment support service will not take it any further."),
    "withdrawn": ("Your consent is withdrawn", "We no longer share anything about you."),
    "stopped_withdrawn": ("Your referral is stopped and your consent withdrawn",
                          "We no longer share anything about you."),
    "emails_started": ("We will email you updates", "We will email you when there is news about your referral."),
    "emails_stopped": ("We will not email you updates", "Come back to this page to see how your referral is going."),
}


pages.add_app_template_filter(uk_moment, "uk")  # "6 Jul 2026, 09:00 BST", as every service's pages show a moment


@pages.app_template_filter("uk_date")
def _uk_date(moment: datetime | None) -> str:
    return uk_moment(moment, "%-d %b %Y")


def _nav():
    principal = optional_principal()
    if principal is None:
        return []
    if principal.role in ("adviser", "org_admin"):
        return [("Referral queue", "/queue"), ("Referrals we sent", "/sent")]
    if principal.role == "gp":
        return [("Referrals we sent", "/sent")]
    if principal.role == "alliance_admin":
        return [("Held referrals", "/queue?view=held"), ("Insights", "/alliance/insights"),
                ("A person's rights", "/people")]
    return []


def _render(template: str, status: int = 200, **context):
    return render_template(template, nav=_nav(), labels=LABELS, clock_names=CLOCK_NAMES, options=_options,
                           **context), status


def _options(codes, words: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """Codes as a select's (value, text) choices: in `words` when given, else "no_answer" reads "No answer"."""
    return [(str(code), (words or {}).get(str(code)) or str(code).replace("_", " ").capitalize()) for code in codes]


@pages.get("/")
def home():
    return _render("referrals/home.html", principal=optional_principal(), directory_url=settings().directory_url)


@pages.get("/queue")
@requires("adviser", "org_admin", "alliance_admin")
def queue():
    principal = current_principal()
    alliance = principal.role == "alliance_admin"
    views = ALLIANCE_VIEWS if alliance else VIEWS
    view = request.args.get("view", "held" if alliance else "new")
    if view not in {v for v, _ in views} | {"held"}:
        raise Problem(404, "There is no such list.")
    ctx, moment, page = service_context(), now(), _page_number()
    with ctx.database.transaction() as session:
        access.seen(session, principal, moment)
        # Work lists oldest first (the longest wait first); "all" newest first, so a new referral is on page 1.
        found, total = access.queue(session, principal, settings(), moment, view=view, limit=PAGE_SIZE,
                                    offset=(page - 1) * PAGE_SIZE, newest_first=view == "all")
        access.audit_listed(session, ctx.audit, (r.id for r in found))
        names = services.organisation_names(session, {r.assigned_org_id for r in found})
        checks = access.due_checks(session, found, uk_today(moment))
        advisers = services.adviser_names(session, found)
        items = [access.queue_item(r, settings(), moment, principal, names, checks, advisers) for r in found]
        items = [{**item, "adviser": _adviser_listed(principal, r, item["assigned_adviser_name"])}
                 for r, item in zip(found, items)]
        caseload = access.caseload(session, principal, settings())
    return _render("referrals/queue.html", items=items, total=total, view=view, views=views, caseload=caseload,
                   view_name=HEADINGS[view], page=page, page_size=PAGE_SIZE, today=uk_today(moment))


def _adviser_listed(principal, referral: Referral, name: str | None) -> str | None:
    """Who holds a referral, for the queue's Adviser column and the referral page: to their own organisation by
    `name` (access.adviser_name) and login id ("Sam Patel (sam.p)"), as a team lead knows them (None: by login id
    alone, no name known); to anyone else as access.adviser_words names them."""
    if principal.organisation == referral.assigned_org_id and referral.assigned_adviser and name:
        return f"{name} ({referral.assigned_adviser})"
    return None


def _roster_choices(session, principal, referral: Referral, allowed: list[str]) -> list[tuple[str, str]]:
    """The assigned organisation's known advisers (services.roster), as a select's choices, for staff who may
    accept or assign the referral (its allowed actions say so); the adviser holding it and the reader are left out."""
    if not {"accept", "assign"} & set(allowed):
        return []
    return [(subject, f"{name} ({subject})" if name else subject)
            for subject, name in services.roster(session, referral.assigned_org_id)
            if subject not in (referral.assigned_adviser, principal.subject)]  # they have "take it on" buttons


# Who made a referral, in words. Referrals keeps the referrer's role and organisation id, their login id
# (a JWT `sub`, perhaps an e-mail address: never shown) and, when their token or the suggestion gave them,
# their name, profession and organisation's name. Without a name it says the role and the organisation id.
REFERRER_ROLES = {"gp": ("A GP", "practice"), "adviser": ("An employment adviser", "organisation"),
                  "org_admin": ("Staff", "organisation")}  # role: (who, what their organisation is)


PROFESSIONS = {"doctor": "GP", "nurse": "nurse", "occupational_therapist": "occupational therapist",
               "pharmacist": "pharmacist", "physiotherapist": "physiotherapist"}  # the fit note's five


def referrer_words(referral: Referral, reader, org_names: dict[str, str]) -> str:
    """Who made the referral: "Dr Ada Lovelace (GP) at Riverside Surgery", else "A GP at practice <id>",
    "An employment adviser at your organisation". The organisation by the name the referral recorded, else by
    the one referrals keeps from its staff's tokens (`org_names`: services.organisation_names)."""
    if referral.source == "self":
        return "The person, through the self-referral form"
    who, kind = REFERRER_ROLES.get(referral.referrer_role, ("Staff", "organisation"))
    place = f"your {kind}" if reader.organisation == referral.referrer_org_id else (
        access.referrer_organisation_name(referral, org_names) or f"{kind} {referral.referrer_org_id}")
    if referral.referrer_name:
        profession = PROFESSIONS.get(referral.referrer_profession or "", referral.referrer_profession)
        who = referral.referrer_name + (f" ({profession})" if profession else "")
    return f"{who} at {place}" + (", with an adjustment suggestion" if referral.source == "adjustments" else "")


def consent_taker_words(referral: Referral) -> str:
    """Who recorded the consent: "the referrer" when it was the referrer themselves (their login id, never
    shown), else as stated with the referral (a self-referrer's check, a name the referrer gave)."""
    if referral.consent_captured_by == referral.referrer_subject:
        return "the referrer"
    return referral.consent_captured_by


# How the person's answer about status emails was given (services: WITH_CONSENT, ON_THE_FORM, ...), in words.
UPDATES_ANSWERED = {services.WITH_CONSENT: "given with their consent to the referral",
                    services.ON_THE_FORM: "answered on the self-referral form",
                    services.ON_THE_STATUS_PAGE: "changed through their status link"}


def status_emails_words(consent: dict) -> str:
    """The person's answer about status emails, beside their other consents: "Emails about their referral: yes,
    answered on the self-referral form on 27 November 2026". A self-referral made before the form asked was never
    asked: its emails follow the address the person verified (migration 0018)."""
    answer = "yes" if consent["updates_by_email"] else "no"
    how = consent["updates_answered_how"]
    if how == services.NOT_ASKED:
        return f"Emails about their referral: {answer}, not asked (they referred themselves before the form asked)"
    when = consent["updates_answered_at"]
    on = f" on {uk_moment(when, '%-d %B %Y')}" if when else ""
    return f"Emails about their referral: {answer}, {UPDATES_ANSWERED.get(how, 'recorded')}{on}"


def _page_number() -> int:
    """The 1-based page of a paged list (`?page=`); anything else is the first page."""
    return whole_number(request.args.get("page"), 999_999) or 1


NO_LONGER_POSSIBLE = "This can no longer be done: the referral has changed since the page was loaded."


def changed_meanwhile(history: list[dict], read_version: int, yours: frozenset[int] = frozenset()) -> str:
    """What changed since the page a form was posted from was read, in words: " (Contact attempt logged by an
    employment adviser at 14:05 GMT on 27 Nov 2026)", the latest three steps, UK time; "" when the reader sees none.
    `yours`: the versions the reader's own steps made, said to be by "you"."""
    since = [entry for entry in history if entry["version"] > read_version]

    def by(entry: dict) -> str:
        role = entry["actor_role"]
        return "you" if entry["version"] in yours else HISTORY_ACTORS.get(role, role.replace("_", " "))

    changes = "; ".join(f"{HISTORY_STEPS.get(e['action'], e['action'].replace('_', ' ').capitalize())} by {by(e)} "
                        f"at {uk_moment(e['occurred_at'], '%H:%M %Z on %-d %b %Y')}" for e in since[-3:])
    return f" ({changes})" if changes else ""


# A form refused because a colleague changed the referral after the page was read (a stale version): what changed,
# rather than the domain's "changed since version 3", which names nothing the page shows.
CHANGED_MEANWHILE = ("Not saved: someone else changed this referral after you opened this page{changes}. Check the "
                     "page as it is now; your answers are still in the form below, so submit it again if it is "
                     "still needed.")
CHANGED_AND_GONE = ("This can no longer be done: someone else changed this referral after you opened this "
                    "page{changes}.")
# ... or because the reader changed it themselves, in another tab or from a page Back returned to: "someone else"
# would send them looking for a colleague (a form sent twice with the same answers is not refused: _sent_again).
CHANGED_BY_YOU = ("Not saved: you changed this referral after this page was opened{changes}, in another tab or "
                  "from an earlier page. Check the page as it is now; your answers are still in the form below, so "
                  "submit it again if it is still needed.")
CHANGED_BY_YOU_AND_GONE = "This can no longer be done: you changed this referral after this page was opened{changes}."


def _referral_page(referral_id: uuid.UUID, *, errors=None, posted: str | None = None, status: int = 200,
                   read_version: int | None = None):
    """The referral page; after a refused form, `errors` (the form macros' mapping) and the form `posted`;
    `read_version`: the version the form was posted from, when a colleague's change since refused it."""
    ctx, principal, moment = service_context(), current_principal(), now()
    with ctx.database.transaction() as session:
        referral = access.load(session, referral_id, principal)
        access.seen(session, principal, moment)
        ctx.audit.record(session, action="read", resource_type="referral", resource_id=str(referral.id),
                         person_id=str(referral.id))
        names = services.organisation_names(session, access.organisations_named(referral))
        body = access.present(session, referral, principal, settings(), moment, org_names=names)
        adviser = _adviser_listed(principal, referral, body["assigned_adviser_name"])
        advisers = _roster_choices(session, principal, referral, body["allowed_actions"])
        routable = _routing_choices(session, referral.area) if (
            principal.is_alliance_admin and referral.routing == "held") else []
        # A rejection may suggest another service (redirect_service_id): those referrals knows, but the referral's own
        suggestions = [(sid, words) for sid, words in _routing_choices(session, referral.area)
                       if sid != str(referral.service_id)] if "reject" in body["allowed_actions"] else []
        checks = _sustainment_checks(session, referral, principal, uk_today(moment))
        # Taking a referral on is when IPS caseload guidance matters: the adviser hears it here, as the API's
        # answer says it, not only on the queue they may not open next; so does a team lead who gave it to one.
        done = request.args.get("done")
        took_it = done in TAKEN_ON and referral.assigned_adviser == principal.subject
        caseload = access.caseload(session, principal, settings()) if took_it and not errors else None
        if done in GIVEN_TO_ANOTHER and not errors and (
                warning := access.allocation_caseload_warning(session, referral, principal, settings())):
            caseload = {"warning": warning}
        yours = frozenset(t.version for t in referral.transitions if t.actor == principal.subject)
        last_note = max((note.id for note in access.notes_seen(principal, referral)), default=0)
    # Notes are kept by the assigned organisation's advisers and admins only (the API refuses others),
    # and only while the person's consent stands.
    can_note = (principal.role in ("adviser", "org_admin") and principal.organisation == body["assigned_org_id"]
                and not body["consent"]["withdrawn_at"])
    can_withdraw = not body["consent"]["withdrawn_at"] and access.records_withdrawal(principal, referral)
    by_you = read_version is not None and all(entry["version"] in yours for entry in body["history"]
                                               if entry["version"] > read_version)
    if errors and posted in domain.ACTIONS and posted not in body["allowed_actions"]:
        # The refused form is not on the page any more (the referral moved on meanwhile): say so, rather than
        # link its fields' messages to nothing.
        errors, status = {"": [NO_LONGER_POSSIBLE if read_version is None else (
            CHANGED_BY_YOU_AND_GONE if by_you else CHANGED_AND_GONE).format(
            changes=changed_meanwhile(body["history"], read_version, yours))]}, 409
    elif read_version is not None:
        errors = {"": [(CHANGED_BY_YOU if by_you else CHANGED_MEANWHILE).format(
            changes=changed_meanwhile(body["history"], read_version, yours))]}
    done = None if errors else REFERRAL_DONE.get(request.args.get("done", ""))
    return _render("referrals/referral.html", status, r=body, errors=errors or {}, d=domain, me=principal.subject,
                   done=done, situations=SITUATIONS, consent_methods=CONSENT_WORDS, steps=HISTORY_STEPS,
                   adjustment_words=adjustment_words, caseload=caseload, hold_words=hold_words,
                   hold_reasons=HOLD_REASON_WORDS, adviser=adviser or body["assigned_adviser"], advisers=advisers,
                   actors=HISTORY_ACTORS,
                   referrer=referrer_words(referral, principal, names), consent_by=consent_taker_words(referral),
                   status_emails=status_emails_words(body["consent"]),
                   can_note=can_note, can_withdraw=can_withdraw, checks=checks, last_note=last_note,
                   cancel_reasons=[code for code in domain.CANCEL_REASONS if code not in WITHDRAWAL_ONLY],
                   today=uk_today(moment).isoformat(), routable=routable, posted=posted, suggestions=suggestions,
                   suggested_page=directory_service_page(settings().directory_url, referral.redirect_service_id),
                   directory_url=settings().directory_url,
                   posted_values=request.form if posted else {})


def _sustainment_checks(session, referral: Referral, principal, today) -> list[dict]:
    """The referral's 13- and 26-week checks on a job start, for its assigned organisation while consent stands
    (the checks asked, services.CHECKS_ASKED): the "Sustainment checks due" list leads here, and without them the
    page did not say which check was due, or when, for 'Sustainment check this records (weeks)'."""
    if principal.role not in ("adviser", "org_admin") or principal.organisation != referral.assigned_org_id \
            or referral.consent_withdrawn_at is not None:
        return []
    found = session.scalars(sa.select(SustainmentCheck).where(SustainmentCheck.referral_id == referral.id)
                            .order_by(SustainmentCheck.weeks))
    return [{"weeks": c.weeks, "due_on": c.due_on, "done_at": c.done_at, "due": c.done_at is None and
             c.due_on <= today} for c in found]


def _routing_choices(session, area: str | None) -> list[tuple[str, str]]:
    """The active adviser services as (id, what referrals knows of them in words), those serving the person's area
    first, then those taking referrals. Referrals holds no service names (events carry ids and codes only): the
    page links each id to the directory's page of it, and names the organisation running it when a token of its
    staff did (organisation_names)."""
    offered = session.scalars(sa.select(RoutingService).where(RoutingService.active.is_(True))).all()
    runs = services.organisation_names(session, {str(service.organization_id) for service in offered})
    areas: dict[uuid.UUID, list[str]] = {}
    for service_id, code in session.execute(sa.select(RoutingServiceArea.service_id, RoutingServiceArea.area_code)
                                            .order_by(RoutingServiceArea.area_code)):
        areas.setdefault(service_id, []).append(code)

    def serves_area(service) -> bool:
        return not service.areas_stated or (area is not None and area in areas.get(service.service_id, ()))

    def words(service) -> str:
        codes = areas.get(service.service_id, [])
        served = ("serves any area" if not service.areas_stated else
                  "serves " + ", ".join(codes[:5]) + (f" and {len(codes) - 5} more" if len(codes) > 5 else ""))
        ages = ""
        if service.minimum_age is not None or service.maximum_age is not None:
            ages = f", ages {service.minimum_age or 0} to {service.maximum_age}" if service.maximum_age is not None \
                else f", ages {service.minimum_age} and over"
        here = f" (this person's area, {area})" if area and serves_area(service) and service.areas_stated else ""
        taking = "" if service.accepting_referrals else ", not taking referrals now"
        by = f"{runs[str(service.organization_id)]}: " if str(service.organization_id) in runs else ""
        return f"{by}{served}{here}{ages}{taking} – directory id {service.service_id}"

    ordered = sorted(offered, key=lambda s: (not serves_area(s), not s.accepting_referrals, str(s.service_id)))
    return [(str(service.service_id), words(service)) for service in ordered]


@pages.get("/queue/<uuid:referral_id>")
@person_record("referral", "referral_id")
@requires("adviser", "org_admin", "gp", "alliance_admin")
def referral_page(referral_id):
    return _referral_page(referral_id)


@pages.post("/queue/<uuid:referral_id>/act")
@person_record("referral", "referral_id")
@requires("adviser", "org_admin", "gp", "alliance_admin")
def referral_action(referral_id):
    form = {k: v for k, v in request.form.items() if v != "" and k not in ("csrf_token", "action")}
    action = request.form.get("action", "")
    if action not in domain.ACTIONS:
        raise Problem(400, "Choose an action.")
    if form.pop("claim", None):
        form["adviser_id"] = current_principal().subject
    to_another = form.get("adviser_id") not in (None, current_principal().subject)  # chosen from the roster
    done = ("waitlist" if action == "accept" and not form.get("adviser_id")
            else f"{action}_another" if action in TAKEN_ON and to_another else action)
    if "adviser_id" in request.form and not form.get("adviser_id"):  # the roster's select, left on "Choose one"
        return _referral_page(referral_id, posted=action, status=422,
                              errors=_posted_errors([("adviser_id", "choose an adviser")], action))
    if action == "cancel" and form.get("reason") in WITHDRAWAL_ONLY:  # a cancel would not stop the sharing
        return _referral_page(referral_id, posted=action, status=422, errors=_posted_errors(
            [("reason", "to record that the person withdrew consent, use 'Record that the person withdrew "
                        "consent'")], action))
    try:
        data = ActionSchema().load(form)
    except ValidationError as exc:
        return _referral_page(referral_id, errors=_posted_errors(_messages(exc.messages), action), posted=action,
                              status=422)
    ctx, principal, moment = service_context(), current_principal(), now()
    read_version = data.pop("version")
    try:
        with ctx.database.transaction() as session, access.domain_problems():
            referral = access.load(session, referral_id, principal, lock=True)
            services.act(session, ctx.outbox, settings(), referral, action, access.actor(principal), data,
                         expected_version=read_version, now=moment)
            ctx.audit.record(session, action="update", resource_type="referral", resource_id=str(referral.id),
                             person_id=str(referral.id))
    except Problem as problem:
        if problem.status not in (409, 422):
            raise
        if "current_version" in problem.extensions:  # a colleague changed the referral since the page was read
            if _sent_again(referral_id, principal, read_version, action, data):  # ... or this form, a moment ago
                return redirect(f"/queue/{referral_id}?done={done}", code=303)
            return _referral_page(referral_id, errors={"": ["changed"]}, posted=action, status=409,
                                  read_version=read_version)
        found = problem.extensions.get("errors") or [{"pointer": "", "detail": problem.detail}]
        return _referral_page(referral_id, errors=_posted_errors([(e["pointer"].lstrip("/"), e["detail"])
                                                                  for e in found], action),
                              posted=action, status=problem.status)
    return redirect(f"/queue/{referral_id}?done={done}", code=303)


def _sent_again(referral_id: uuid.UUID, principal, read_version: int, action: str, data: dict) -> bool:
    """Whether a form refused as stale is the reader's own, sent again with the same answers: a second click while
    the first was on its way (no script stops it), or the form sent again from the page Back returned to. Every
    step since the page was read is the reader's and the last is this one, so it is done - once - and the reader
    lands where one click lands. Told "someone else changed this referral ... submit it again", an adviser logged
    a second contact attempt that never happened (one nearer closing the referral as 'could not contact')."""
    with service_context().database.transaction() as session:
        referral = access.load(session, referral_id, principal)
        since = [step for step in referral.transitions if step.version > read_version]
        if not since or any(step.actor != principal.subject for step in since) or since[-1].action != action:
            return False
        return _same_answers(referral, since[-1], action, data)


def _same_answers(referral: Referral, step, action: str, data: dict) -> bool:
    """Whether the step `action` took recorded what `data` asks for (another attempt, outcome or stage is new)."""
    if action == "record_contact_attempt":
        last = referral.attempts[-1]
        return (last.channel, last.result) == (data.get("channel"), data.get("result"))
    if action == "record_outcome":
        last = referral.outcomes[-1]
        return (last.type, last.occurred_on) == (data.get("type"), data.get("occurred_on"))
    if action in ("accept", "assign"):
        return referral.assigned_adviser == data.get("adviser_id")  # none: onto the waitlist
    if action == "update_progress":
        return step.business_status == data.get("business_status")
    reason = data.get("end_reason" if action == "complete" else "reason")  # a hold's, or why it closed
    return reason is None or step.reason == reason


@pages.post("/queue/<uuid:referral_id>/consent-withdrawal")
@person_record("referral", "referral_id")
@requires(*access.WITHDRAWAL_RECORDERS)
def referral_consent_withdrawal(referral_id):
    """Record that the person withdrew consent: services.withdraw_consent, as the API's consent-withdrawal."""
    ctx, principal, moment = service_context(), current_principal(), now()
    with ctx.database.transaction() as session, access.domain_problems():
        services.lock_person_first(session, Referral.id == referral_id)  # before the row: see the function
        referral = access.load(session, referral_id, principal, lock=True)
        if not access.records_withdrawal(principal, referral):
            raise Problem(403, "Only the referrer, the assigned organisation or an alliance admin records a "
                               "withdrawal of consent.")
        services.withdraw_consent(session, ctx.outbox, settings(), referral, moment)
        ctx.audit.record(session, action="update", resource_type="referral", resource_id=str(referral.id),
                         person_id=str(referral.id))
    return redirect(f"/queue/{referral_id}?done=consent_withdrawn", code=303)


@pages.post("/queue/<uuid:referral_id>/route")
@person_record("referral", "referral_id")
@requires("alliance_admin")
def referral_route(referral_id):
    try:
        service_id = uuid.UUID(request.form.get("service_id", ""))
    except ValueError:
        return _referral_page(referral_id, errors=_posted_errors([("service_id", "choose a service")], "route"),
                              posted="route", status=422)
    ctx, principal, moment = service_context(), current_principal(), now()
    try:
        with ctx.database.transaction() as session, access.domain_problems():
            referral = access.load(session, referral_id, principal, lock=True)
            services.route_held(session, ctx.outbox, settings(), referral, service_id, access.actor(principal), moment)
            ctx.audit.record(session, action="share", resource_type="referral", resource_id=str(referral.id),
                             person_id=str(referral.id))
    except Problem as problem:
        if problem.status != 409:
            raise
        return _referral_page(referral_id, errors={"": [problem.detail]}, status=409)
    return redirect(f"/queue/{referral_id}?done=route", code=303)


@pages.post("/queue/<uuid:referral_id>/notes")
@person_record("referral", "referral_id")
@requires("adviser", "org_admin")
def referral_note(referral_id):
    try:
        data = NoteInSchema().load({"text": request.form.get("text", "")})
    except ValidationError as exc:
        return _referral_page(referral_id, errors=_posted_errors(_messages(exc.messages), "note"), posted="note",
                              status=422)
    ctx, principal, moment = service_context(), current_principal(), now()
    read_after = whole_number(request.form.get("notes_read"), 2**63 - 1)  # the last note the page showed
    with ctx.database.transaction() as session, access.domain_problems():
        referral = access.load(session, referral_id, principal, lock=True)  # the same form's second send waits
        if not _note_sent_again(referral, principal, data["text"], read_after):
            access.add_note(session, referral_id, principal, data["text"], moment)
            ctx.audit.record(session, action="update", resource_type="referral", resource_id=str(referral.id),
                             person_id=str(referral.id))
    return redirect(f"/queue/{referral_id}?done=note", code=303)


def _note_sent_again(referral: Referral, principal, text: str, read_after: int | None) -> bool:
    """The note form sent twice (a second click while the first was on its way, or again from the page Back
    returned to): the reader wrote this same note after the page was read. A note has no version to go stale, so
    each send saved it again, the case notes saying it twice."""
    return read_after is not None and any(note.id > read_after and note.by == principal.subject and note.text == text
                                          for note in referral.notes)


@pages.get("/sent")
@requires("gp", "adviser", "org_admin")
def sent():
    ctx, principal, moment, page = service_context(), current_principal(), now(), _page_number()
    with ctx.database.transaction() as session:
        found, total = access.queue(session, principal, settings(), moment, view="sent", limit=PAGE_SIZE,
                                    offset=(page - 1) * PAGE_SIZE, newest_first=True)
        rows, names = [], services.organisation_names(session, {r.assigned_org_id for r in found})
        access.audit_listed(session, ctx.audit, (r.id for r in found))
        for referral in found:
            seen = access.outcomes_shown(principal, referral)
            rows.append({**access.queue_item(referral, settings(), moment, principal, names),
                         "outcomes": sorted({o.type for o in referral.outcomes}) if seen else None,
                         "reason": domain.unless_outcome(referral.status_reason, seen)})
    return _render("referrals/sent.html", rows=rows, total=total, page=page, page_size=PAGE_SIZE)


def status_link_page(view):
    """A person's link that does not work - unknown, replaced or expired - gets one page, saying how to get a new
    link (404 for all: nothing tells whoever holds it that a referral was there)."""
    refusing = audits_refused_links(view)

    @functools.wraps(view)
    def page(*args, **kwargs):
        try:
            return refusing(*args, **kwargs)
        except StatusLinkNotWorking:
            return _render("referrals/link_not_working.html", 404)
    return page


@pages.get("/new-link")
def new_link():
    return _render("referrals/new_link.html", errors={})


@pages.post("/new-link")
def new_link_send():
    """A new status link, emailed to the address held for the person's referral; the same answer whatever the
    address matched (the page after says so), and limited as self-referral starts are."""
    email = request.form.get("email", "").strip()
    try:
        NewLinkSchema().load({"email": email})
    except ValidationError:
        error = "Enter the email address you gave, like name@example.com" if email else "Enter your email address"
        return _render("referrals/new_link.html", 422, errors={"email": [error]}, typed=email)
    request_new_links(email)  # too many requests: the error page with Retry-After
    return redirect("/new-link/sent", code=303)


@pages.get("/new-link/sent")
def new_link_sent():
    return _render("referrals/new_link_sent.html")


@pages.get("/my-referral/<token>")
@status_link_page
def my_referral(token):
    ctx = service_context()
    with ctx.database.transaction() as session:
        referral = referral_by_link(session, token)
        ctx.audit.record(session, action="read", resource_type="referral", resource_id=str(referral.id),
                         person_id=str(referral.id), principal=person_principal(referral))
        status = person_status(referral)
        may_answer = services.may_answer_status_emails(referral)
        hold = {"why": PERSON_HOLD_WORDS.get(referral.hold_reason), "review_date": referral.hold_review_date} \
            if referral.status == "on_hold" else None
        new_link_by_email = services.may_renew_status_link(session, referral)
    return _render("referrals/my_referral.html", s=status, token=token, open=status["status"] in
                   {s.value for s in domain.OPEN}, plain=PLAIN_STATUS, page_address=request.base_url,
                   may_answer_emails=may_answer, hold=hold, new_link_by_email=new_link_by_email,
                   just_sent=request.args.get("sent") == "1", done=PERSON_DONE.get(request.args.get("done", "")))


@pages.get("/my-referral/<token>/stop")
@status_link_page
def my_referral_stop(token):
    """Asks the person to confirm stopping, saying what it means for them: it cannot be undone. A referral already
    ended (Back to this page after stopping it) has nothing to stop: its status page says so."""
    ctx = service_context()
    with ctx.database.transaction() as session:
        referral = referral_by_link(session, token)
        ctx.audit.record(session, action="read", resource_type="referral", resource_id=str(referral.id),
                         person_id=str(referral.id), principal=person_principal(referral))
        if referral.status not in {s.value for s in domain.OPEN}:
            return redirect(f"/my-referral/{token}", code=303)
        return _render("referrals/stop_confirm.html", token=token, reference=referral.reference,
                       with_service=referral.routing != "held", updates_by_email=services.tells_person(referral),
                       days_after_end=settings().status_link_days_after_end)


@pages.get("/my-referral/<token>/withdraw")
@status_link_page
def my_referral_withdraw(token):
    """Asks the person whose referral ended to confirm withdrawing consent, as stopping a live one does: it cannot
    be undone. A live referral's withdrawal is offered on its stop page; one already withdrawn (Back to this page
    after withdrawing) has nothing left to do: the status page says so."""
    ctx = service_context()
    with ctx.database.transaction() as session:
        referral = referral_by_link(session, token)
        ctx.audit.record(session, action="read", resource_type="referral", resource_id=str(referral.id),
                         person_id=str(referral.id), principal=person_principal(referral))
        if referral.status in {s.value for s in domain.OPEN}:
            return redirect(f"/my-referral/{token}/stop", code=303)
        if referral.consent_withdrawn_at is not None:
            return redirect(f"/my-referral/{token}", code=303)
        return _render("referrals/withdraw_confirm.html", token=token, reference=referral.reference)


@pages.post("/my-referral/<token>/cancel")
@status_link_page
def my_referral_cancel(token):
    ctx, moment = service_context(), now()
    with ctx.database.transaction() as session, access.domain_problems():
        referral = referral_by_link(session, token)
        was_open = referral.status in {s.value for s in domain.OPEN}
        done = None  # a second press on a page left open: nothing more is done, and nothing is said
        if request.form.get("withdraw_consent"):
            services.withdraw_consent(session, ctx.outbox, settings(), referral, moment)
            done = "stopped_withdrawn" if was_open else "withdrawn"
        elif was_open:
            done = "stopped"
            services.act(session, ctx.outbox, settings(), referral, "cancel",
                         domain.Actor(f"person-link:{referral.id}", "resident", via_person_link=True),
                         {"reason": "person_withdrew"}, expected_version=referral.version, now=moment)
        ctx.audit.record(session, action="update", resource_type="referral", resource_id=str(referral.id),
                         person_id=str(referral.id), principal=person_principal(referral))
    return redirect(f"/my-referral/{token}" + (f"?done={done}" if done else ""), code=303)


@pages.post("/my-referral/<token>/emails")
@status_link_page
def my_referral_emails(token):
    """The person starts or stops status emails: one button either way, so stopping is as easy as starting."""
    answer = request.form.get("updates_by_email")
    if answer not in ("yes", "no"):  # the page's buttons send one or the other
        raise Problem(422, "updates_by_email must be yes or no.", page_detail="Choose whether we email you updates.")
    ctx, moment = service_context(), now()
    with ctx.database.transaction() as session, access.domain_problems():
        referral = referral_by_link(session, token)
        # too many changes: the error page with Retry-After, as for self-referral starts
        changed = services.answer_status_emails(session, ctx.outbox, settings(), referral, answer == "yes", moment)
        ctx.audit.record(session, action="update", resource_type="referral", resource_id=str(referral.id),
                         person_id=str(referral.id), principal=person_principal(referral))
    done = f"emails_{'started' if answer == 'yes' else 'stopped'}" if changed else None  # a second press: nothing
    return redirect(f"/my-referral/{token}" + (f"?done={done}" if done else ""), code=303)


@pages.get("/alliance/insights")
@requires("alliance_admin")
def insights_page():
    ctx = service_context()
    with ctx.database.transaction() as session:
        figures = insights.read(session, ctx.audit, uk_today(now()))
    return _render("referrals/insights.html", f=figures, outcome_types=domain.OUTCOME_TYPES,
                   breakdowns=EQUITY_BREAKDOWNS, group_words=INSIGHT_GROUP_WORDS, small=insights.SMALL)


# Insights' group codes in the words the queue uses (capitalising a code gave "Gp", "25 34", "Triage").
INSIGHT_GROUP_WORDS = {
    "source": {"gp": "GP", "adjustments": "GP, with an adjustment suggestion", "self": "Self-referral",
               "partner": "Partner organisation"},
    "status": LABELS,
    "age_band": {"16_24": "16 to 24", "25_34": "25 to 34", "35_49": "35 to 49", "50_64": "50 to 64",
                 "65_plus": "65 and over"},
    "employment_situation": SITUATIONS,
    "health_category": {"mental_health": "Mental health", "musculoskeletal": "Musculoskeletal",
                        "long_term_condition": "Long-term condition", "other": "Other"},
}
EQUITY_BREAKDOWNS = (("deprivation_decile", "By area deprivation decile (1 = most deprived)"),
                     ("age_band", "By age band"), ("sex", "By sex"), ("ethnicity", "By ethnic group (ONS code)"),
                     ("source", "By source of referral"), ("employment_situation", "By employment situation"),
                     ("health_category", "By health need"))


def _messages(messages) -> list[tuple[str, str]]:
    flat = []
    for name, value in messages.items():
        flat.extend((name, m) for m in (value if isinstance(value, list) else [str(value)]))
    return flat


HIDDEN_FIELDS = {"csrf_token", "action", "version", "claim", "notes_read"}


# A refused field in the page's own words: the API's messages name codes, field names and a date format
# the page does not show. By (form, field) or field; a field whose messages differ by cause maps the
# start of the API's message to its words ("" for any other; None keeps a message already in plain words).
PLAIN_ERRORS: dict = {
    "channel": "Select how you tried to contact them",
    "result": "Select what happened",
    "business_status": "Select a stage",
    "type": "Select an outcome",
    "hours_band": "Select how many hours a week the job is (needed for a job start)",
    "occurred_on": {"cannot be in the future": "The date it happened must be today or in the past",
                    "cannot be before": "The date it happened cannot be before the referral was made",
                    "": "Enter the date it happened"},
    "review_date": {"must be in the future": "The review date must be after today",
                    "review the hold within": f"The review date must be within {domain.MAX_HOLD_DAYS} days",
                    "": "Enter a date to review the hold"},
    "reason": {"failed contact needs": None, "consent_withdrawn is recorded": None, "to record that": None,
               "": "Select a reason"},
    "end_reason": "Select why support ends",
    "text": "Explain the reason",
    ("enter_in_error", "text"): "Say what was wrong",
    "note": "Say why the hold ends",
    ("note", "text"): "Enter the note (up to 4,000 characters)",
    "weeks_in_work": {"cannot be more": "Weeks in work cannot be more than the weeks they fall within",
                      "": "Enter weeks in work: 13 or more"},
    "period_weeks": "Enter the weeks the 13 weeks fall within: 16 or fewer",
    "hours_per_week": f"Enter hours a week from 7 to {domain.MAX_HOURS_PER_WEEK}",
    "fit_note_to": {"a fit-note change must move": "The fit note now must be closer to fit than before",
                    "": "Select the fit note before and now"},
    "fit_note_from": "Select the fit note before and now",
    "sustainment_check_weeks": "Select 13 or 26 weeks",
    "outcomes": "Record at least one outcome before you complete the referral",
    "service_id": "Select an adviser service",
    "redirect_service_id": "Select a service from the list, or no suggestion",
    "adviser_id": {"is not an adviser": "Select an adviser from the list: they are listed once they have signed in",
                   "": "Select an adviser"},
}


def _plain(form: str, field: str, message: str) -> str:
    words = PLAIN_ERRORS.get((form, field), PLAIN_ERRORS.get(field))
    if isinstance(words, dict):
        words = next((text for start, text in words.items() if start and message.startswith(start)), words[""])
    return words or message[:1].upper() + message[1:]


def _posted_errors(problems: list[tuple[str, str]], form: str) -> dict[str, list[str]]:
    """A refused form's (field, message) pairs as the form macros' errors, in the page's words.

    The referral page holds several forms, so a field's id is "<form>-<name>" (the action, "route"
    or "note"); a message about a field the posted form does not show is listed unlinked.
    """
    shown = set(request.form) - HIDDEN_FIELDS
    return errors_by_field((f"{form}-{field}" if field in shown else "", _plain(form, field, message))
                           for field, message in problems)


# --- self-referral, no account ("no wrong door") ---------------------------------------------------


def _birth_date(form) -> str:
    """The date of birth as YYYY-MM-DD for the schema: one `birth_date` field as a program may post it, else the
    three boxes (NHS.UK date input, read by worklink.web.dates); "" when they make no date (_birth_date_error)."""
    if form.get("birth_date", "").strip():
        return form["birth_date"].strip()
    typed = typed_date(form, "birth_date", "Date of birth").value
    return typed.isoformat() if typed else ""


def _birth_date_error(form) -> tuple[tuple[str, ...], str]:
    """The boxes to correct and the message when the schema refused the date of birth. Only some boxes wrong
    (one left out, a year of 2 numbers): NHS.UK's words ("Date of birth must include a month") and only those
    boxes marked; the whole date (none of the boxes, or the field posted alone): the page's own words."""
    if not form.get("birth_date", "").strip():
        typed = typed_date(form, "birth_date", "Date of birth")
        if typed.parts:
            return typed.parts, typed.problem or ""
        if not (typed.value or typed.problem):
            return (), FRIENDLY["birth_date"]
        if typed.value and (problem := domain.birth_date_problem(typed.value, uk_today())):
            return (), BIRTH_DATE_RULES.get(problem, FRIENDLY["birth_date_real"])  # a real day the rules refuse
    return (), FRIENDLY["birth_date_real"]  # no such day


# A real date the referral rules refuse (domain.birth_date_problem), said to the person referring themselves.
BIRTH_DATE_RULES = {"must be in the past": "Date of birth must be in the past",
                    f"the person must be at least {domain.YOUNGEST}":
                        f"You must be {domain.YOUNGEST} or older to refer yourself",
                    "check the year": "Check the year of your date of birth"}


def _self_referral_form(form) -> dict:
    person = {name: form.get(name, "").strip() for name in
              ("given_name", "family_name", "postcode", "email", "phone") if form.get(name, "").strip()}
    if birth_date := _birth_date(form):
        person["birth_date"] = birth_date
    body = {"person": person, "consent": {"explicit": form.get("consent") == "yes",
                                          **_yes_or_no("updates_by_email", form)},
            "employment_situation": form.get("employment_situation", "")}
    if form.get("service_id"):
        body["service_id"] = form["service_id"]
    return body


def _yes_or_no(name: str, form) -> dict:
    """A yes/no radios answer for the schema: absent (not answered, so refused) unless yes or no was chosen."""
    answer = form.get(name)
    return {name: answer == "yes"} if answer in ("yes", "no") else {}


def _refer_yourself_form(link, status: int = 200, *, errors=None, form=None, sent_before: bool = False):
    """The form, for the service the directory's link (`link`: its query, or the form posting it on) chose:
    named when the directory signed its names (worklink.sites.named_service)."""
    chosen = named_service(site_link_keys(service_context().settings), link)
    return _render("referrals/refer_yourself.html", status, errors=errors or {}, form=form or {},
                   situations=EMPLOYMENT, service_id=link.get("service_id", ""), chosen=chosen,
                   birth_date_boxes=_birth_date_error(form or {})[0] if errors else (),
                   link=link if chosen else {}, codes_by_phone=settings().codes_by_phone,
                   directory_url=settings().directory_url, sent_before=sent_before)


@pages.get("/refer-yourself")
def refer_yourself():
    # Reached by Back after sending too, so never kept: the browser asks again and the page says it was sent.
    after_this_request(_not_stored)
    # the postcode a resident searched the directory with comes along: not asked for twice (WCAG 3.3.7)
    return _refer_yourself_form(request.args, form={"postcode": request.args.get("postcode", "").strip()[:10]},
                                sent_before=bool(request.cookies.get(SELF_REFERRAL_SENT_COOKIE)))


def _not_stored(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@pages.post("/refer-yourself")
def refer_yourself_send():
    if request.cookies.get(SELF_REFERRAL_COOKIE):
        # A new start in this browser: whatever comes of it, the earlier self-referral's key goes (the next user
        # of a shared computer starting their own cannot then change the address of the one before).
        after_this_request(_forget_earlier_browser_key)
    try:
        intake = SelfReferralSchema().load(_self_referral_form(request.form))
    except ValidationError as exc:
        return _refer_yourself_form(request.form, 422, form=request.form,
                                    errors=errors_by_field(_self_referral_errors(exc.messages, request.form)))
    ctx, moment = service_context(), now()
    try:
        with ctx.database.transaction() as session:
            with access.domain_problems():  # too many attempts: an error page with Retry-After
                services.limit_self_referrals(session, settings(), intake, request.remote_addr, moment)
            browser_key = secrets.token_urlsafe(32)
            pending, _code = services.start_self_referral(session, ctx.outbox, settings(), intake, moment,
                                                          browser_key=browser_key)
            audit_pending(session, "create", pending.id)
    except services.Unprocessable:
        return _refer_yourself_form(request.form, 422, errors={"email": [FRIENDLY["email_only"]]}, form=request.form)
    # Post/Redirect/Get: the code page has an address of its own, so reopening it (after fetching the code
    # from the mail app, from history) finds the same waiting referral instead of an empty form.
    return _with_browser_key(redirect(f"/refer-yourself/{pending.id}/code", code=303), browser_key)


# What only the browser that started a self-referral holds (services.change_self_referral_email): the waiting
# record's id is no secret enough to send its code elsewhere.
SELF_REFERRAL_COOKIE = "wl_self_referral"
# That this browser sent a self-referral (nothing about it): the form, reopened with Back, says so - a resident
# who sent the prefilled form again made a second referral. Gone when the browser closes, or at a new start.
SELF_REFERRAL_SENT_COOKIE = "wl_self_referral_sent"


def _with_browser_key(response, browser_key: str):
    # Gone when the browser closes (no Max-Age): on a shared computer the next user finds the code page in the
    # history, not the key. The waiting record expires in its own time anyway.
    response.set_cookie(SELF_REFERRAL_COOKIE, browser_key, path="/refer-yourself", httponly=True,
                        samesite="Strict", secure=cookie_secure())
    response.delete_cookie(SELF_REFERRAL_SENT_COOKIE, path="/refer-yourself", httponly=True, samesite="Strict",
                           secure=cookie_secure())
    return response


def _sent_from_this_browser(response):
    response.set_cookie(SELF_REFERRAL_SENT_COOKIE, "1", path="/refer-yourself", httponly=True, samesite="Strict",
                        secure=cookie_secure())
    return _without_browser_key(response)  # the key has done its work: the waiting record is gone


def _without_browser_key(response):
    response.delete_cookie(SELF_REFERRAL_COOKIE, path="/refer-yourself", httponly=True, samesite="Strict",
                           secure=cookie_secure())
    return response


def _forget_earlier_browser_key(response):
    """Run on every answer to a new start, an error page too: cleared unless the start set a new key."""
    if any(cookie.startswith(f"{SELF_REFERRAL_COOKIE}=") for cookie in response.headers.getlist("Set-Cookie")):
        return response
    return _without_browser_key(response)


# The waiting self-referral's id is in the address: named as a secret URL part (masked in the logs,
# no-store, no Referer), as it is as good as the code page itself.
@pages.get("/refer-yourself/<uuid:pending_token>/code")
def refer_yourself_code(pending_token):
    with access.domain_problems(), service_context().database.transaction() as session:
        try:
            waiting = services.waiting_self_referral(session, pending_token, now())
        except services.NotFound:
            if services.sent_from_waiting(session, pending_token):
                return _already_sent()  # Back from the status page after sending
            raise
    return _render("referrals/verify_code.html", pending_id=pending_token, route=waiting.route, errors={},
                   dev_code=waiting.shown_code, email_changed=request.args.get("email") == "changed")


@pages.post("/refer-yourself/<uuid:pending_token>/code")
def refer_yourself_verify(pending_token):
    ctx, moment, pending_id = service_context(), now(), pending_token
    route = "phone" if request.form.get("route") == "phone" else "email"
    try:
        code = VerifySchema().load({"code": request.form.get("code", "")})["code"]
    except ValidationError:
        return _render("referrals/verify_code.html", 422, pending_id=pending_id, route=route, dev_code=None,
                       errors={"code": ["Enter the 6-digit code we sent you"]}, typed=request.form.get("code", ""))
    with access.domain_problems():  # a used or expired code: the error page (404, 410)
        with ctx.database.transaction() as session:  # one transaction: see check_self_referral_code
            wrong = services.check_self_referral_code(session, pending_id, code, moment)
            if isinstance(wrong, services.NotFound) and services.sent_from_waiting(session, pending_id):
                return _already_sent()  # sent from another tab, or the code sent again from this page's copy
            if not wrong:
                referral, link = services.complete_self_referral(session, ctx.outbox, settings(), pending_id, moment)
                ctx.audit.record(session, action="create", resource_type="referral", resource_id=str(referral.id),
                                 person_id=str(referral.id), principal=person_principal(referral))
        if wrong and wrong.status == 400:
            return _render("referrals/verify_code.html", 422, pending_id=pending_id, route=route, dev_code=None,
                           errors={"code": [_wrong_code_words(wrong.extensions.get("attempts_left"))]},
                           typed=request.form.get("code", ""))  # to spot a slip
        if wrong:
            raise wrong  # after the commit: a wrong code's attempt is counted
    sent = redirect(f"/my-referral/{link}?sent=1", code=303)  # the page then confirms it was sent
    return _sent_from_this_browser(sent)


def _already_sent():
    """The code page of a self-referral already sent: no "start again" (a resident who did made a second
    referral), and nothing about the referral, as whoever holds this address may not be the person."""
    return _render("referrals/already_sent.html")


def _wrong_code_words(attempts_left: int | None) -> str:
    """A wrong code, and how many tries are left: after the last one the code stops working, and a resident not
    told so found "the code has expired" on the next try, moments after it was sent."""
    if attempts_left is None:
        return "That code is not right. Check the message and try again."
    if attempts_left <= 0:
        return "That code is not right, and it was the last try. Start your referral again to get a new code."
    tries = "1 more try" if attempts_left == 1 else f"{attempts_left} more tries"
    return f"That code is not right. Check the message and try again. You have {tries}."


@pages.post("/refer-yourself/<uuid:pending_token>/email")
def refer_yourself_new_email(pending_token):
    """A wrong email address, found on the code page: the code goes to the right one and every other answer
    stays, so the person does not type the form again (WCAG 3.3.7 Redundant Entry)."""
    email = request.form.get("email", "").strip()
    problem = None if email else FRIENDLY["email_only"]
    try:
        PersonSchema(only=("email",)).load({"email": email})
    except ValidationError:
        problem = problem or FRIENDLY["email"]
    if problem:  # the box stays open with what they typed, so the summary's link reaches it
        return _render("referrals/verify_code.html", 422, pending_id=pending_token, route="email", dev_code=None,
                       errors={"email": [problem]}, new_email=email)
    ctx, browser_key = service_context(), request.cookies.get(SELF_REFERRAL_COOKIE)
    with access.domain_problems(), ctx.database.transaction() as session:
        pending = services.change_self_referral_email(session, ctx.outbox, settings(), pending_token, email,
                                                      browser_key, request.remote_addr, now())
        # The details move to a new waiting record (a new code); both ends of the move are the same resident's.
        audit_pending(session, "delete", pending_token, purpose=EMAIL_CHANGED)
        audit_pending(session, "create", pending.id, by=pending_token, purpose=EMAIL_CHANGED)
    return _with_browser_key(redirect(f"/refer-yourself/{pending.id}/code?email=changed", code=303), browser_key)


EMAIL_CHANGED = "email address changed"

FRIENDLY = {"given_name": "Enter your first name", "family_name": "Enter your last name",
            "birth_date": "Enter your date of birth", "birth_date_real": "Date of birth must be a real date, like 15 3 1984", "postcode": "Enter a real postcode, like GL1 2AB",
            "email": "Enter a real email address", "phone": "Enter a real phone number",
            "consent": "Tick the box to agree, so we can pass your details on",
            "contact": "Give an email address or a phone number so we can check it is you",
            "email_only": "Enter your email address, so we can send you a code",
            "employment_situation": "Choose which describes you best",
            "updates_by_email": "Select yes if we can email you updates about your referral"}


# The form's order: the error summary lists problems in it. The date of birth's message is on its first box to
# correct (the day's for the whole date).
FORM_ORDER = ("given_name", "family_name", "birth_date-day", "birth_date-month", "birth_date-year", "postcode",
              "email", "employment_situation", "updates_by_email", "consent")


def _self_referral_errors(messages, form) -> list[tuple[str, str]]:
    """Every problem with the form in one round, in the form's order: the schema checks "an email or
    a phone" only once the fields themselves pass, so it is checked here too."""
    problems = dict(_flat(messages))
    if not settings().codes_by_phone and not form.get("email", "").strip():
        problems["email"] = FRIENDLY["email_only"]  # the page asks for no phone number: codes go by email
    elif not (form.get("email", "").strip() or form.get("phone", "").strip()):
        problems.setdefault("email", FRIENDLY["contact"])
    if problems.pop("birth_date", None):
        boxes, message = _birth_date_error(form)
        problems[f"birth_date-{(boxes or ('day',))[0]}"] = message  # the first box to correct: the summary's link
    order = {name: i for i, name in enumerate(FORM_ORDER)}
    return sorted(problems.items(), key=lambda item: order.get(item[0], len(order)))


def _flat(messages) -> list[tuple[str, str]]:
    """Marshmallow's nested messages as (form field, plain message) pairs for the error summary."""
    fields: list[str] = []
    for name, value in messages.items():
        if name == "person" and isinstance(value, dict):
            fields += ["contact" if key == "_schema" else key for key in value]
        elif name == "person":
            fields.append("contact")
        elif name == "consent" and isinstance(value, dict):  # the agreement's box, or the question about emails
            fields += [key if key == "updates_by_email" else "consent" for key in value]
        else:
            fields.append(name)
    anchor = {"contact": "email"}
    return [(anchor.get(f, f), FRIENDLY.get(f, "Check this answer")) for f in dict.fromkeys(fields)]


from worklink_referrals.pages import people as _people  # noqa: E402,F401 - a person's rights pages (its routes)
