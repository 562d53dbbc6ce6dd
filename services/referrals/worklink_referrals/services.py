"""Use cases of the referrals service (no Flask): intake, routing, lifecycle actions, clocks.

Each function works inside the caller's transaction: the change, its history row, its
audit entry (written by the caller) and its outbox events commit together or not at all.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import math
import secrets
import statistics
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any, Callable, Collection, Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from worklink import organisation_names as org_names
from worklink.audit import AuditTrail
from worklink.auth import Principal
from worklink.events.catalogue import to_json_types
from worklink.messaging.outbox import Outbox
from worklink.pseudonyms import keyed_reference
from worklink.retention import RETENTION
from worklink.uktime import uk_today
from worklink_referrals import domain
from worklink_referrals.config import SELF_REFERRAL_ORG, ReferralSettings
from worklink_referrals.domain import OPEN, Actor, Attempt, DomainError, NotPermitted, Snapshot, Status
from worklink_referrals.insights import SMALL  # the fewest referrals a published median is made of
from worklink_referrals.models import (PLATFORM, Adviser, CapacitySnapshot, ContactAttempt, Note, OrganisationName, Outcome,
                                       PendingSelfReferral,
                                       RateLimitHit, Referral, RoutingAlert, RoutingService, RoutingServiceArea,
                                       RoutingServiceTerm,
                                       SlaBreach, StatusLinkRequest, SustainmentCheck, Transition, WithdrawnRequest)

OPEN_VALUES = tuple(s.value for s in OPEN)
ACTIVE_CLIENT = ("accepted", "in_progress", "on_hold")  # IPS: job search and in-work support both count
SYSTEM = Actor("system", "system")
_SYSTEM_PRINCIPAL = Principal("system", "system")
_AUDIT = AuditTrail(PLATFORM)


class Conflict(DomainError):
    status = 409


class NotFound(DomainError):
    status = 404


class Gone(DomainError):
    status = 410


class Unprocessable(DomainError):
    status = 422


class TooManyRequests(DomainError):
    status = 429


class DuplicateFound(Conflict):
    """A 409 naming an open referral the caller may read. The intake's transaction is rolled back, so
    the caller writes `audit_entry` (the look at that referral) in a transaction of its own."""

    def __init__(self, detail: str, audit_entry: dict[str, Any], **extensions: Any):
        super().__init__(detail, **extensions)
        self.audit_entry = audit_entry


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


def match_key(given_name: str, family_name: str, birth_date, postcode: str | None, key: str,
              form: str | None = "NFC", *, folded: bool = True) -> str:
    """Name + date of birth + postcode, normalised and keyed (HMAC under the service's person key), for
    duplicate detection. Keyed, because the person id notifications keeps is made from it. `form`: the names'
    Unicode normal form (None: not normalised, as keys were made before names were); `folded` False: the
    spaces, apostrophes and hyphens inside a name as typed, as keys were made before they were folded (both: the
    names as given)."""
    return keyed_reference(_match_details(given_name, family_name, birth_date, postcode, form, folded), key)


def unkeyed_match_key(given_name: str, family_name: str, birth_date, postcode: str | None) -> str:
    """The match key as the code before migration 0008 made it (a plain SHA-256 of the same details). A replica
    still running that code in a rolling deploy writes it after the migration ran: intake looks under it too,
    and the clock job's re-key pass rewrites it under the person key (rekeying.py)."""
    return hashlib.sha256(_match_details(given_name, family_name, birth_date, postcode, form=None,
                                         folded=False).encode()).hexdigest()


def _match_details(given_name: str, family_name: str, birth_date, postcode: str | None,
                   form: str | None = "NFC", folded: bool = True) -> str:
    """Names in one Unicode form: "Zoë" typed as one character and as "e" + a combining diaeresis (as some
    keyboards and copied text give it) are the same person; so are "Mary Ann", "Mary  Ann" and "Mary Ann" with
    a no-break space (copied from a letter or a record), and "O'Brien" and "O’Brien" (a phone's keyboard types the
    curly one). Keys made before this read the names as given, so `earlier_match_keys` makes the keys such names
    got then."""
    given, family = (_name_to_match(name, form, folded) for name in (given_name, family_name))
    return "|".join([given, family, str(birth_date), (normalise_postcode(postcode) or "").replace(" ", "")])


# One apostrophe and one hyphen, whichever mark a keyboard, a phone or a copied record gave for it.
_SAME_MARKS = str.maketrans({**dict.fromkeys("\u2018\u2019\u02bc\u00b4`", "'"),
                             **dict.fromkeys("\u2010\u2011\u2012\u2013\u2212", "-")})


def _name_to_match(name: str, form: str | None, folded: bool) -> str:
    name = unicodedata.normalize(form, name) if form else name
    if not folded:
        return name.strip().lower()
    return " ".join(name.translate(_SAME_MARKS).split()).lower()  # split(): runs of any Unicode space


def earlier_match_keys(given_name: str, family_name: str, birth_date, postcode: str | None, key: str) -> list[str]:
    """The keys these details got from the code before names were normalised as match_key does now - from names
    stored decomposed, or with their spaces and marks as typed - where they differ from match_key's (none, mostly)."""
    details = (given_name, family_name, birth_date, postcode, key)
    earlier = {match_key(*details, form="NFD", folded=False), match_key(*details, folded=False)}
    return sorted(earlier - {match_key(*details)})


def person_id(key: str) -> uuid.UUID:
    """The pseudonymous person id person messages carry: from the keyed match key, so no one without
    referrals' person key can work it out from the person's name, birth date and postcode."""
    return uuid.uuid5(uuid.NAMESPACE_OID, key)


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


def age_on(birth_date: date, day: date) -> int:
    """Age in whole years on `day` (a birthday on 29 February counts from 1 March in other years)."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


_SERVICES, _AREAS, _TERMS = RoutingService.__table__, RoutingServiceArea.__table__, RoutingServiceTerm.__table__
_REFERRALS, _TRANSITIONS = Referral.__table__, Transition.__table__


@dataclass(frozen=True)
class Route:
    service_id: uuid.UUID
    organization_id: uuid.UUID


def choose_service(session: Session, settings: ReferralSettings, *, area: str | None, age: int | None,
                   requested: uuid.UUID | None, person_locks: tuple[int, ...] = ()) -> Route | None:
    """An adviser service that takes referrals, serves the area and the person's age (and, when
    configured and no service was named, carries a routing taxonomy term); the least loaded wins.

    One indexed query: areas and terms are probed by primary key, and open caseloads are
    counted (on the service_id+status index) only when more than one service qualifies.
    `person_locks` (PostgreSQL) takes the intake's person locks in the same round trip."""
    by_terms = bool(settings.routing_taxonomy) and not requested
    query = _routing_query(bool(requested), by_terms, area is not None, len(person_locks))
    params = {"requested": requested, "area": area, "age": age,
              "terms": sorted(settings.routing_taxonomy) if by_terms else None}
    params.update({f"k{i}": lock_id for i, lock_id in enumerate(person_locks)})
    row = session.execute(query, params).first()
    return Route(row.service_id, row.organization_id) if row and row.service_id else None


@functools.lru_cache(maxsize=None)
def _routing_query(requested: bool, by_terms: bool, has_area: bool, locks: int) -> sa.Select:
    """Built once per shape (statement construction costs more than running it)."""
    s = _SERVICES.c
    query = sa.select(s.service_id, s.organization_id).where(s.active.is_(True), s.accepting_referrals.is_(True))
    if requested:
        query = query.where(s.service_id == sa.bindparam("requested"))
    if by_terms:
        query = query.where(sa.exists().where(_TERMS.c.service_id == s.service_id,
                                              _TERMS.c.term_id.in_(sa.bindparam("terms", expanding=True))))
    serves_area = sa.exists().where(_AREAS.c.service_id == s.service_id, _AREAS.c.area_code == sa.bindparam("area"))
    query = query.where(sa.or_(s.areas_stated.is_(False), serves_area) if has_area else s.areas_stated.is_(False))
    age = sa.bindparam("age", type_=sa.Integer)
    query = query.where(sa.or_(age.is_(None), sa.and_(sa.or_(s.minimum_age.is_(None), s.minimum_age <= age),
                                                      sa.or_(s.maximum_age.is_(None), s.maximum_age >= age))))
    load = sa.select(sa.func.count()).where(_REFERRALS.c.service_id == s.service_id,
                                           _REFERRALS.c.status.in_(OPEN_VALUES)).scalar_subquery()
    load_if_choice = sa.case((sa.func.count().over() > 1, load), else_=0).label("load")
    route = query.add_columns(load_if_choice).order_by(sa.text("load"), s.service_id).limit(1)
    if not locks:
        return route
    # SELECT route.* FROM (SELECT pg_advisory_xact_lock(:k0), ...) AS person_lock LEFT JOIN (route) ON true:
    # the one-row lock side is always evaluated, whether or not a service qualifies.
    lock = sa.select(*(sa.func.pg_advisory_xact_lock(sa.bindparam(f"k{i}", type_=sa.BigInteger)).label(f"l{i}")
                       for i in range(locks))).subquery("person_lock")
    route = route.subquery("route")
    return sa.select(route.c.service_id, route.c.organization_id).select_from(lock.outerjoin(route, sa.true()))


def routing_service_for_update(session: Session, service_id: uuid.UUID, organization_id: uuid.UUID,
                               at: datetime) -> RoutingService | None:
    """The read-model row a directory event changes (created if new, locked), or None when the
    event is older than what the row holds (events can arrive out of order)."""
    service = session.get(RoutingService, service_id, with_for_update=True)
    if service is not None and _aware(service.changed_at) > at:
        return None
    if service is None:
        service = RoutingService(service_id=service_id, organization_id=organization_id, active=True,
                                 accepting_referrals=True, changed_at=at)
        session.add(service)
        session.flush()  # the row the area and term rows refer to
    service.organization_id, service.changed_at = organization_id, at
    return service


def set_reach(session: Session, service: RoutingService, *, area_codes: Iterable[str] | None,
              minimum_age: int | None, maximum_age: int | None) -> None:
    """Who the listing serves, as the directory states it now: postcode districts (None = anywhere), ages."""
    service.areas_stated = area_codes is not None
    service.minimum_age, service.maximum_age = minimum_age, maximum_age
    session.execute(_AREAS.delete().where(_AREAS.c.service_id == service.service_id))
    codes = sorted({code.upper() for code in area_codes or ()})
    if codes:
        session.execute(_AREAS.insert(), [{"service_id": service.service_id, "area_code": c} for c in codes])


def set_terms(session: Session, service: RoutingService, term_ids: Iterable[uuid.UUID]) -> None:
    session.execute(_TERMS.delete().where(_TERMS.c.service_id == service.service_id))
    terms = sorted({uuid.UUID(str(t)) for t in term_ids})
    if terms:
        session.execute(_TERMS.insert(), [{"service_id": service.service_id, "term_id": t} for t in terms])


def add_routing_service(session: Session, service_id: uuid.UUID, organization_id: uuid.UUID, at: datetime, *,
                        area_codes: Iterable[str] | None = None, minimum_age: int | None = None,
                        maximum_age: int | None = None, term_ids: Iterable[uuid.UUID] = (),
                        active: bool = True) -> RoutingService:
    """Seed data, tests and benchmarks: a service as if the directory had published it."""
    service = routing_service_for_update(session, service_id, organization_id, at)
    service.active = active
    set_reach(session, service, area_codes=area_codes, minimum_age=minimum_age, maximum_age=maximum_age)
    set_terms(session, service, term_ids)
    session.flush()
    return service


