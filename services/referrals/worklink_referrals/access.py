"""Who may read a referral, what each reader sees, and turning domain errors into problems.

Readers: the assigned organisation's advisers and admins, the referring organisation,
the person (through their self-service link) and alliance admins. Nobody else learns
that the referral exists (404, not 403). Notes stay with the adviser organisation;
outcomes reach the referrer only if the person agreed.

After consent is withdrawn nobody reads the person's details here, whatever their role: not
the adviser organisation, not the referrer, not alliance admins (UK GDPR: processing on consent
stops; the record is kept for the retention duty, outside this service's views). Withheld:
name, contact, NHS number, birth date, postcode and area, equity fields, the need and its free
text, the adjustment context, the text of case notes and of a duplicate link's reason. What stays, for audit and
insights: the referral's existence, reference, status and reason codes, dates, clocks, history,
consent metadata, contact-attempt and outcome codes. Every read is still audited.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime
from typing import Any, Iterable, Iterator

import sqlalchemy as sa
from sqlalchemy.orm import Session, lazyload
from sqlalchemy.orm.exc import StaleDataError

from worklink.audit import AuditTrail
from worklink.auth import ROLE_PERSON, Principal
from worklink.problems import Problem
from worklink.uktime import uk_today
from worklink_referrals import domain, services
from worklink_referrals.config import ReferralSettings
from worklink_referrals.domain import FHIR_STATUS, Actor, DomainError, Status
from worklink_referrals.models import Referral, SustainmentCheck, Transition


def actor(principal: Principal) -> Actor:
    return Actor(principal.subject, principal.role, principal.organisation, name=principal.name,
                 organisation_name=principal.organisation_name)


def referrer_in_words(principal: Principal) -> dict[str, str]:
    """What an intake records of who referred, besides their login id: as their token names them."""
    found = {"name": principal.name, "organisation_name": principal.organisation_name}
    return {key: value for key, value in found.items() if value}


def referrer(referral: Referral, org_names: dict[str, str]) -> dict[str, str]:
    found = {"role": referral.referrer_role, "name": referral.referrer_name,
             "profession": referral.referrer_profession,
             "organisation_name": referrer_organisation_name(referral, org_names)}
    return {key: value for key, value in found.items() if value}


def referrer_organisation_name(referral: Referral, org_names: dict[str, str]) -> str | None:
    """The referrer's organisation by the name the referral recorded, else by the one referrals keeps from its
    staff's tokens (`org_names`: services.organisation_names): a later token of the practice may have named it."""
    return referral.referrer_org_name or org_names.get(referral.referrer_org_id or "")


def staff_words(reader_org: str | None, subject: str, organisation: str | None, *, name: str | None,
                role: str | None, org_names: dict[str, str]) -> str:
    """A staff member as a reader acting for `reader_org` may see them. A login id (a token's `sub`, perhaps an
    e-mail address) is an internal identifier of their organisation's: that organisation sees it, any other their
    display name, else their role, at their organisation by name when known ("an employment adviser at Riverside
    Works"), else by id."""
    if reader_org is not None and reader_org == organisation:
        return subject
    who = name or ROLE_PERSON.get(role or "", "a member of staff")
    if organisation is None:  # an alliance admin's token may name none: their role says where they are
        return who
    return f"{who} at {org_names.get(organisation) or f'organisation {organisation}'}"


def adviser_words(reader_org: str | None, referral: Referral, org_names: dict[str, str],
                  adviser_names: dict[tuple[str, str], str] | None = None) -> str | None:
    if referral.assigned_adviser is None:
        return None
    return staff_words(reader_org, referral.assigned_adviser, referral.assigned_org_id,
                       name=adviser_name(referral, adviser_names or {}), role="adviser", org_names=org_names)


def adviser_name(referral: Referral, adviser_names: dict[tuple[str, str], str]) -> str | None:
    """The assigned adviser's display name: the roster's (services.adviser_names: their latest token's), else the
    one their token gave when they took the referral on themselves; None when neither is known."""
    if referral.assigned_adviser is None:
        return None
    return (adviser_names.get((referral.assigned_org_id or "", referral.assigned_adviser))
            or referral.assigned_adviser_name)