# --- intake ---------------------------------------------------------------------------------------


def submit(session: Session, outbox: Outbox, settings: ReferralSettings, intake: Mapping[str, Any], actor: Actor,
           *, source: str, now: datetime, link_duplicates: bool = False,
           audit: Callable[[uuid.UUID], list[dict]] | None = None) -> tuple[Referral, str]:
    """Create a referral (consent already checked by the caller's schema); returns it and the person's link.

    The hot path of intake, in as few round trips as the rules allow. PostgreSQL: (1) the person
    locks with the routing query, (2) the duplicate query, (3) one INSERT of the referral, its
    first history row, its `submitted` event and the caller's audit rows (`audit(referral_id)`).
    The returned Referral is transient (built from the row just written, never re-read), for
    presenting."""
    person = intake["person"]
    # The same person as a referral whose key a retired person key made, or a replica not yet upgraded made
    # unkeyed (not yet re-keyed: rekeying.py).
    key, *retired = (match_key(person["given_name"], person["family_name"], person["birth_date"], person.get("postcode"),
                               person_key) for person_key in (settings.person_key, *settings.previous_person_keys))
    retired.append(unkeyed_match_key(person["given_name"], person["family_name"], person["birth_date"],
                                     person.get("postcode")))
    # Stored decomposed, or with spaces and marks as typed, before names were normalised (not yet re-keyed: rekeying.py).
    retired += earlier_match_keys(person["given_name"], person["family_name"], person["birth_date"],
                                  person.get("postcode"), settings.person_key)
    area = postcode_area(person.get("postcode"))
    service = choose_service(session, settings, area=area, age=age_on(person["birth_date"], now.date()),
                             requested=intake.get("service_id"), person_locks=_person_locks(session, key, person))
    duplicate, duplicate_reason = _duplicate(session, intake, (key, *retired), link_duplicates, actor)
    replaces = _replaced_referral(session, intake.get("replaces_id"), person.get("nhs_number"), (key, *retired), actor)

    link = secrets.token_urlsafe(24)
    row = _referral_row(intake, actor, source=source, now=now, key=key, area=area, service=service, link=link)
    row["mailbox_key"] = mailbox_key(person.get("email"), settings.person_key)
    row["replaces_id"] = replaces.id if replaces else None
    if duplicate:
        row["duplicate_of_id"], row["duplicate_reason"] = duplicate.id, duplicate_reason
    history = {"referral_id": row["id"], "action": "submit", "from_status": None, "to_status": row["status"],
               "business_status": None, "reason": None, "actor": actor.subject, "actor_role": actor.role,
               "occurred_at": now, "version": 1}
    referral = _written(row, history)
    # Only the columns that have values: a shorter INSERT, which the driver's statement cache keeps.
    writes = [(_REFERRALS, {k: v for k, v in row.items() if v is not None}), (_TRANSITIONS, history),
              (outbox.table, outbox.row("referrals.referral.submitted", _lifecycle_data(referral, "submitted", now),
                                        subject=str(referral.id)))]
    writes += [(PLATFORM.audit_log, entry) for entry in (audit(referral.id) if audit else ())]
    if duplicate:
        writes.append((PLATFORM.audit_log, _duplicate_check_entry(actor, duplicate.id)))
    write_together(session, writes)
    if referral.received_message_at:  # they agreed to status emails: told now, with their link
        _tell_person(session, outbox, referral, domain.intake_message(routed=service is not None), "received", now,
                     link)
    if not service:
        _hold(session, outbox, referral, now)
    return referral, link


def write_together(session: Session, rows: list[tuple[sa.Table, dict[str, Any]]]) -> None:
    """INSERT rows of several tables in one round trip on PostgreSQL (the first INSERT carries the
    others as data-modifying CTEs; foreign keys are checked at the end of the statement), one
    statement per row elsewhere, in order. Keep at most one outbox row in it: the CTEs run in no
    fixed order, and a service's events must keep theirs.

    A value that recurs (the referral id, the time, the actor) is bound once and None is left to
    the column's NULL: psycopg caches the parsing of a statement only up to 50 parameters."""
    if session.get_bind().dialect.name != "postgresql":
        for table, values in rows:
            session.execute(table.insert(), values)
        return
    names: dict[Any, str] = {}
    params: dict[str, Any] = {}
    shape = []
    for table, values in rows:
        columns = []
        for column, value in values.items():
            if value is None:
                continue
            ident = (type(value), value) if isinstance(value, (str, int, uuid.UUID, datetime, date)) else object()
            if ident not in names:
                names[ident] = f"v{len(names)}"
                params[names[ident]] = value
            columns.append((column, names[ident]))
        shape.append((table, tuple(sorted(columns))))
    session.execute(_combined_insert(tuple(shape)), params)


@functools.lru_cache(maxsize=256)
def _combined_insert(shape: tuple[tuple[sa.Table, tuple[tuple[str, str], ...]], ...]) -> sa.Insert:
    # Parameter names are v0, v1...: an execute-time key equal to a column name would add that column.
    inserts = [table.insert().values({column: sa.bindparam(name) for column, name in columns}).inline()
               for table, columns in shape]
    combined = inserts[0]
    for i, insert in enumerate(inserts[1:], start=1):
        combined = combined.add_cte(insert.cte(f"write_{i}"))
    return combined


_BLANK_REFERRAL = {column.key: None for column in _REFERRALS.columns}


def _written(row: dict[str, Any], history: dict[str, Any]) -> Referral:
    """The referral just written, for presenting and publishing: not re-read, not in the session
    (an ORM instance costs more to build than the INSERT). Load it to change it."""
    return SimpleNamespace(**{**_BLANK_REFERRAL, **row}, attempts=[], outcomes=[], notes=[],  # type: ignore[return-value]
                           transitions=[SimpleNamespace(**history)])


AUTO_LINK_REASON = "linked automatically: this person already has an open referral"


def _duplicate(session: Session, intake: Mapping[str, Any], keys: tuple[str, ...], link_duplicates: bool,
               actor: Actor) -> tuple[Any, str | None]:
    """An open referral for the same person and service: refuse (409), or link with a reason.

    An intake that names no service asks for any adviser service, so any open referral of the
    person is its duplicate (routing by caseload would otherwise send it to another service).
    Only a caller who may read that referral is told of it (409); for anyone else it is linked
    automatically and the intake answers as for a new referral: a refusal, or its id, would tell
    another organisation that this person has an open referral (health data, no consent to share)."""
    duplicate = find_open_duplicate(session, intake["person"].get("nhs_number"), keys, intake.get("service_id"))
    reason = (intake.get("duplicate") or {}).get("reason")
    if duplicate and not reason:
        if not link_duplicates and may_read(actor, duplicate.referrer_org_id, duplicate.assigned_org_id):
            raise DuplicateFound("This person already has an open referral to this service. Link the new one "
                                 "with a reason (duplicate.reason), or add to the open referral instead.",
                                 _duplicate_check_entry(actor, duplicate.id),
                                 duplicate_of=str(duplicate.id), duplicate_reference=duplicate.reference)
        reason = AUTO_LINK_REASON
    return duplicate, reason


DUPLICATE_CHECK = "duplicate check"


def may_read(actor: Actor, referrer_org_id: str | None, assigned_org_id: str | None) -> bool:
    """May this (non-system) caller read a referral made by and assigned to these organisations?"""
    return bool(domain.relationships_to(actor, referrer_org_id, assigned_org_id) - {domain.SYSTEM})


def _duplicate_check_entry(actor: Actor, referral_id: uuid.UUID) -> dict[str, Any]:
    """The audit row of a duplicate match: the intake looked at the person's other referral."""
    [entry] = _AUDIT.rows(action="read", resource_type="referral", records=[(str(referral_id), str(referral_id))],
                          purpose=DUPLICATE_CHECK, principal=Principal(actor.subject, actor.role, actor.organisation))
    return entry


def _referral_row(intake: Mapping[str, Any], actor: Actor, *, source: str, now: datetime, key: str,
                  area: str | None, service: Route | None, link: str) -> dict[str, Any]:
    person, consent = intake["person"], intake["consent"]
    updates_by_email = bool(consent.get("updates_by_email") and person.get("email"))
    consent_id = consent.get("consent_id") or uuid.uuid4()
    return dict(
        id=uuid.uuid4(), reference=new_reference(), version=1, status=Status.SUBMITTED.value, source=source,
        referrer_org_id=actor.organisation or str(SELF_REFERRAL_ORG), referrer_subject=actor.subject,
        referrer_role=actor.role, service_id=service.service_id if service else None,
        **{f"referrer_{key}": (intake.get("referrer") or {}).get(key) for key in ("name", "profession")},
        referrer_org_name=(intake.get("referrer") or {}).get("organisation_name"),
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
        # Every consent has an id (an API intake's is made here): person messages and their revocation name it.
        consent_id=consent_id, consent_captured_by=consent.get("captured_by") or actor.subject,
        consent_captured_at=consent.get("captured_at") or now, consent_method=consent["method"],
        requested_service_id=intake.get("service_id"),
        consent_scope_service_id=intake.get("service_id") or (service.service_id if service else None),
        outcomes_to_referrer=bool(consent.get("outcomes_to_referrer")), status_link_hash=hash_secret(link),
        status_link_issued_at=now,
        person_updates=updates_by_email, received_message_at=now if updates_by_email else None,  # told at once
        # The answer came with the consent (its id, its time) unless a self-referral says when and how it was given.
        person_updates_at=consent.get("updates_answered_at") or consent.get("captured_at") or now,
        person_updates_how=consent.get("updates_how", WITH_CONSENT),
        updates_consent_id=consent_id if updates_by_email else None,
        submitted_at=now, updated_at=now)


def lock_person(session: Session, referral: Referral) -> None:
    """Take the intake locks of this referral's person (PostgreSQL), for a change that must not
    interleave with an intake of the same person: see withdraw_consent."""
    for lock_id in _person_locks(session, referral.match_key, {"nhs_number": referral.nhs_number}):
        session.execute(_PERSON_LOCK, {"k": lock_id})


_PERSON_LOCK = sa.text("SELECT pg_advisory_xact_lock(:k)")


def lock_person_first(session: Session, where: sa.ColumnElement[bool]) -> None:
    """Before a withdrawal locks its referral's row (PostgreSQL): the person's locks, so the order is
    always person, then rows - two withdrawals of one person's referrals at once cannot deadlock."""
    if session.get_bind().dialect.name != "postgresql":
        return
    found = session.execute(sa.select(Referral.match_key, Referral.nhs_number).where(where)).first()
    for lock_id in _person_locks(session, found.match_key, {"nhs_number": found.nhs_number}) if found else ():
        session.execute(_PERSON_LOCK, {"k": lock_id})


def _person_locks(session: Session, key: str, person: Mapping[str, Any]) -> tuple[int, ...]:
    """Serialise intakes for one person so two at once cannot both pass the duplicate check.

    PostgreSQL: transaction-scoped advisory locks on the person's keys, taken (with the routing
    query) before the duplicate query reads, in a fixed order so two intakes cannot deadlock.
    SQLite already serialises writers (BEGIN IMMEDIATE): no locks."""
    if session.get_bind().dialect.name != "postgresql":
        return ()
    return tuple(int.from_bytes(hashlib.sha256(f"referrals-person:{token}".encode()).digest()[:8], "big", signed=True)
                 for token in sorted(filter(None, (key, person.get("nhs_number")))))