def consent_taker(reader_org: str | None, referral: Referral, org_names: dict[str, str]) -> str:
    """Who captured consent: a referrer who recorded it themselves is left as their login id only to their own
    organisation; a name the referrer gave, or a self-referrer's check, is as stated."""
    if referral.consent_captured_by != referral.referrer_subject:
        return referral.consent_captured_by
    known = {**org_names, **({referral.referrer_org_id: referral.referrer_org_name} if referral.referrer_org_name
                             else {})}
    return staff_words(reader_org, referral.referrer_subject, referral.referrer_org_id, name=referral.referrer_name,
                       role=referral.referrer_role, org_names=known)


def seen(session: Session, principal: Principal, now: datetime) -> None:
    """An adviser reading the queue or a referral is on their organisation's roster (services.remember_adviser:
    written when new, renamed or a day stale, so a page view reads one row and writes nothing)."""
    services.remember_adviser(session, actor(principal), now)


def load(session: Session, referral_id: uuid.UUID, principal: Principal, *, lock: bool = False) -> Referral:
    # FOR NO KEY UPDATE: no action changes the id, and an intake naming this row in a foreign key
    # (duplicate_of_id, replaces_id) need not wait for it (see services.withdraw_consent).
    referral = session.get(Referral, referral_id, with_for_update={"key_share": True} if lock else None)
    if referral is None or not readers(principal, referral):
        raise Problem(404, f"No referral {referral_id} that you can see.")
    return referral


def add_note(session: Session, referral_id: uuid.UUID, principal: Principal, text: str, now: datetime) -> Referral:
    """A case note, kept only by the organisation the referral is assigned to (API and page alike)."""
    referral = load(session, referral_id, principal, lock=True)
    if principal.organisation != referral.assigned_org_id:
        raise Problem(403, "Only the assigned organisation keeps notes on this referral.")
    services.add_note(session, referral, actor(principal), text, now)
    return referral


# Who records that the person withdrew consent (the API's consent-withdrawal and the referral page alike): the
# referrer and the assigned organisation, whom the person tells, and alliance admins, who answer the person's
# rights requests (an erasure withdraws consent too) and alone see a held self-referral, which has neither. Withdrawing
# must be as easy as consenting (UK GDPR Art 7(3)): a person who tells the alliance is not sent elsewhere.
WITHDRAWAL_RECORDERS = ("gp", "adviser", "org_admin", "alliance_admin")


def records_withdrawal(principal: Principal, referral: Referral) -> bool:
    """The principal may record that the person withdrew consent from this referral (WITHDRAWAL_RECORDERS)."""
    return principal.role in WITHDRAWAL_RECORDERS and bool(
        readers(principal, referral) & {domain.REFERRER, domain.ASSIGNED, domain.ADMIN})


def readers(principal: Principal, referral: Referral) -> set[str]:
    return domain.relationships(actor(principal), services.snapshot_lite(referral)) - {domain.SYSTEM}


@contextlib.contextmanager
def domain_problems() -> Iterator[None]:
    """DomainError -> problem+json (422 with field pointers for missing data); lost update -> 409."""
    try:
        yield
    except domain.MissingData as exc:
        raise Problem(422, exc.detail, errors=[{"location": "json", "pointer": f"/{name}", "detail": message}
                                              for name, message in exc.errors.items()]) from None
    except DomainError as exc:
        extensions = dict(exc.extensions)
        if "field" in extensions:
            extensions["errors"] = [{"location": "json", "pointer": f"/{extensions.pop('field')}",
                                     "detail": exc.detail}]
        raise Problem(exc.status, exc.detail, **extensions) from None
    except StaleDataError:
        raise Problem(409, "Someone else changed this referral at the same moment. Read it again and retry.") \
            from None


def present(session: Session, referral: Referral, principal: Principal, settings: ReferralSettings,
            now: datetime, *, org_names: dict[str, str] | None = None) -> dict[str, Any]:
    """The referral as this reader may see it; `org_names`: the organisations' names, when the caller has them
    (services.organisation_names)."""
    who = readers(principal, referral)
    adviser_side = bool(who & {domain.ASSIGNED, domain.ADMIN})
    shared = details_shared(referral)
    outcomes_seen = outcomes_shown(principal, referral)
    link_seen = sees_duplicate(session, principal, referral)
    if org_names is None:
        org_names = services.organisation_names(session, organisations_named(referral))
    advisers = services.adviser_names(session, [referral])
    body: dict[str, Any] = {
        "id": referral.id, "reference": referral.reference, "version": referral.version, "status": referral.status,
        "fhir_status": FHIR_STATUS[Status(referral.status)],
        "business_status": domain.unless_outcome(referral.business_status, outcomes_seen),
        "status_reason": domain.unless_outcome(referral.status_reason, outcomes_seen), "source": referral.source,
        "referrer_org_id": referral.referrer_org_id, "referrer": referrer(referral, org_names),
        "service_id": referral.service_id,
        "assigned_org_id": referral.assigned_org_id, "assigned_org_name": org_names.get(referral.assigned_org_id or ""),
        "assigned_adviser": adviser_words(principal.organisation, referral, org_names, advisers),
        "assigned_adviser_name": adviser_name(referral, advisers),
        "routing": referral.routing, "redirect_service_id": referral.redirect_service_id,
        "replaces_id": referral.replaces_id if sees_linked(session, principal, referral.replaces_id) else None,
        "duplicate_of_id": referral.duplicate_of_id if link_seen else None,
        "submitted_at": referral.submitted_at,
        "closed_at": referral.closed_at, "erased_at": referral.erased_at,
        "consent": {"captured_by": consent_taker(principal.organisation, referral, org_names),
                    "captured_at": referral.consent_captured_at,
                    "method": referral.consent_method, "scope_service_id": referral.consent_scope_service_id,
                    "outcomes_to_referrer": referral.outcomes_to_referrer,
                    "updates_by_email": referral.person_updates, "updates_answered_at": referral.person_updates_at,
                    "updates_answered_how": referral.person_updates_how,  # the person may see what they agreed to
                    "withdrawn_at": referral.consent_withdrawn_at},
        "clocks": clocks(referral, settings, now),
        "history": [_history(t, outcomes_seen) for t in referral.transitions
                    if (outcomes_seen or t.action != "record_outcome") and (link_seen or t.action not in LINK_STEPS)],
        "allowed_actions": allowed_actions(principal, referral),
    }
    if shared:
        body["person"] = person(referral)
        body.update(duplicate_reason=referral.duplicate_reason if link_seen else None,
                    employment_situation=referral.employment_situation, health_category=referral.health_category,
                    reason=referral.reason, status_text=referral.status_text,
                    adjustment={"request_id": referral.request_id, "suggestion_id": referral.suggestion_id,
                                "fit_note_decision": referral.fit_note_decision,
                                "categories": referral.adjustment_categories} if referral.request_id else None)
    if referral.status == "on_hold":
        body["hold"] = {"reason": referral.hold_reason, "review_date": referral.hold_review_date}
    if adviser_side:
        # Attempts are recorded by the assigned organisation only (record_contact_attempt: ASSIGNED).
        body["attempts"] = [{"channel": a.channel, "result": a.result, "attempted_at": a.attempted_at,
                             "by": staff_words(principal.organisation, a.by, referral.assigned_org_id, name=a.by_name,
                                               role=a.by_role, org_names=org_names), "by_name": a.by_name}
                            for a in referral.attempts]
        body["notes"] = [{"by": staff_words(principal.organisation, n.by, n.by_org, name=n.by_name, role=n.by_role,
                                            org_names=org_names), "by_name": n.by_name,
                          "written_at": n.written_at, **({"text": n.text} if shared else {})}
                         for n in notes_seen(principal, referral)]
    if outcomes_seen:
        body["outcomes"] = [{"type": o.type, "occurred_on": o.occurred_on, "details": o.details,
                             "recorded_at": o.recorded_at} for o in referral.outcomes]
    return body


LINK_STEPS = ("link_duplicate", "relink_duplicate", "unlink_duplicate")


def notes_seen(principal: Principal, referral: Referral) -> list:
    """Case notes are the record of the organisation that wrote them: the assigned organisation reads its own, not
    those of one the referral left (a service withdrawn before acknowledging it: services.hold_unclaimed), whose
    staff's words about the person are not for an organisation the person never dealt with. Alliance admins read
    every one."""
    if principal.is_alliance_admin:
        return list(referral.notes)
    return [note for note in referral.notes if note.by_org == referral.assigned_org_id]