def find_open_duplicate(session: Session, nhs_number: str | None, keys: tuple[str, ...],
                        service_id: uuid.UUID | None):
    """The earliest open referral of this person (NHS number, or name + birth date + postcode: its match
    key under the current person key, one a rotation retired, or unkeyed by a replica not yet upgraded) to
    this service (routed to it, or asked for it and held), or to any service when None: one query on the
    match_key / nhs_number indexes; (id, reference, referrer_org_id, assigned_org_id) or None."""
    query = _duplicate_query(bool(nhs_number), service_id is not None)
    return session.execute(query, {"keys": list(keys), "nhs_number": nhs_number, "service_id": service_id}).first()


@functools.lru_cache(maxsize=None)
def _duplicate_query(by_nhs_number: bool, has_service: bool) -> sa.Select:
    same_person = Referral.match_key.in_(sa.bindparam("keys", expanding=True))
    if by_nhs_number:
        same_person = sa.or_(same_person, Referral.nhs_number == sa.bindparam("nhs_number"))
    query = sa.select(Referral.id, Referral.reference, Referral.referrer_org_id, Referral.assigned_org_id).where(
        same_person, Referral.status.in_(OPEN_VALUES))
    if has_service:
        query = query.where(for_service(sa.bindparam("service_id")))
    return query.order_by(Referral.submitted_at).limit(1)


def for_service(service) -> sa.ColumnElement[bool]:
    """An open referral that is (or may become) the person's referral to `service`: routed to it, asked
    for it, or asked for any service and still held - routing may yet send that one to `service` too."""
    return sa.or_(Referral.service_id == service, Referral.requested_service_id == service,
                  sa.and_(Referral.service_id.is_(None), Referral.requested_service_id.is_(None)))


def _replaced_referral(session: Session, replaces_id, nhs_number, keys: tuple[str, ...],
                       actor: Actor) -> Referral | None:
    if not replaces_id:
        return None
    old = session.get(Referral, replaces_id)
    # One the caller may not read is answered as one that does not exist: its status is not theirs to learn.
    if old is None or not may_read(actor, old.referrer_org_id, old.assigned_org_id) or not (
            old.match_key in keys or (nhs_number and old.nhs_number == nhs_number)):
        raise DomainError("replaces_id must name an earlier referral for the same person.", field="replaces_id")
    if old.status in OPEN_VALUES:
        raise Conflict("The referral this replaces is still open; cancel it first (only one active referral).",
                       replaces_id=str(old.id), replaces_status=old.status)
    return old


def _hold(session: Session, outbox: Outbox, referral: Referral, now: datetime) -> None:
    """Nothing can take it: hold it and alert the alliance (never drop it)."""
    session.execute(RoutingAlert.__table__.insert(), {"referral_id": referral.id, "reason": "no_service_available",
                                                      "raised_at": now})
    _publish_lifecycle(session, outbox, referral, "held", now, reason="no_service_available")


def hold_unclaimed(session: Session, outbox: Outbox, settings: ReferralSettings, service_id: uuid.UUID,
                   now: datetime) -> int:
    """A service was withdrawn: referrals it never acknowledged are held again (and routed elsewhere
    if another service can take them), so none is stranded with an organisation that has gone."""
    stranded = list(session.scalars(sa.select(Referral).where(
        Referral.service_id == service_id, Referral.status == Status.SUBMITTED.value)))
    for referral in stranded:
        referral.service_id = referral.assigned_org_id = None
        # An adviser assigned before it was acknowledged is the withdrawn organisation's: not the next one's
        # (it would read their login id as its own staff's, the referrer them as working there).
        referral.assigned_adviser = referral.assigned_adviser_name = None
        referral.routing, referral.updated_at = "held", now
        session.flush()
        _history(session, referral, "hold", referral.status, SYSTEM, now, reason="service_withdrawn")
        alert = session.get(RoutingAlert, referral.id)
        if alert:
            alert.reason, alert.raised_at, alert.resolved_at = "service_withdrawn", now, None
        else:
            session.add(RoutingAlert(referral_id=referral.id, reason="service_withdrawn", raised_at=now))
        _publish_lifecycle(session, outbox, referral, "held", now, reason="service_withdrawn")
    if stranded:
        route_waiting(session, outbox, settings, now)
    return len(stranded)


def route_held(session: Session, outbox: Outbox, settings: ReferralSettings, referral: Referral,
               service_id: uuid.UUID | None, actor: Actor, now: datetime) -> Referral:
    """Route a held referral (the alliance chooses a service, or a new service appeared)."""
    if referral.routing != "held" or referral.status not in OPEN_VALUES:
        raise Conflict("Only an open, held referral can be routed.", routing=referral.routing)
    scope = referral.requested_service_id
    if scope and service_id and service_id != scope:
        raise Conflict("The person consented to a referral to one service only; ask them again before "
                       "sending it elsewhere.", consent_scope_service_id=str(scope))
    service = choose_service(session, settings, area=referral.area, age=referral_age(referral),
                             requested=service_id)
    if service is None:
        raise Conflict("No active service that takes referrals matches; the referral stays held.")
    referral.service_id, referral.assigned_org_id = service.service_id, str(service.organization_id)
    referral.consent_scope_service_id = service.service_id  # what the consent now covers (the named one, or this)
    referral.routing, referral.updated_at = "routed", now
    alert = session.get(RoutingAlert, referral.id)
    if alert and alert.resolved_at is None:
        alert.resolved_at = now
    session.flush()
    _history(session, referral, "route", referral.status, actor, now)
    _link_if_doubled(session, referral, now)
    _publish_lifecycle(session, outbox, referral, "routed", now)
    return referral


def _link_if_doubled(session: Session, referral: Referral, now: datetime) -> None:
    """Intake's duplicate rule, again at routing: a held referral now routed to a service where the person
    already has an open referral (it was routed elsewhere when this one came in, then re-held and routed
    here) is linked to it automatically, never silently doubled. The adviser organisation sees the link."""
    if referral.duplicate_of_id:
        return
    same_person = Referral.match_key == referral.match_key
    if referral.nhs_number:
        same_person = sa.or_(same_person, Referral.nhs_number == referral.nhs_number)
    other = session.scalar(sa.select(Referral.id).where(
        same_person, Referral.status.in_(OPEN_VALUES), Referral.id != referral.id,
        sa.or_(Referral.duplicate_of_id.is_(None), Referral.duplicate_of_id != referral.id),
        sa.or_(Referral.service_id == referral.service_id, Referral.requested_service_id == referral.service_id))
        .order_by(Referral.submitted_at).limit(1))
    if other is None:
        return
    referral.duplicate_of_id, referral.duplicate_reason, referral.updated_at = other, AUTO_LINK_REASON, now
    session.flush()
    _history(session, referral, "link_duplicate", referral.status, SYSTEM, now)
    _AUDIT.record(session, action="update", resource_type="referral", resource_id=str(referral.id),
                  person_id=str(referral.id), purpose="duplicate link: routed where the person has an open referral",
                  principal=_SYSTEM_PRINCIPAL)


def referral_age(referral: Referral) -> int:
    """The person's age on the day they were referred (routing matches services' age bounds)."""
    return age_on(referral.birth_date, _aware(referral.submitted_at).date())


def route_waiting(session: Session, outbox: Outbox, settings: ReferralSettings, now: datetime) -> int:
    """After the directory adds or reopens a service: route held referrals it can now take."""
    routed = 0
    for referral in session.scalars(sa.select(Referral).where(Referral.routing == "held",
                                                               Referral.status.in_(OPEN_VALUES))):
        if choose_service(session, settings, area=referral.area, age=referral_age(referral),
                          requested=referral.requested_service_id):
            route_held(session, outbox, settings, referral, referral.requested_service_id, SYSTEM, now)
            # The person's record now reaches the adviser organisation: audited as the alliance's route is.
            _AUDIT.record(session, action="share", resource_type="referral", resource_id=str(referral.id),
                          person_id=str(referral.id), purpose="routed automatically", principal=_SYSTEM_PRINCIPAL)
            routed += 1
    return routed


# --- consent withdrawn before its request arrived ---------------------------------------------------


def lock_request(session: Session, request_id: uuid.UUID) -> None:
    """Serialise a clinician's request and its withdrawal (PostgreSQL), taken before any other lock: one
    partition is read by one consumer, but a group rebalancing can briefly have two handle it. Without it
    a withdrawal could see no referral and remember the request while the request, not seeing that,
    makes one. SQLite serialises writers anyway."""
    if session.get_bind().dialect.name == "postgresql":
        digest = hashlib.sha256(f"referrals-request:{request_id}".encode()).digest()
        session.execute(_REQUEST_LOCK, {"k": int.from_bytes(digest[:8], "big", signed=True)})


_REQUEST_LOCK = sa.text("SELECT pg_advisory_xact_lock(:k)")


def remember_withdrawn_request(session: Session, *, request_id: uuid.UUID, consent_id: uuid.UUID,
                               practice_id: uuid.UUID, withdrawn_at: datetime, now: datetime) -> bool:
    """The withdrawal of a request that made no referral: remember it (ids only), so the request makes
    none if it comes later. False if already remembered (the withdrawal redelivered)."""
    if session.get(WithdrawnRequest, request_id) is not None:
        return False
    session.add(WithdrawnRequest(request_id=request_id, consent_id=consent_id, practice_id=practice_id,
                                 withdrawn_at=withdrawn_at, recorded_at=now))
    return True


def consent_already_withdrawn(session: Session, request_id: uuid.UUID, consent_id: uuid.UUID) -> bool:
    """Whether this request, or the consent it carries, was withdrawn before it arrived."""
    return session.scalar(sa.select(WithdrawnRequest.request_id).where(sa.or_(
        WithdrawnRequest.request_id == request_id, WithdrawnRequest.consent_id == consent_id)).limit(1)) is not None


def forget_withdrawn_requests(session: Session, now: datetime, keep: timedelta) -> int:
    """Drop withdrawals heard more than `keep` ago, when no topic can bring their request back (the clock job)."""
    return session.execute(sa.delete(WithdrawnRequest).where(WithdrawnRequest.recorded_at < now - keep)).rowcount or 0


# --- self-referral ------------------------------------------------------------------------------------


CODE_MESSAGE = "self_referral_code"  # notifications renders it from its own template
# How the person's answer about status emails was given (Referral.person_updates_how): with the referral's consent
# (a referrer recorded it), on the self-referral form, on their status page; or never asked (a self-referral made
# before the form asked, whose emails followed the verified address: migration 0018).
WITH_CONSENT = "with_consent"
ON_THE_FORM = "self_referral_form"
ON_THE_STATUS_PAGE = "status_page"
NOT_ASKED = "not_asked"