def organisations_named(referral: Referral) -> set[str | None]:
    """The organisations a reader of the referral sees named: the referrer's, the assigned one, the note authors'."""
    return {referral.referrer_org_id, referral.assigned_org_id, *(n.by_org for n in referral.notes)}


def sees_duplicate(session: Session, principal: Principal, referral: Referral) -> bool:
    """Whether this reader is shown the referral's duplicate link (its id, reason and history steps): only
    if they may read the referral it names (sees_linked). An unlinked referral's past links show to alliance admins
    only."""
    return sees_linked(session, principal, referral.duplicate_of_id)


def sees_linked(session: Session, principal: Principal, linked_id: uuid.UUID | None) -> bool:
    """Whether this reader may be told of another referral of the person (the one a referral duplicates or
    replaces): only if they may read it, as it is about the person's dealings with another organisation perhaps.
    Alliance admins read every referral."""
    if principal.is_alliance_admin:
        return True
    if linked_id is None:
        return False
    orgs = session.execute(sa.select(Referral.referrer_org_id, Referral.assigned_org_id)
                           .where(Referral.id == linked_id)).first()
    return bool(orgs) and services.may_read(actor(principal), *orgs)


def outcomes_shown(principal: Principal, referral: Referral) -> bool:
    """The adviser side sees outcomes; the referrer only if the person agreed (outcomes_to_referrer)."""
    return bool(readers(principal, referral) & {domain.ASSIGNED, domain.ADMIN}) or bool(referral.outcomes_to_referrer)


def details_shared(referral: Referral) -> bool:
    """The person's details are shown only while their consent stands, to every role alike (and not once
    erased: there are none)."""
    return referral.consent_withdrawn_at is None and referral.erased_at is None


def person(referral: Referral) -> dict[str, Any]:
    fields = ("nhs_number", "given_name", "family_name", "birth_date", "postcode", "email", "phone",
              "preferred_contact", "deprivation_decile", "sex", "ethnicity")
    return {name: getattr(referral, name) for name in fields if getattr(referral, name) is not None}


def clocks(referral: Referral, settings: ReferralSettings, now: datetime) -> list[dict[str, Any]]:
    """Each clock's deadline, when it was met, and whether it was missed: met late, or not met by the time it stopped
    - now while it runs, when the referral closed, or when the hold going on began (a hold that began before the
    deadline has moved it). A clock missed before the referral closed or was put on hold stays missed: it read as
    "not met yet" (services.breaching is the work still to do, and says nothing once the clocks stop)."""
    state = services.clock_state(referral, now)
    stopped = clocks_stopped_at(referral, state) or now
    return [{"clock": name, "due_at": due, "met_at": met, "breached": (met or stopped) > due}
            for name, (due, met) in domain.clock_deadlines(state, settings.clocks).items()]


def clocks_stopped_at(referral: Referral, state: domain.ClockState) -> datetime | None:
    """When the referral's clocks stopped: it closed, or the hold it is on began; None while they run."""
    if referral.status not in services.OPEN_VALUES:
        return services.as_utc(referral.closed_at or referral.updated_at)
    if referral.status == Status.ON_HOLD and state.holds:
        return state.holds[-1][0]
    return None


def allowed_actions(principal: Principal, referral: Referral) -> list[str]:
    if referral.erased_at is not None:
        return []  # an erased referral is kept for insights and audit only
    who = readers(principal, referral)
    status = Status(referral.status)
    return [name for name, rule in domain.RULES.items() if status in rule.sources and who & rule.who]


def _history(t: Transition, outcomes_seen: bool) -> dict[str, Any]:
    return {"action": t.action, "from_status": t.from_status, "to_status": t.to_status,
            "business_status": domain.unless_outcome(t.business_status, outcomes_seen),
            "reason": domain.unless_outcome(t.reason, outcomes_seen), "actor_role": t.actor_role,
            "occurred_at": t.occurred_at, "version": t.version}


def audit_listed(session: Session, audit: AuditTrail, referral_ids: Iterable[uuid.UUID]) -> None:
    """A list's reads: one audit entry per referral listed, written in one statement (a page of 50 wrote 50)."""
    listed = [str(referral_id) for referral_id in dict.fromkeys(referral_ids)]
    audit.record_many(session, action="list", resource_type="referral", records=[(rid, rid) for rid in listed])