def start_self_referral(session: Session, outbox: Outbox, settings: ReferralSettings, intake: Mapping[str, Any],
                        now: datetime, *, browser_key: str | None = None) -> tuple[PendingSelfReferral, str]:
    """Hold the self-referral until the person proves the contact route is theirs: the one-time
    code goes to their email through notifications (restricted person message). Notifications
    has no text messages yet, so a phone-only self-referral gets its code only outside
    production (shown on screen); production asks for an email address instead. `browser_key`, a
    secret the form's browser keeps in a cookie, is what a change of email address must show (its hash is kept)."""
    person = intake["person"]
    if not person.get("email") and not settings.codes_by_phone:
        raise Unprocessable(NO_EMAIL, field="person/email")
    code = f"{secrets.randbelow(10 ** 6):06d}"
    consent_id = uuid.uuid4()  # the explicit agreement given on the form; the referral keeps it
    # Outside production the code page shows the code (no mail server needed), so it is kept to show again.
    shown = {"shown_code": code} if settings.expose_codes else {}
    # When they answered whether we may email them: on this form (a changed address keeps the first answer's time).
    answered = {"consent": {"updates_answered_at": now, **intake["consent"]}}
    browser = {"browser": hash_secret(browser_key)} if browser_key else {}
    pending = PendingSelfReferral(id=uuid.uuid4(),
                                  payload=_jsonable({**intake, **answered, "consent_id": consent_id, **shown,
                                                     **browser}),
                                  code_hash=hash_secret(code), created_at=now,
                                  expires_at=now + timedelta(minutes=settings.self_referral_code_minutes))
    session.add(pending)
    if person.get("email"):
        _mail_waiting_person(session, outbox, settings, pending.id, person, consent_id, CODE_MESSAGE,
                             person["email"], now, message="verification-code", verification_code=code)
    return pending, code


def _mail_waiting_person(session: Session, outbox: Outbox, settings: ReferralSettings, pending_id: uuid.UUID,
                         person: Mapping[str, Any], consent_id: Any, message_code: str, address: str, now: datetime,
                         *, message: str, **extra: Any) -> None:
    """Ask notifications to email the person of a waiting self-referral (restricted person message): the
    referral does not exist yet, so the message is named after the waiting record (`message`: which one)."""
    key = match_key(person["given_name"], person["family_name"], person["birth_date"], person.get("postcode"),
                    settings.person_key)
    outbox.publish(session, "notifications.person_message.requested", {
        "message_id": uuid.uuid5(pending_id, message), "person_id": person_id(key), "consent_id": consent_id,
        "message_code": message_code, "contact": {"channel": "email", "address": address}, "referral_id": None,
        "requested_at": now, **extra}, subject=str(pending_id))


NO_EMAIL = "We can only send your code by email for now. Give an email address."


@dataclass(frozen=True)
class Waiting:
    route: str  # where the code went: email, or phone (shown on screen, development only)
    shown_code: str | None  # development only


def waiting_self_referral(session: Session, pending_id: uuid.UUID, now: datetime) -> Waiting:
    """A self-referral waiting for its code, for the page that asks for it (nothing about the person)."""
    pending = session.get(PendingSelfReferral, pending_id)
    if pending is None:
        raise NotFound(NO_PENDING)
    if _aware(pending.expires_at) < now or pending.attempts >= 5:
        raise Gone(EXPIRED)
    return Waiting("email" if pending.payload["person"].get("email") else "phone", pending.payload.get("shown_code"))


def sent_from_waiting(session: Session, pending_id: uuid.UUID) -> bool:
    """Whether a referral was made from this waiting self-referral (its code was entered): the code page's address,
    reopened with Back afterwards, then says so instead of "not found, start again" - which made duplicates. The
    referral names its waiting record as its referrer (complete_self_referral); nothing about it is read."""
    return session.scalar(sa.select(sa.exists().where(
        Referral.referrer_org_id == str(SELF_REFERRAL_ORG), Referral.referrer_subject == f"self:{pending_id}")))


def change_self_referral_email(session: Session, outbox: Outbox, settings: ReferralSettings, pending_id: uuid.UUID,
                               email: str, browser_key: str | None, client_ip: str | None,
                               now: datetime) -> PendingSelfReferral:
    """The person gave a wrong email address: their answers wait again for a new code sent to the right one,
    so they do not fill in the whole form again (WCAG 3.3.7 Redundant Entry). The old code stops working;
    the new one counts against the rate limit as a new start does (it sends an email).
    Only the browser that started it may (`browser_key`): the waiting record's id is in the code page's
    address, its history and the audit trail, and with the id alone anyone could send the code to themselves
    and take the person's referral over."""
    pending = session.get(PendingSelfReferral, pending_id, with_for_update=True)
    if pending is None:
        raise NotFound(NO_PENDING)
    if _aware(pending.expires_at) < now or pending.attempts >= 5:
        raise Gone(EXPIRED)
    intake = _from_json(pending.payload)
    held = intake.pop("browser", None)
    if not (held and browser_key and hmac.compare_digest(held, hash_secret(browser_key))):
        raise NotPermitted(OTHER_BROWSER)
    # Counted across the waiting records a referral moves through: the next user of a shared computer could
    # otherwise keep sending someone's code to addresses of their choosing while it waits.
    changes = intake.pop("email_changes", 0) + 1
    if changes > EMAIL_CHANGES_LIMIT:
        raise TooManyRequests(TOO_MANY_CHANGES)
    old_person, old_consent_id = intake["person"], intake.get("consent_id")
    for made_for_the_old_code in ("consent_id", "shown_code"):
        intake.pop(made_for_the_old_code, None)
    intake["person"] = {**old_person, "email": email}
    limit_self_referrals(session, settings, intake, client_ip, now)
    session.delete(pending)
    moved = start_self_referral(session, outbox, settings, {**intake, "email_changes": changes}, now,
                                browser_key=browser_key)[0]
    if old_person.get("email") and mailbox(old_person["email"]) != mailbox(email) and old_consent_id:
        # The owner of the old address hears of it (no code, nothing about them): if it was not them, the next
        # user of their browser has it, and they can start again rather than find out from a stranger's referral.
        _mail_waiting_person(session, outbox, settings, pending.id, old_person, uuid.UUID(old_consent_id),
                             EMAIL_CHANGED_MESSAGE, old_person["email"], now, message="email-changed")
    return moved


# Changes of email address one self-referral may have: a slip or two of the keyboard, not a way of trying
# addresses until the code lands somewhere else.
EMAIL_CHANGES_LIMIT = 3
EMAIL_CHANGED_MESSAGE = "self_referral_email_changed"  # notifications' notice to the old address
OTHER_BROWSER = ("The email address can only be changed in the browser the referral was started in. "
                 "Go back to that browser, or start your referral again.")
TOO_MANY_CHANGES = (f"The email address has already been changed {EMAIL_CHANGES_LIMIT} times, so it cannot be "
                    "changed again. Start your referral again with the right email address.")


EXPIRED = "The code has expired. Start the self-referral again."
NO_PENDING = ("No self-referral is waiting for that code: it has already been used (the referral was sent), "
              "or it was never started. If you did not get your link, start again.")


def check_self_referral_code(session: Session, pending_id: uuid.UUID, code: str,
                             now: datetime) -> DomainError | None:
    """Count the attempt; returns the error (not raised, so the caller can commit the count) or None.

    The pending row stays locked to the end of the transaction: complete the referral in the same one,
    so two people entering one code at once get one referral and one NotFound (PostgreSQL: the second
    waits for the lock, then finds the row gone; SQLite serialises writers)."""
    pending = session.get(PendingSelfReferral, pending_id, with_for_update=True)
    if pending is None:
        return NotFound(NO_PENDING)
    if _aware(pending.expires_at) < now or pending.attempts >= 5:
        session.delete(pending)  # as the sweep would (forget_expired_self_referrals), and audited as it is
        _AUDIT.record(session, action="delete", resource_type=PENDING_RECORD, resource_id=str(pending.id),
                      person_id=str(pending.id), purpose=RETENTION, principal=_SYSTEM_PRINCIPAL)
        return Gone(EXPIRED)
    if not hmac.compare_digest(pending.code_hash, hash_secret(code.replace(" ", ""))):  # "123 456" is a slip
        pending.attempts += 1
        # A code guessed at is an attempt on the person's waiting record: audited as refused with the count, never
        # with the code typed (a secret: a slip of one digit is most of the right one).
        _AUDIT.record(session, action="denied", resource_type=PENDING_RECORD, resource_id=str(pending.id),
                      person_id=str(pending.id), purpose=f"wrong code: attempt {pending.attempts}",
                      principal=pending_principal(pending.id))
        return DomainError("That code is not right. Check the message and try again.", field="code",
                           attempts_left=5 - pending.attempts)
    return None


def complete_self_referral(session: Session, outbox: Outbox, settings: ReferralSettings, pending_id: uuid.UUID,
                           now: datetime) -> tuple[Referral, str]:
    """The contact route is verified: submit the referral with the person's explicit consent."""
    pending = session.get(PendingSelfReferral, pending_id, with_for_update=True)
    if pending is None:
        raise NotFound(NO_PENDING)
    intake = _from_json(pending.payload)
    route = "email" if intake["person"].get("email") else "phone"
    consent_id = uuid.UUID(intake.pop("consent_id")) if intake.get("consent_id") else uuid.uuid4()
    intake.pop("shown_code", None)
    intake["consent"] = {"consent_id": consent_id, "method": "online", "captured_by": f"self (verified {route})",
                         "captured_at": now, "outcomes_to_referrer": False,
                         **_status_email_answer(intake.get("consent") or {}, route, now)}
    session.delete(pending)
    # Never refused as a duplicate: the resident could not link it, and a refusal would tell whoever
    # typed these details that the person has an open referral. The adviser sees the link instead.
    return submit(session, outbox, settings, intake, Actor(f"self:{pending_id}", "resident"), source="self",
                  now=now, link_duplicates=True)


def _status_email_answer(form: Mapping[str, Any], route: str, now: datetime) -> dict[str, Any]:
    """The person's answer on the form to "may we email you updates", and when it was given. A self-referral
    started before the form asked (no answer held) keeps what it had then: emails to the verified address."""
    if form.get("updates_by_email") is None:
        return {"updates_by_email": route == "email", "updates_how": NOT_ASKED, "updates_answered_at": now}
    return {"updates_by_email": form["updates_by_email"], "updates_how": ON_THE_FORM,
            "updates_answered_at": datetime.fromisoformat(form["updates_answered_at"])}


def limit_self_referrals(session: Session, settings: ReferralSettings, intake: Mapping[str, Any],
                         client_ip: str | None, now: datetime) -> None:
    """At most N self-referral starts per contact address and per client IP in a sliding window."""
    person = intake["person"]
    contact = mailbox(person.get("email") or "") or "".join(filter(str.isdigit, person.get("phone") or ""))
    limits = [(f"contact:{contact}", settings.self_referral_limit_contact)]
    if client_ip:
        limits.append((f"ip:{client_ip}", settings.self_referral_limit_ip))
    take_rate_limit(session, limits, timedelta(seconds=settings.self_referral_window_seconds), now,
                    (settings.person_key, *settings.previous_person_keys))


_DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def mailbox(email: str) -> str:
    """The inbox an address delivers to, for counting: case folded, a `+tag` dropped, and for
    Gmail the dots of the local part (which Gmail ignores), so that kim+1@, k.i.m@ and KIM@ count
    as the one mailbox they are."""
    local, _, domain = email.strip().lower().rpartition("@")
    if not local:
        return email.strip().lower()
    local = local.split("+", 1)[0]
    if domain in _DOTLESS_DOMAINS:
        local, domain = local.replace(".", ""), _DOTLESS_DOMAINS[domain]
    return f"{local}@{domain}"


def mailbox_key(email: str | None, key: str) -> str | None:
    """What a referral keeps to find it by the mailbox its email address delivers to (mailbox(); a new status link
    is asked for by address): an HMAC under the person key, so the lookup is one indexed equality that reads no
    other person's address, and the column is useless without the key. None without an address."""
    return keyed_reference(f"mailbox:{mailbox(email)}", key) if email else None