# A listed referral shows its clocks (from its history) and, on /sent, its outcome types; not its contact attempts
# or notes, so they are not loaded with it (two queries a page).
NOT_LISTED = (lazyload(Referral.attempts), lazyload(Referral.notes))


def queue(session: Session, principal: Principal, settings: ReferralSettings, now: datetime, *, view: str = "all",
          status: str | None = None, limit: int = 50, offset: int = 0,
          newest_first: bool = False) -> tuple[list[Referral], int]:
    """One page of the referrals a reader may list, filtered by view, and how many there are in all;
    advisers see their organisation's. Oldest first (work the longest-waiting first) unless
    `newest_first`. The page and the count are SQL (LIMIT/OFFSET, COUNT) except for `breaching`,
    whose due times depend on working days and holds: its open referrals are read and checked here."""
    query = sa.select(Referral).options(*NOT_LISTED)
    role, org = principal.role, principal.organisation
    as_referrer = view == "sent" or role == "gp"
    if as_referrer:
        query = query.where(Referral.referrer_org_id == (org or ""))
    elif role in ("adviser", "org_admin"):
        query = query.where(Referral.assigned_org_id == (org or ""))
    elif role != "alliance_admin":
        raise Problem(403, f"Role {role!r} has no referral queue.")
    if view == "new":
        query = query.where(Referral.status.in_(("submitted", "triage")))
    elif view == "mine":
        query = query.where(Referral.assigned_adviser == principal.subject, Referral.status.in_(services.OPEN_VALUES))
    elif view == "unassigned":  # open, and no adviser holds it: the team lead's to allocate
        query = query.where(Referral.assigned_adviser.is_(None), Referral.status.in_(services.OPEN_VALUES))
    elif view == "waitlist":
        query = query.where(Referral.status == "accepted", Referral.business_status == "waitlisted")
    elif view == "on_hold":
        query = query.where(Referral.status == "on_hold")
    elif view == "review_due":
        query = query.where(Referral.status == "on_hold", Referral.hold_review_date <= uk_today(now))
    elif view == "checks_due":  # a sustainment check (13 or 26 weeks after a job start) is due
        query = query.where(Referral.id.in_(sa.select(SustainmentCheck.referral_id).where(
            SustainmentCheck.due_on <= uk_today(now), SustainmentCheck.done_at.is_(None))), services.CHECKS_ASKED)
        if as_referrer:  # a check tells a job start: an outcome, the referrer's only if the person agreed
            query = query.where(Referral.outcomes_to_referrer.is_(True))
    elif view == "held":
        query = query.where(Referral.routing == "held", Referral.status.in_(services.OPEN_VALUES))
    elif view == "breaching":
        query = query.where(Referral.status.in_(services.OPEN_VALUES), Referral.status != "on_hold")
    if status:
        query = query.where(Referral.status == status)
    query = query.order_by(*_list_order(view, newest_first))
    if view == "breaching":  # every open referral is read for its clocks: its history alone, not its outcomes
        found = [r for r in session.scalars(query.options(lazyload(Referral.outcomes)))
                 if services.breaching(r, settings, now)]
        return found[offset:offset + limit], len(found)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
    return list(session.scalars(query.limit(limit).offset(offset))), total


def _list_order(view: str, newest_first: bool) -> tuple[sa.ColumnElement, ...]:
    """Holds by review date and due checks by due date, the longest overdue first; every other list by when the
    referral was made (submitted_at is to the microsecond: no ties for paging to split unpredictably)."""
    submitted = Referral.submitted_at.desc() if newest_first else Referral.submitted_at
    if view in ("on_hold", "review_due"):
        return Referral.hold_review_date, submitted
    if view == "checks_due":
        first_due = (sa.select(sa.func.min(SustainmentCheck.due_on))
                     .where(SustainmentCheck.referral_id == Referral.id, SustainmentCheck.done_at.is_(None))
                     .scalar_subquery())
        return first_due, submitted
    return (submitted,)


def due_checks(session: Session, referrals: Iterable[Referral], today) -> dict[uuid.UUID, SustainmentCheck]:
    """The sustainment check due (and not done) of each listed referral whose person can still be asked
    (services.CHECKS_ASKED), the longest due when two are: one query for the page."""
    asked = [r.id for r in referrals if r.consent_withdrawn_at is None and r.erased_at is None]
    if not asked:
        return {}
    due = session.scalars(sa.select(SustainmentCheck).where(
        SustainmentCheck.referral_id.in_(asked), SustainmentCheck.due_on <= today,
        SustainmentCheck.done_at.is_(None)).order_by(SustainmentCheck.due_on, SustainmentCheck.weeks))
    found: dict[uuid.UUID, SustainmentCheck] = {}
    for check in due:
        found.setdefault(check.referral_id, check)
    return found


def queue_item(referral: Referral, settings: ReferralSettings, now: datetime,
               principal: Principal | None = None, org_names: dict[str, str] | None = None,
               checks: dict[uuid.UUID, SustainmentCheck] | None = None,
               adviser_names: dict[tuple[str, str], str] | None = None) -> dict[str, Any]:
    """One listed referral; `principal` is the reader, when they may be its referrer rather than its adviser
    (`org_names`: services.organisation_names of the listed referrals' assigned organisations; `checks`:
    due_checks of the page; `adviser_names`: services.adviser_names of the page's referrals). A hold is listed by its review date only (its reason, perhaps about the person's
    health, stays on the referral page), and a due check to the adviser side only, as the referral page shows
    checks (one tells of a job start)."""
    outcomes_seen = principal is None or outcomes_shown(principal, referral)
    adviser = (adviser_words(principal.organisation, referral, org_names or {}, adviser_names) if principal
               else referral.assigned_adviser)
    adviser_side = principal is None or bool(readers(principal, referral) & {domain.ASSIGNED, domain.ADMIN})
    check = (checks or {}).get(referral.id) if adviser_side else None
    review = referral.hold_review_date
    item = {"id": referral.id, "reference": referral.reference, "version": referral.version, "status": referral.status,
            "business_status": domain.unless_outcome(referral.business_status, outcomes_seen),
            "source": referral.source,
            "assigned_adviser": adviser,
            "assigned_adviser_name": adviser_name(referral, adviser_names or {}),
            "hold": {"review_date": review, "review_overdue": bool(review and review < uk_today(now))}
            if referral.status == "on_hold" else None,
            "sustainment_check_due": {"weeks": check.weeks, "due_on": check.due_on} if check else None,
            "submitted_at": referral.submitted_at,
            "breached_clocks": services.breaching(referral, settings, now), "erased": referral.erased_at is not None}
    if details_shared(referral):
        item.update(name=f"{referral.given_name} {referral.family_name}", area=referral.area)
    return item


def caseload(session: Session, principal: Principal, settings: ReferralSettings) -> dict[str, Any] | None:
    if principal.role != "adviser":
        return None
    active = services.active_clients(session, principal.subject)
    summary: dict[str, Any] = {"active": active, "limit": settings.caseload_limit}
    if active > settings.caseload_limit:
        summary["warning"] = caseload_warning(active, settings)
    return summary


def caseload_warning(active: int, settings: ReferralSettings, *, adviser: str | None = None) -> str:
    """Worded for whom it is about: the reader's own caseload (`adviser` None), or that of the adviser someone
    else allocated to, named as allocation_caseload_warning names them."""
    if adviser is None:
        return (f"You hold {active} active clients, more than the {settings.caseload_limit} the IPS fidelity "
                "scale recommends. Talk to your team lead about rebalancing.")
    return (f"{adviser} now holds {active} active clients, more than the {settings.caseload_limit} the IPS "
            "fidelity scale recommends. Consider rebalancing their caseload.")


def allocation_caseload_warning(session: Session, referral: Referral, reader: Principal,
                                settings: ReferralSettings) -> str | None:
    """After an accept or assign: the warning when the adviser now holding `referral` is over the caseload limit -
    to them as their own, to the team lead who allocated it naming the adviser as their roster knows them
    ("Sam Patel (sam.p)", or the login id alone)."""
    if not referral.assigned_adviser:
        return None
    active = services.active_clients(session, referral.assigned_adviser)
    if active <= settings.caseload_limit:
        return None
    if referral.assigned_adviser == reader.subject:
        return caseload_warning(active, settings)
    name = adviser_name(referral, services.adviser_names(session, [referral]))
    label = f"{name} ({referral.assigned_adviser})" if name else referral.assigned_adviser
    return caseload_warning(active, settings, adviser=label)