def limit_status_email_changes(session: Session, settings: ReferralSettings, referral: Referral,
                               now: datetime) -> None:
    """At most N changes of the person's answer about status emails per referral in the self-referral window (which
    the clock job prunes by): each stop publishes a revocation, each start a new consent, and anyone holding the
    status link could switch them without end."""
    take_rate_limit(session, [(f"status-emails:{referral.id}", settings.status_email_changes_limit)],
                    timedelta(seconds=settings.self_referral_window_seconds), now,
                    (settings.person_key, *settings.previous_person_keys),
                    refusal="You have changed whether we email you too many times. Your choice has not changed.")


def take_rate_limit(session: Session, limits: Iterable[tuple[str, int]], window: timedelta, now: datetime,
                    person_keys: tuple[str, ...], *, refusal: str = "Too many attempts.") -> None:
    """Sliding-window limits kept in the database, so every gunicorn worker shares them: refuse
    (TooManyRequests, with when to retry) if any key already has `limit` hits within `window`,
    else count one hit per key. Refused requests are not counted (a flood cannot extend the wait).
    PostgreSQL: the keys are locked for the transaction so two workers cannot both take the last
    slot; SQLite serialises writers anyway.

    A key (an e-mail address, a phone number, an IP address) is stored as its HMAC under the person
    key: a plain hash of a phone number or address is reversed by hashing every candidate. Hits are
    counted under every key in `person_keys` (the current one first, then those a rotation retired), so a
    rotation does not start the windows afresh; a new hit is stored under the current one."""
    current, *previous = person_keys
    buckets = sorted((rate_limit_bucket(key, current), limit, [rate_limit_bucket(key, old) for old in previous])
                     for key, limit in limits)
    if session.get_bind().dialect.name == "postgresql":
        for bucket, _, _ in buckets:
            session.execute(_LIMIT_LOCK, {"k": int(bucket[:15], 16)})
    wait = 0.0
    for bucket, limit, retired in buckets:
        hits, oldest = session.execute(_WINDOW_HITS, {"buckets": [bucket, *retired], "since": now - window}).one()
        if hits >= limit:
            wait = max(wait, (_aware(oldest) + window - now).total_seconds())
    if wait:
        seconds = max(1, math.ceil(wait))
        raise TooManyRequests(f"{refusal} Try again in {_plain_duration(seconds)}.",
                              retry_after=seconds, headers={"Retry-After": str(seconds)})
    session.execute(RateLimitHit.__table__.insert(), [{"bucket": b, "hit_at": now} for b, _, _ in buckets])


def rate_limit_bucket(key: str, person_key: str) -> str:
    """What rate_limit_hits stores for a limited key: useless without REFERRALS_PERSON_KEY."""
    return keyed_reference(f"rate-limit:{key}", person_key)


_LIMIT_LOCK = sa.text("SELECT pg_advisory_xact_lock(:k)")
_WINDOW_HITS = (sa.select(sa.func.count(), sa.func.min(RateLimitHit.hit_at))
                .where(RateLimitHit.bucket.in_(sa.bindparam("buckets", expanding=True)),
                       RateLimitHit.hit_at > sa.bindparam("since")))


def _plain_duration(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def forget_rate_limit_hits(session: Session, settings: ReferralSettings, now: datetime) -> int:
    """Hits older than the window count for nothing: drop them (the clock job)."""
    since = now - timedelta(seconds=settings.self_referral_window_seconds)
    return session.execute(sa.delete(RateLimitHit).where(RateLimitHit.hit_at <= since)).rowcount or 0


def forget_expired_self_referrals(session: Session, now: datetime) -> int:
    """Unverified self-referrals hold a person's details: drop them once their code has expired, each audited as
    deleted by the system for retention (their start was audited as created)."""
    expired = session.scalars(sa.select(PendingSelfReferral.id).where(PendingSelfReferral.expires_at < now)).all()
    if not expired:
        return 0
    session.execute(sa.delete(PendingSelfReferral).where(PendingSelfReferral.id.in_(expired)))
    _AUDIT.record_many(session, action="delete", resource_type=PENDING_RECORD, purpose=RETENTION,
                       records=[(str(pending_id), str(pending_id)) for pending_id in expired],
                       principal=_SYSTEM_PRINCIPAL)
    return len(expired)


PENDING_RECORD = "pending_self_referral"  # the audit trail's name for a self-referral waiting for its code


def pending_principal(pending_id: uuid.UUID) -> Principal:
    """The resident filling in the self-referral form: anonymous, known by the id of their waiting self-referral
    (`self:<id>`, as the referral's history names them once it is made)."""
    return Principal(subject=f"self:{pending_id}", role="resident")


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


def as_utc(moment: datetime | None) -> datetime | None:
    """A stored time as UTC with its offset (SQLite hands it back naive), or None."""
    return _aware(moment) if moment else None


# --- lifecycle actions --------------------------------------------------------------------------


def snapshot(referral: Referral) -> Snapshot:
    return Snapshot(
        status=Status(referral.status), version=referral.version, referrer_org_id=referral.referrer_org_id,
        assigned_org_id=referral.assigned_org_id, referrer_subject=referral.referrer_subject,
        submitted_on=uk_today(_aware(referral.submitted_at)), business_status=referral.business_status, assigned_adviser=referral.assigned_adviser,
        held_from=Status(referral.held_from) if referral.held_from else None,
        attempts=tuple(Attempt(a.channel, a.result) for a in referral.attempts),
        outcome_count=len(referral.outcomes))


def snapshot_lite(referral: Referral) -> Snapshot:
    """Enough to work out who the reader is (no contact attempts or outcomes needed)."""
    return Snapshot(status=Status(referral.status), version=referral.version,
                    referrer_org_id=referral.referrer_org_id, assigned_org_id=referral.assigned_org_id)


ERASED = "The person's details were erased from this referral: it is kept for insights and audit only."

# The explanation a hold ("other") and a resume require, kept with the adviser's case notes.
HOLD_NOTES = {"put_on_hold": ("text", "Put on hold"), "resume": ("note", "Resumed")}


def act(session: Session, outbox: Outbox, settings: ReferralSettings, referral: Referral, action: str,
        actor: Actor, data: Mapping[str, Any], *, expected_version: int | None, now: datetime) -> domain.Decision:
    """Apply one lifecycle action: rules, change, history and events, in the caller's transaction."""
    if referral.erased_at is not None:
        raise Conflict(ERASED)
    decision = domain.decide(snapshot(referral), action, actor, data, expected_version=expected_version, now=now,
                             failed_contact_attempts=settings.failed_contact_attempts)
    if "assigned_adviser" in decision.updates:
        _refuse_an_unknown_adviser(session, referral, decision.updates["assigned_adviser"], actor)
    before = referral.status
    news = _person_news(referral, decision, now)
    updates = dict(decision.updates)
    attempt, outcome = updates.pop("attempt", None), updates.pop("outcome", None)
    updates.pop("attempted_at", None)
    adviser_before = (referral.assigned_adviser, referral.assigned_adviser_name)
    for name, value in updates.items():
        setattr(referral, name, value.value if isinstance(value, Status) else value)
    if "assigned_adviser" in updates:
        referral.assigned_adviser_name = _adviser_name(referral.assigned_adviser, actor, *adviser_before)
    remember_organisation_name(session, actor, now)
    remember_adviser(session, actor, now)
    referral.status, referral.business_status = decision.status.value, decision.business_status
    if data.get("text") and action in ("reject", "cancel", "enter_in_error"):
        referral.status_text = data["text"]
    if action in HOLD_NOTES and data.get(HOLD_NOTES[action][0]):  # what the action asked for is kept, as a case note
        field, heading = HOLD_NOTES[action]
        add_note(session, referral, actor, f"{heading}: {data[field]}", now)
    if attempt:
        referral.attempts.append(ContactAttempt(channel=attempt.channel, result=attempt.result,
                                                attempted_at=now, by=actor.subject, by_name=actor.name,
                                                by_role=actor.role))
        referral.first_attempt_at = referral.first_attempt_at or now
    if action == "make_first_contact":
        referral.first_attempt_at = referral.first_attempt_at or now
    if outcome:
        _add_outcome(session, referral, outcome, actor, now)
    link = _link_told_late(referral, news, now)
    referral.updated_at = now
    session.flush()  # bumps the version; a concurrent writer's flush fails with StaleDataError
    # The reason code of the move: why it was put on hold, or why it closed.
    reason = referral.hold_reason if action == "put_on_hold" else referral.status_reason
    _history(session, referral, action, before, actor, now, reason=reason if before != referral.status else None)
    for step in decision.events:
        if step == "outcome_recorded":
            _publish_outcome(session, outbox, referral, outcome, now)
        elif step == "feedback_ready":
            _publish_feedback(session, outbox, referral, now)
        else:
            _publish_lifecycle(session, outbox, referral, step, now, reason=reason
                               if step in ("rejected", "cancelled", "failed", "completed", "put_on_hold") else None)
    for step, code in news:
        _tell_person(session, outbox, referral, code, step, now, link if step == "received" else None)
    return decision


def _add_outcome(session: Session, referral: Referral, outcome: dict, actor: Actor, now: datetime) -> None:
    if check_weeks := outcome.get("sustainment_check_weeks"):
        _refuse_an_unfounded_check(session, referral, outcome, check_weeks)
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


def _refuse_an_unfounded_check(session: Session, referral: Referral, outcome: dict, weeks: int) -> None:
    """An outcome may be a sustainment check only of a job start recorded here, on or after the check is due."""
    check = session.get(SustainmentCheck, (referral.id, weeks))
    due_on = None if check is None or outcome["type"] == "job_start" else check.due_on  # a job start starts them
    problem = domain.sustainment_check_problem(weeks, due_on, outcome["occurred_on"])
    if problem:
        raise domain.MissingData({"sustainment_check_weeks": problem})


def add_note(session: Session, referral: Referral, actor: Actor, text: str, now: datetime) -> Note:
    if referral.status == Status.ENTERED_IN_ERROR:
        raise domain.IllegalTransition("A referral entered in error takes no notes.")
    if referral.consent_withdrawn_at:
        raise Conflict("The person withdrew their consent: nothing more is recorded about them on this referral.")
    if referral.erased_at is not None:
        raise Conflict(ERASED)
    note = Note(referral_id=referral.id, text=text, by=actor.subject, by_org=actor.organisation, by_name=actor.name,
                by_role=actor.role, written_at=now)
    referral.notes.append(note)
    remember_organisation_name(session, actor, now)
    remember_adviser(session, actor, now)
    return note


def _adviser_name(adviser: str | None, actor: Actor, before: str | None, name_before: str | None) -> str | None:
    """The assigned adviser's display name: their own token's when they took the referral on themselves, kept
    while the same adviser stays; unknown when someone else assigned them (that token names the assigner)."""
    kept = name_before if adviser == before else None
    return (actor.name or kept) if adviser == actor.subject else kept


def remember_organisation_name(session: Session, actor: Actor, now: datetime) -> None:
    """Keep the name the actor's token gives their organisation, so another organisation reads it instead of an
    id (the directory's events carry none)."""
    org_names.remember(session, OrganisationName.__table__, actor.organisation, actor.organisation_name, now)


# How stale an adviser's last seen may get before a read moves it on: a day, so a page view writes nothing.
ROSTER_SEEN_EVERY = timedelta(days=1)
NOT_ON_ROSTER = ("is not an adviser of this organisation known here: advisers are known once they have signed in "
                 "to referrals; name one of them, or send claim: true to take it yourself")


def remember_adviser(session: Session, actor: Actor, now: datetime) -> None:
    """Put the acting adviser on their organisation's roster (Adviser), with their token's display name: once when
    first seen, again when their name changes, else at most once a day (ROSTER_SEEN_EVERY). Read first, as
    remember_organisation_name does: an upsert on every page view would write (and lock the row) each time."""
    if actor.role != "adviser" or not actor.organisation or actor.via_person_link:
        return
    with session.no_autoflush:  # an action's changes so far are flushed once, by the action (one version step)
        known = session.execute(sa.select(Adviser.name, Adviser.last_seen_at).where(
            Adviser.org_id == actor.organisation, Adviser.subject == actor.subject)).first()
    if known and (actor.name is None or actor.name == known.name) \
            and as_utc(known.last_seen_at) > now - ROSTER_SEEN_EVERY:
        return
    table = Adviser.__table__
    insert = (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(table)
    insert = insert.values(org_id=actor.organisation, subject=actor.subject, role=actor.role, name=actor.name,
                           last_seen_at=now)
    changes = {"role": insert.excluded.role, "last_seen_at": insert.excluded.last_seen_at}
    if actor.name:  # a token without a name leaves the one known
        changes["name"] = insert.excluded.name
    session.execute(insert.on_conflict_do_update(index_elements=[table.c.org_id, table.c.subject], set_=changes))


def _refuse_an_unknown_adviser(session: Session, referral: Referral, adviser: str, actor: Actor) -> None:
    """Accept and assign name the actor, the adviser who already holds the referral, or an adviser on the referral's
    organisation's roster: never a login id nobody there is known by (422 on `adviser_id`)."""
    if adviser in (actor.subject, referral.assigned_adviser):
        return
    # Read before the action changes anything: nothing to flush.
    if referral.assigned_org_id and session.scalar(sa.select(Adviser.subject).where(
            Adviser.org_id == referral.assigned_org_id, Adviser.subject == adviser, Adviser.role == "adviser")):
        return
    raise domain.MissingData({"adviser_id": NOT_ON_ROSTER})


def roster(session: Session, org_id: str | None) -> list[tuple[str, str | None]]:
    """An organisation's known advisers as (login id, display name or None), by name then login id."""
    if not org_id:
        return []
    found = session.execute(sa.select(Adviser.subject, Adviser.name).where(
        Adviser.org_id == org_id, Adviser.role == "adviser")).all()
    return sorted(((subject, name) for subject, name in found), key=lambda a: ((a[1] or a[0]).casefold(), a[0]))


def adviser_names(session: Session, referrals: Iterable[Referral]) -> dict[tuple[str, str], str]:
    """The roster's display names of these referrals' assigned advisers, by (organisation id, login id); one
    without a name is left out. One statement, whatever the number of referrals."""
    wanted = {(r.assigned_org_id, r.assigned_adviser) for r in referrals if r.assigned_org_id and r.assigned_adviser}
    if not wanted:
        return {}
    found = session.execute(sa.select(Adviser.org_id, Adviser.subject, Adviser.name).where(
        Adviser.org_id.in_({org for org, _ in wanted}), Adviser.subject.in_({sub for _, sub in wanted}),
        Adviser.name.is_not(None)))
    return {(org, sub): name for org, sub, name in found if (org, sub) in wanted}


def organisation_names(session: Session, org_ids: Iterable[str | None]) -> dict[str, str]:
    """The names known for these organisation ids (remember_organisation_name); an id with none is left out."""
    return org_names.names_of(session, OrganisationName.__table__, org_ids)


def withdraw_consent(session: Session, outbox: Outbox, settings: ReferralSettings, referral: Referral,
                     now: datetime) -> None:
    """Withdrawal stops onward sharing and cancels an open referral (system action).

    The person may have consented again meanwhile (a new request from their GP, a self-referral).
    That referral travels on another key, so it can be handled before this withdrawal and be linked
    automatically as a duplicate of the referral withdrawn here; it is the live one now, so its link
    is re-made as if it had arrived after the withdrawal (release_duplicates). The person's intake
    locks are held first (PostgreSQL), so an intake running at the same moment either finishes
    before (and its link is re-made here) or starts after (and finds this referral closed).
    Callers that lock the referral's row take the person's locks before it (lock_person_first) and lock
    it FOR NO KEY UPDATE, never FOR UPDATE: that intake's insert names this row in a foreign key
    (FOR KEY SHARE), which FOR UPDATE would block while we wait for the intake's person lock."""
    if referral.consent_withdrawn_at:
        return
    lock_person(session, referral)
    referral.consent_withdrawn_at = now
    referral.outcomes_to_referrer = False
    drop_unsent_person_messages(session, outbox, referral)
    revoke_person_messages(session, outbox, referral, now)
    if referral.status in OPEN_VALUES:
        session.flush()
        act(session, outbox, settings, referral, "cancel", SYSTEM, {"reason": domain.CONSENT_WITHDRAWN},
            expected_version=referral.version, now=now)
    else:
        referral.updated_at = now
    release_duplicates(session, referral, now)


def drop_unsent_person_messages(session: Session, outbox: Outbox, referral: Referral) -> int:
    """Status emails about this referral still waiting in the outbox (the broker was down, or the relay
    has not run yet) would hand the person's address to notifications after they withdrew: drop them.
    One already on its way to Kafka cannot be called back. Messages about the person's other referrals
    stay. Returns how many were dropped."""
    table = outbox.table
    waiting = session.execute(sa.select(table.c.position, table.c.payload).where(
        table.c.type == "notifications.person_message.requested", table.c.sent_at.is_(None),
        table.c.aggregateid == str(person_id(referral.match_key)))).all()
    about_it = [position for position, payload in waiting
                if json.loads(payload)["data"].get("referral_id") == str(referral.id)]
    if not about_it:
        return 0
    # still unsent: one the relay sent meanwhile keeps its row, as sent history
    return session.execute(table.delete().where(table.c.position.in_(about_it), table.c.sent_at.is_(None))).rowcount


def revoke_person_messages(session: Session, outbox: Outbox, referral: Referral, now: datetime) -> None:
    """Messages already handed to notifications (waiting for a retry after an SMTP outage, dead-lettered
    and re-sendable) must not reach the person either: tell notifications the consent is withdrawn
    (restricted, ids only). Same topic and key (person_id) as the messages, so it is read after them."""
    if referral.updates_consent_id is None or not referral.person_updates:
        return  # no message was ever asked for (or none could name the consent: an intake from before it had one)
    outbox.publish(session, "notifications.person_messages.revoked", {
        "consent_id": referral.updates_consent_id, "person_id": person_id(referral.match_key),
        "referral_id": referral.id, "revoked_at": now}, subject=str(referral.id))


def release_duplicates(session: Session, original: Referral, now: datetime) -> int:
    """Open referrals linked automatically to `original`, which is closed now: each is linked to the
    person's open referral submitted before it (what the intake would have found with `original`
    closed), or to none. A link a referrer made with a reason is theirs and stays. Audited, in the
    history; returns how many changed."""
    linked = session.scalars(sa.select(Referral).where(
        Referral.duplicate_of_id == original.id, Referral.duplicate_reason == AUTO_LINK_REASON,
        Referral.status.in_(OPEN_VALUES)).order_by(Referral.submitted_at, Referral.id)
        .with_for_update(key_share=True)).all()
    for referral in linked:
        earlier = _earlier_open_referral(session, referral, but_not=original.id)
        referral.duplicate_of_id = earlier
        referral.duplicate_reason = AUTO_LINK_REASON if earlier else None
        referral.updated_at = now
        session.flush()
        _history(session, referral, "relink_duplicate" if earlier else "unlink_duplicate", referral.status,
                 SYSTEM, now)
        _AUDIT.record(session, action="update", resource_type="referral", resource_id=str(referral.id),
                      person_id=str(referral.id), purpose="duplicate link: the referral it named was closed",
                      principal=_SYSTEM_PRINCIPAL)
    return len(linked)


def _earlier_open_referral(session: Session, referral: Referral, *, but_not: uuid.UUID) -> uuid.UUID | None:
    """The person's earliest open referral submitted before `referral`, to the service it asked for
    (any, if it named none): the duplicate rule of intake (_duplicate_query), looking back from it."""
    same_person = Referral.match_key == referral.match_key
    if referral.nhs_number:
        same_person = sa.or_(same_person, Referral.nhs_number == referral.nhs_number)
    query = sa.select(Referral.id).where(same_person, Referral.status.in_(OPEN_VALUES),
                                         Referral.id.notin_((referral.id, but_not)),
                                         Referral.submitted_at < referral.submitted_at)
    if requested := referral.requested_service_id:
        query = query.where(for_service(requested))
    return session.scalar(query.order_by(Referral.submitted_at).limit(1))


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


def _publish_lifecycle(session: Session, outbox: Outbox, referral: Referral, step: str, now: datetime,
                       reason: str | None = None):
    outbox.publish(session, f"referrals.referral.{step}", _lifecycle_data(referral, step, now, reason),
                   subject=str(referral.id))


def _lifecycle_data(referral: Referral, step: str, now: datetime, reason: str | None = None) -> dict[str, Any]:
    # Broadcast, and the referrer's services (adjustments) show it: no outcome the person kept from them.
    shared = bool(referral.outcomes_to_referrer)
    return {**_ids(referral), "status": referral.status,
            "business_status": domain.unless_outcome(referral.business_status, shared),
            "reason": domain.unless_outcome(reason, shared), "suggestion_id": referral.suggestion_id, "version": referral.version,
            "occurred_at": now}


def _person_news(referral: Referral, decision: domain.Decision, now: datetime) -> list[tuple[str, str]]:
    """(step, message code) for each of an action's steps the person hears about (domain.person_message),
    judged on the referral as it was before the action. Nothing unless they agreed to status emails and
    have not withdrawn consent."""
    if not tells_person(referral):
        return []
    accepted_at = as_utc(decision.updates.get("accepted_at", referral.accepted_at))
    news = ((step, domain.person_message(step, told_received=referral.received_message_at is not None,
                                         accepted_at=accepted_at, had_adviser=referral.assigned_adviser is not None,
                                         now=now)) for step in decision.events)
    return [(step, code) for step, code in news if code]


def _tell_person(session: Session, outbox: Outbox, referral: Referral, code: str, step: str, now: datetime,
                 link: str | None = None) -> None:
    """Tell the person who agreed to status emails (a self-referrer with a verified email; a GP's patient
    whose consent says so) how it is going: a restricted event with a coded, general message - never
    details - and the id of the service it is with, whose public page the email links; the first one
    carries their private `link`."""
    outbox.publish(session, "notifications.person_message.requested", {
        "message_id": uuid.uuid5(referral.id, f"{step}:{referral.version}"),
        "person_id": person_id(referral.match_key), "consent_id": referral.updates_consent_id,
        "message_code": code, "contact": {"channel": "email", "address": referral.email},
        "referral_id": referral.id, "service_id": referral.service_id, "requested_at": now,
        **({"status_link": status_page(link)} if link else {})}, subject=str(referral.id))


def tells_person(referral: Referral) -> bool:
    return bool(referral.person_updates and referral.email and not referral.consent_withdrawn_at)


def may_answer_status_emails(referral: Referral) -> bool:
    """The person can start or stop status emails while consent stands and we hold an address to send them to."""
    return bool(referral.email and not referral.consent_withdrawn_at)


def answer_status_emails(session: Session, outbox: Outbox, settings: ReferralSettings, referral: Referral,
                         wanted: bool, now: datetime) -> bool:
    """The person starts or stops status emails on their page; returns whether the answer changed. Stopping is
    as thorough as withdrawing consent is for them: the messages still in the outbox are dropped and those
    notifications holds are revoked. Agreeing again is a new consent with an id of its own (notifications never
    sends under a revoked one). Changes are rate limited (limit_status_email_changes); a press that changes
    nothing is not counted."""
    if not may_answer_status_emails(referral):
        raise Conflict("There is no email address to send updates to, or you withdrew your consent.")
    if wanted == referral.person_updates:
        return False
    limit_status_email_changes(session, settings, referral, now)
    answer = {"person_updates": wanted, "person_updates_at": now, "person_updates_how": ON_THE_STATUS_PAGE}
    if wanted:
        answer["updates_consent_id"] = uuid.uuid4()
    else:
        drop_unsent_person_messages(session, outbox, referral)
        revoke_person_messages(session, outbox, referral, now)
    _answer_unversioned(session, referral, answer)
    _history(session, referral, STATUS_EMAIL_STEPS[wanted], referral.status,
             Actor(f"person-link:{referral.id}", "resident", via_person_link=True), now)
    return True


STATUS_EMAIL_STEPS = {True: "start_status_emails", False: "stop_status_emails"}  # the person's answer, in the history


def _answer_unversioned(session: Session, referral: Referral, answer: dict[str, Any]) -> None:
    """The person's answer about status emails, written to its own columns by primary key, not through the versioned
    row (version_id_col): it is their consent choice, shown in the history (a step at the version it leaves as it
    was), not a change an adviser with the referral's form open must read again before saving - nothing an adviser
    saves writes these columns. Guarded instead on what the answer was made against, so a second press or a
    withdrawal of consent that committed meanwhile is not overwritten: 409 (the caller's transaction rolls back)."""
    table = Referral.__table__
    answered = session.execute(sa.update(table).where(
        table.c.id == referral.id, table.c.person_updates == referral.person_updates,
        table.c.consent_withdrawn_at.is_(None)).values(**answer, updated_at=table.c.updated_at))  # not onupdate's now
    if answered.rowcount != 1:
        raise Conflict("Your answer about emails changed meanwhile. Open your page again to see it.")
    for column, value in answer.items():
        set_committed_value(referral, column, value)


def status_page(link: str) -> str:
    """The person's status page for their private link (the JSON API for it is /status/<link>)."""
    return f"/my-referral/{link}"


def _link_told_late(referral: Referral, news: list[tuple[str, str]], now: datetime) -> str | None:
    """A referral taken in before the person was told at intake (migration 0015) is told "received" when
    the adviser organisation first receives it, as it was then: with a fresh private link (the one made at
    intake was given to no one), unless they referred themselves and already hold theirs."""
    if not any(step == "received" for step, _ in news):
        return None
    referral.received_message_at = now
    if referral.source == "self":
        return None
    return _new_status_link(referral, now)


def _new_status_link(referral: Referral, now: datetime) -> str:
    """A new private link for the person: the one before stops working (only its hash was kept)."""
    link = secrets.token_urlsafe(24)
    referral.status_link_hash, referral.status_link_issued_at = hash_secret(link), now
    return link


def _renew_link_unversioned(session: Session, referral: Referral, now: datetime) -> str:
    """A new link the person asked for, written to the two link columns alone, by primary key under the row lock the
    caller holds: not through the versioned row (version_id_col), as a renewal is not a change to the referral an
    adviser has to read again - their open form would be refused as stale with no step in the history to say why.
    Nothing else writes these columns of a referral a renewal finds (_link_told_late only of one never told), and an
    adviser's save writes only the columns it changes, so neither undoes the other."""
    link = secrets.token_urlsafe(24)
    link_hash = hash_secret(link)
    session.execute(sa.update(Referral.__table__).where(Referral.__table__.c.id == referral.id).values(
        status_link_hash=link_hash, status_link_issued_at=now, status_link_renewed_at=now,
        updated_at=Referral.__table__.c.updated_at))  # not an update of the referral (onupdate would say it was)
    for column, value in (("status_link_hash", link_hash), ("status_link_issued_at", now),
                          ("status_link_renewed_at", now)):
        set_committed_value(referral, column, value)
    return link


def status_link_expires_at(referral: Referral, settings: ReferralSettings) -> datetime:
    """When the person's link stops working: REFERRALS_STATUS_LINK_MAX_DAYS after it was made whatever the
    referral's state, and REFERRALS_STATUS_LINK_DAYS_AFTER_END after the referral ended - counted from the link
    if it was made later, so a new link for an ended referral works that long too."""
    issued = as_utc(referral.status_link_issued_at or referral.submitted_at)
    expires = issued + timedelta(days=settings.status_link_max_days)
    if referral.status not in OPEN_VALUES and referral.closed_at is not None:
        ended = max(as_utc(referral.closed_at), issued)
        expires = min(expires, ended + timedelta(days=settings.status_link_days_after_end))
    return expires


def status_link_works(referral: Referral, settings: ReferralSettings, now: datetime) -> bool:
    return now < status_link_expires_at(referral, settings)


STATUS_LINK_MESSAGE = "status_link_renewed"  # notifications' email with a new link the person asked for


NEW_LINK_PURPOSE = "new status link emailed"  # each renewal's audit entry, as the person's update of the referral


def request_status_links(session: Session, settings: ReferralSettings, email: str, now: datetime) -> None:
    """The person asked for new links at this address (POST /status-links, the page /new-link): one waiting request
    and nothing else, whatever the address matches - the new-links job renews and emails them
    (send_requested_links). So a match and a miss do the same work - the same rows written, no referral read -: an
    answer that came back slower, or wrote more, for a match would tell anyone whether an address has a referral.
    The request keeps the address's keyed mailbox under every key still set (a rotation may not have re-keyed the
    referral yet: rekeying.py), never the address."""
    keys = [mailbox_key(email, key) for key in (settings.person_key, *settings.previous_person_keys)]
    session.execute(StatusLinkRequest.__table__.insert(), {"mailbox_keys": keys, "requested_at": now})


def send_requested_links(session: Session, outbox: Outbox, settings: ReferralSettings, now: datetime) -> bool:
    """The new-links job's step: the oldest waiting request (PostgreSQL: one another replica holds is skipped) gets
    the links of the referrals followed at its mailbox renewed and emailed (renew_status_links), each audited as the
    person's update of the referral, and is forgotten, all in the caller's transaction. Whether there was one."""
    waiting = session.scalars(sa.select(StatusLinkRequest).order_by(StatusLinkRequest.id).limit(1)
                              .with_for_update(skip_locked=True)).first()
    if waiting is None:
        return False
    renewed = renew_status_links(session, outbox, waiting.mailbox_keys, f"{waiting.id}:{now.isoformat()}",
                                 as_utc(waiting.requested_at), now,
                                 repeat_window=timedelta(minutes=settings.status_link_repeat_minutes))
    for referral in renewed:
        _AUDIT.record(session, action="update", resource_type="referral", resource_id=str(referral.id),
                      person_id=str(referral.id), purpose=NEW_LINK_PURPOSE,
                      principal=Principal(subject=f"person-link:{referral.id}", role="resident"))
    session.delete(waiting)
    return True


# A referral whose person may get a new status link by email (renew_status_links; the page /new-link): an address
# held for them, their link followed there (a self-referral's verified email, or the first email's), consent standing.
_RENEWABLE_LINK = (Referral.mailbox_key.is_not(None), Referral.consent_withdrawn_at.is_(None),
                   Referral.erased_at.is_(None), Referral.status_link_hash.is_not(None),
                   sa.or_(Referral.source == "self", Referral.received_message_at.is_not(None)))


def may_renew_status_link(session: Session, referral: Referral) -> bool:
    """Whether asking /new-link would email this referral's person a new link (by renew_status_links' own rule):
    their status page then says so, instead of calling its address their only way back."""
    return session.scalar(sa.select(sa.exists().where(Referral.id == referral.id, *_RENEWABLE_LINK)))


def renew_status_links(session: Session, outbox: Outbox, mailbox_keys: list[str], request: str,
                       requested_at: datetime, now: datetime, repeat_window: timedelta = timedelta(0)
                       ) -> list[Referral]:
    """The person asked for a new link: each referral whose link was theirs at this mailbox (a self-referral's
    verified email, or the address the first email took it to) gets a new one, emailed to the address we hold -
    never to the one typed - and the old link stops working. None for a referral whose consent was withdrawn or
    whose details were erased, nor for one whose link was renewed and emailed less than `repeat_window` before this
    request was made (or after it: that request waited in the same queue): a second email in quick succession
    would only kill the first one's link before it was read. Returns those renewed. `request` tells this request's
    messages apart."""
    # By the keyed mailbox alone (an index lookup): no other person's address is read, and a miss reads nothing.
    followed = (sa.select(Referral).where(Referral.mailbox_key.in_(mailbox_keys), *_RENEWABLE_LINK)
                .order_by(Referral.submitted_at).with_for_update())
    renewed = []
    for referral in session.scalars(followed).all():
        if repeat_window and _renewed_since(referral, requested_at - repeat_window):
            continue  # the link emailed moments ago still works: a second email would only replace it
        link = _renew_link_unversioned(session, referral, now)
        # Under the status emails' consent while it stands (a withdrawal or stop revokes it at notifications); a
        # person who stopped them, or was never asked, asked for this one email themselves: a consent of its own.
        consent_id = referral.updates_consent_id if tells_person(referral) else uuid.uuid4()
        outbox.publish(session, "notifications.person_message.requested", {
            "message_id": uuid.uuid5(referral.id, f"status-link:{request}"),
            "person_id": person_id(referral.match_key), "consent_id": consent_id,
            "message_code": STATUS_LINK_MESSAGE, "contact": {"channel": "email", "address": referral.email},
            "referral_id": referral.id, "service_id": referral.service_id, "requested_at": requested_at,
            "status_link": status_page(link)}, subject=str(referral.id))
        renewed.append(referral)
    return renewed


def _renewed_since(referral: Referral, since: datetime) -> bool:
    """Whether a link the person asked for was made and emailed after `since` (under the row lock the renewal holds:
    a replica handling a request for the same referral meanwhile has committed its renewal, or waits for ours)."""
    renewed = referral.status_link_renewed_at
    return renewed is not None and as_utc(renewed) > since


def limit_status_link_requests(session: Session, settings: ReferralSettings, email: str,
                               client_ip: str | None, now: datetime) -> None:
    """Requests for a new status link are limited as self-referral starts are (each may send an email): per
    mailbox and per client IP, in the same sliding window. Counted whether or not the address matched anything,
    so the limit says nothing about it either."""
    limits = [(f"status-link:{mailbox(email)}", settings.self_referral_limit_contact)]
    if client_ip:
        limits.append((f"status-link-ip:{client_ip}", settings.self_referral_limit_ip))
    take_rate_limit(session, limits, timedelta(seconds=settings.self_referral_window_seconds), now,
                    (settings.person_key, *settings.previous_person_keys))


def _publish_outcome(session: Session, outbox: Outbox, referral: Referral, outcome: dict, now: datetime) -> None:
    # Its audience is the referrer (notifications' referrer_org): an outcome goes back only if the person
    # agreed, and never after they withdrew consent (withdrawal also clears outcomes_to_referrer).
    if not referral.outcomes_to_referrer or referral.consent_withdrawn_at:
        return
    outbox.publish(session, "referrals.referral.outcome_recorded", {
        **_ids(referral), "status": referral.status, "outcome_type": outcome["type"],
        "occurred_on": outcome["occurred_on"], "hours_band": outcome.get("hours_band"),
        "sustainment_check_weeks": outcome.get("sustainment_check_weeks"), "version": referral.version,
        "occurred_at": now}, subject=str(referral.id))


def _publish_feedback(session: Session, outbox: Outbox, referral: Referral, now: datetime) -> None:
    if referral.consent_withdrawn_at or referral.source == "self":
        return  # withdrawal stops onward sharing; a self-referral has no referrer to tell
    shareable = referral.outcomes_to_referrer
    outbox.publish(session, "referrals.referral.feedback_ready", {
        "referral_id": referral.id, "referrer_org_id": referral.referrer_org_id, "status": referral.status,
        "reason": domain.unless_outcome(referral.status_reason, shareable), "request_id": referral.request_id,
        "outcome_types": sorted({o.type for o in referral.outcomes}) if shareable else [],
        "outcomes_shareable": shareable, "occurred_at": now}, subject=str(referral.id))


def adviser_services(session: Session, organisation: str | None) -> list[RoutingService]:
    """The routing read model's services of one organisation (None: every organisation's)."""
    query = sa.select(RoutingService).where(RoutingService.active.is_(True)).order_by(RoutingService.service_id)
    if organisation is not None:
        query = query.where(RoutingService.organization_id == _as_uuid_or_none(organisation))
    return list(session.scalars(query))


def set_intake(session: Session, outbox: Outbox, settings: ReferralSettings, service_id: uuid.UUID,
               organisation: str | None, accepting: bool, now: datetime) -> RoutingService | None:
    """An adviser organisation pauses or resumes new referrals to one of its services (None: not one
    of `organisation`'s; alliance admins pass None for any). Paused, routing passes the service by - a
    referral naming it, or that no other service can take, is held for the alliance, never dropped -
    and the next capacity summary tells the directory. Referrals it already has stay with it.
    Resumed, the held referrals it can take are routed to it at once."""
    service = session.get(RoutingService, service_id, with_for_update=True)
    if service is None or not service.active or (
            organisation is not None and service.organization_id != _as_uuid_or_none(organisation)):
        return None
    resumed = accepting and not service.accepting_referrals
    service.accepting_referrals = accepting
    session.flush()
    if resumed:
        route_waiting(session, outbox, settings, now)
    return service


def _as_uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


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
    # Every service's last figures in one query (one per service before: a query per directory listing).
    snapshots = {snapshot.service_id: snapshot for snapshot in session.scalars(sa.select(CapacitySnapshot))}
    for service_id, service in services_by_id.items():
        figures = {"accepting_referrals": bool(service.active and service.accepting_referrals),
                   "open_referrals": open_counts.get(service_id, 0),
                   "typical_wait_days": typical_wait(waits.get(service_id, []))}
        last = snapshots.get(service_id)
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


def typical_wait(waits: list[float]) -> int | None:
    """The median days to first contact, unless fewer referrals make it than insights publish a median of: the
    directory shows it to residents, and from one referral it is that person's own wait, sent minutes after their
    first contact."""
    return round(statistics.median(waits)) if len(waits) >= SMALL else None


# --- clocks --------------------------------------------------------------------------------------


def clock_state(referral: Referral, now: datetime) -> domain.ClockState:
    return _clock_state(referral, referral.transitions, now)


def _clock_state(referral: Any, steps: Iterable[Any], now: datetime) -> domain.ClockState:
    """The clocks of a referral (a Referral, or a row of CLOCK_COLUMNS) from its history in order (its steps, or
    only those that route it or put it on or off hold, CLOCK_STEPS: the only ones read here)."""
    steps = list(steps)
    return domain.ClockState(submitted_at=_aware(referral.submitted_at),
                             acknowledged_at=_maybe(referral.acknowledged_at),
                             accepted_at=_maybe(referral.accepted_at),
                             first_attempt_at=_maybe(referral.first_attempt_at),
                             first_contact_at=_maybe(referral.first_contact_at),
                             holds=_hold_periods(steps, now), awaiting_route=referral.routing == "held",
                             routed_at=max((_aware(t.occurred_at) for t in steps if t.action == "route"),
                                           default=None))


def hold_periods(referral: Referral, now: datetime) -> tuple[tuple[datetime, datetime], ...]:
    return _hold_periods(referral.transitions, now)


def _hold_periods(steps: Iterable[Any], now: datetime) -> tuple[tuple[datetime, datetime], ...]:
    """(put on hold, left the hold) from the history; a hold still going ends now (the clocks are paused)."""
    periods, held = [], None
    for step in steps:
        if step.to_status == Status.ON_HOLD and step.from_status != Status.ON_HOLD:
            held = _aware(step.occurred_at)
        elif step.from_status == Status.ON_HOLD and step.to_status != Status.ON_HOLD and held:
            periods.append((held, _aware(step.occurred_at)))
            held = None
    if held:
        periods.append((held, now))
    return tuple(periods)


def _maybe(moment: datetime | None) -> datetime | None:
    return _aware(moment) if moment else None


def breaching(referral: Referral, settings: ReferralSettings, now: datetime) -> list[str]:
    return _breaching(referral, referral.transitions, settings, now)


def _breaching(referral: Any, steps: Iterable[Any], settings: ReferralSettings, now: datetime) -> list[str]:
    if referral.status not in OPEN_VALUES or referral.status == Status.ON_HOLD:
        return []  # the clocks stop when a referral closes or is paused
    return domain.breached_clocks(_clock_state(referral, steps, now), settings.clocks, now)


# What the breach sweep reads of a referral (every open one, each pass): the columns its clocks and its sla_breached
# event need, not the whole row with the person's details; and of its history only the steps the clocks read -
# routing and holds (_clock_state) - with the columns they read. Whole referrals and their whole history were most
# of a pass's time at 30,000 referrals.
CLOCK_COLUMNS = (Referral.id, Referral.status, Referral.routing, Referral.submitted_at, Referral.acknowledged_at,
                 Referral.accepted_at, Referral.first_attempt_at, Referral.first_contact_at, Referral.assigned_org_id,
                 Referral.service_id)
CLOCK_STEPS = sa.or_(Transition.action == "route", Transition.to_status == Status.ON_HOLD.value,
                     Transition.from_status == Status.ON_HOLD.value)


def _with_clock_steps(session: Session, referrals: list[Any]) -> list[tuple[Any, list[Any]]]:
    """Each referral (a row of CLOCK_COLUMNS) with its CLOCK_STEPS, in order: one query for them all."""
    steps: dict[uuid.UUID, list[Any]] = {referral.id: [] for referral in referrals}
    if steps:
        for step in session.execute(
                sa.select(Transition.referral_id, Transition.action, Transition.from_status, Transition.to_status,
                          Transition.occurred_at)
                .where(Transition.referral_id.in_(list(steps)), CLOCK_STEPS).order_by(Transition.id)):
            steps[step.referral_id].append(step)
    return [(referral, steps[referral.id]) for referral in referrals]


def breach_candidates(session: Session, settings: ReferralSettings, now: datetime, after: uuid.UUID | None,
                      limit: int) -> tuple[list[uuid.UUID], uuid.UUID | None]:
    """One page of the open referrals (by id, after `after`): those with a clock breached and not yet flagged,
    and where the next page starts (None: this was the last). The clock job reads them outside the write
    lock, then detect_breaches decides again for them under it."""
    query = sa.select(*CLOCK_COLUMNS).where(Referral.status.in_(OPEN_VALUES)).order_by(Referral.id).limit(limit)
    page = list(session.execute(query if after is None else query.where(Referral.id > after)))
    flagged = _flagged(session, [referral.id for referral in page])
    due = [referral.id for referral, steps in _with_clock_steps(session, page)
           if any((referral.id, clock) not in flagged for clock in _breaching(referral, steps, settings, now))]
    return due, (page[-1].id if len(page) == limit else None)


def detect_breaches(session: Session, outbox: Outbox, settings: ReferralSettings, now: datetime,
                    among: Collection[uuid.UUID] | None = None) -> list[tuple]:
    """Flag each newly breached clock once and publish sla_breached: of the open referrals `among` (a batch
    the clock job chose from breach_candidates, decided again here from what they hold now: one closed, held
    or flagged since is left alone), or of every open one. The breaches and their events are written in one
    statement each (executemany), not two per breach."""
    query = sa.select(*CLOCK_COLUMNS).where(Referral.status.in_(OPEN_VALUES)).order_by(Referral.id)
    if among is not None:
        query = query.where(Referral.id.in_(list(among)))
    referrals = list(session.execute(query))
    flagged = _flagged(session, None if among is None else [referral.id for referral in referrals])
    found, breaches, events = [], [], []
    for referral, steps in _with_clock_steps(session, referrals):
        new = [clock for clock in _breaching(referral, steps, settings, now) if (referral.id, clock) not in flagged]
        if not new:
            continue
        deadlines = domain.clock_deadlines(_clock_state(referral, steps, now), settings.clocks)
        for clock in new:
            due = deadlines[clock][0]
            breaches.append({"referral_id": referral.id, "clock": clock, "due_at": due, "detected_at": now})
            events.append(outbox.row("referrals.referral.sla_breached", {
                "referral_id": referral.id, "clock": clock, "status": referral.status, "due_at": due,
                "detected_at": now, "assigned_org_id": referral.assigned_org_id,
                "service_id": referral.service_id}, subject=str(referral.id)))
            found.append((referral.id, clock))
    if breaches:
        session.execute(sa.insert(SlaBreach.__table__), breaches)
        session.execute(outbox.table.insert(), events)
    return found


def _flagged(session: Session, referral_ids: list[uuid.UUID] | None) -> set[tuple[uuid.UUID, str]]:
    """The breaches already flagged of these referrals (None: of every referral)."""
    if referral_ids == []:
        return set()
    query = sa.select(SlaBreach.referral_id, SlaBreach.clock)
    if referral_ids is not None:
        query = query.where(SlaBreach.referral_id.in_(referral_ids))
    return {(referral_id, clock) for referral_id, clock in session.execute(query)}


# A check sends an adviser to ask the person whether they are still in work: none once they withdrew consent
# (processing on consent stops), as none once they are erased (rights.erase drops the checks still to do).
CHECKS_ASKED = Referral.consent_withdrawn_at.is_(None)


def due_sustainment_checks(session: Session, organisation: str | None, today, *, limit: int,
                           offset: int = 0) -> tuple[list[SustainmentCheck], int]:
    """One page of the due checks of the referrals assigned to `organisation` (None, the alliance: every
    organisation's), soonest due first, and how many there are in all (an alliance has thousands)."""
    query = (sa.select(SustainmentCheck).join(Referral, Referral.id == SustainmentCheck.referral_id)
             .where(SustainmentCheck.due_on <= today, SustainmentCheck.done_at.is_(None), CHECKS_ASKED))
    if organisation is not None:  # "" matches nothing: never every organisation's
        query = query.where(Referral.assigned_org_id == organisation)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    # Ties on the due day are ordered too, so that pages neither repeat nor skip a check.
    ordered = query.order_by(SustainmentCheck.due_on, SustainmentCheck.referral_id, SustainmentCheck.weeks)
    return list(session.scalars(ordered.limit(limit).offset(offset))), total
