"""Write-side use cases: partner organisations keep their listings current (free of Flask).

Every change writes the HSDS `metadata` trail (who changed which field, from what
to what), refreshes the search index and stages its event in the outbox, all in
the caller's transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from worklink.db import utcnow
from worklink.messaging.outbox import Outbox
from worklink.uktime import UK, uk_today
from worklink_directory import search
from worklink_directory.geocode import Geocoder, PostcodeError
from worklink_directory.models import (Contact, Location, Metadata, Organization, Phone, Schedule, Service,
                                       ServiceArea, ServiceAtLocation, ServiceTerm, TaxonomyTerm)
from worklink_directory.queries import LISTED

SCALARS = ("name", "description", "url", "email", "status", "fees", "is_free", "application_process",
           "minimum_age", "maximum_age", "alert")
DEFAULT_REVIEW_PERIOD = timedelta(days=91)  # ORUK: assured within the last three months
REVIEW_PERIOD_SETTING = "DIRECTORY_REVIEW_PERIOD_DAYS"


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def version(svc: Service) -> str:
    """The listing's version for optimistic locking (HTTP ETag / If-Match, the partner form's hidden
    field): its last change in microseconds. Every write (update, assure, withdraw) moves it."""
    moment = svc.last_modified if svc.last_modified.tzinfo else svc.last_modified.replace(tzinfo=timezone.utc)
    return str((moment - _EPOCH) // timedelta(microseconds=1))


def review_period(env: Mapping[str, str]) -> timedelta:
    """The configured review period: one setting for the review-due job, the CLI and the pages' flags."""
    raw = env.get(REVIEW_PERIOD_SETTING)
    if raw in (None, ""):
        return DEFAULT_REVIEW_PERIOD
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{REVIEW_PERIOD_SETTING} must be a whole number of days, not {raw!r}.")
    return timedelta(days=int(raw))


class DomainError(Exception):
    """A request that breaks a rule; `field` names the offending input, if any."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass
class Editor:
    """Who makes a change (recorded in the metadata trail, which only the listing's owners and alliance admins
    read). No e-mail address: a login is never published (see assure_service)."""

    subject: str


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _trail(session: Session, service_id: uuid.UUID, action: str, field: str, before: Any, after: Any,
           editor: Editor, now: datetime) -> None:
    session.add(Metadata(resource_id=service_id, resource_type="service", last_action_date=now,
                         last_action_type=action, field_name=field, previous_value=_text(before),
                         replacement_value=_text(after), updated_by=editor.subject))


def _terms(session: Session, ids: Iterable[uuid.UUID]) -> list[TaxonomyTerm]:
    ids = list(dict.fromkeys(ids))
    terms = list(session.scalars(sa.select(TaxonomyTerm).where(TaxonomyTerm.id.in_(ids)))) if ids else []
    missing = set(ids) - {t.id for t in terms}
    if missing:
        raise DomainError(f"Unknown taxonomy terms: {', '.join(sorted(map(str, missing)))}.", "taxonomy_term_ids")
    return terms


@dataclass(frozen=True)
class Kind:
    """A listing's child rows of one kind, merged by id so they keep it across edits."""

    field: str  # the input list and the trail's field name
    model: type
    columns: tuple[str, ...]

    def values(self, item: dict) -> dict:
        """An input item as column values (a column it leaves out becomes empty)."""
        values = {column: item.get(column) for column in self.columns}
        if self.model is ServiceArea:
            values["postcode_districts"] = " ".join(dict.fromkeys(item.get("postcode_districts") or []))
        if self.model is Schedule:
            values["freq"] = "WEEKLY"
        return values

    def describe(self, row) -> str:
        return ", ".join(str(getattr(row, c)) for c in self.columns if getattr(row, c) not in (None, ""))


SCHEDULES = Kind("schedules", Schedule, ("byday", "opens_at", "closes_at", "description", "attending_type"))
CONTACTS = Kind("contacts", Contact, ("name", "title", "email"))
PHONES = Kind("phones", Phone, ("number", "description"))
SERVICE_AREAS = Kind("service_areas", ServiceArea, ("name", "extent", "extent_type", "uri", "postcode_districts"))


@dataclass
class Change:
    """One line of the metadata trail."""

    action: str  # create, update or delete
    field: str  # e.g. contacts/<id>/email
    before: Any = None
    after: Any = None


def _merge(session: Session, kind: Kind, rows: list, items: list[dict], path: str = "") -> tuple[list, list[Change]]:
    """`rows` become `items`. An item with the id of one of `rows` updates that row in place; an
    item without an id keeps the id of an unmatched row with exactly its values (so a client
    sending back an unchanged list changes nothing); any other item is a new row."""
    by_id = {row.id: row for row in rows}
    ids = [item["id"] for item in items if item.get("id")]
    if len(ids) != len(set(ids)):
        raise DomainError(f"An item of {kind.field} is listed twice.", kind.field)
    if kind is CONTACTS:  # each contact's phones are merged on their own: one id under two would be two new rows
        phone_ids = [phone["id"] for item in items for phone in item.get("phones") or [] if phone.get("id")]
        if len(phone_ids) != len(set(phone_ids)):
            raise DomainError("A phone number is listed twice.", kind.field)
    for item_id in set(ids) - set(by_id):
        if session.get(kind.model, item_id) is not None:
            raise DomainError(f"{item_id} is not one of this listing's {kind.field}.", kind.field)
    unclaimed = [row for row in rows if row.id not in set(ids)]
    merged, changes = [], []
    for item in items:
        values = kind.values(item)
        row = by_id.get(item.get("id")) or (None if item.get("id") else _same(kind, unclaimed, values))
        if row is None:
            row = kind.model(id=item.get("id") or uuid.uuid4(), **values)
            changes.append(Change("create", f"{path}{kind.field}/{row.id}", None, kind.describe(row)))
        else:
            changes += [Change("update", f"{path}{kind.field}/{row.id}/{column}", getattr(row, column), value)
                        for column, value in values.items() if getattr(row, column) != value]
            for column, value in values.items():
                setattr(row, column, value)
        if kind is CONTACTS:
            row.phones, phone_changes = _merge(session, PHONES, list(row.phones), item.get("phones") or [],
                                               f"{path}{kind.field}/{row.id}/")
            changes += phone_changes
        merged.append(row)
    kept = {row.id for row in merged}
    changes += [Change("delete", f"{path}{kind.field}/{row.id}", kind.describe(row), None)
                for row in rows if row.id not in kept]
    return merged, changes


def _same(kind: Kind, unclaimed: list, values: dict):
    for row in unclaimed:
        if all(getattr(row, column) == value for column, value in values.items()):
            unclaimed.remove(row)
            return row
    return None


def _set_collections(session: Session, svc: Service, data: dict, geocoder: Geocoder) -> list[Change]:
    """Apply the given lists; returns what changed, for the metadata trail."""
    changes: list[Change] = []
    if "taxonomy_term_ids" in data:
        before = sorted(str(a.taxonomy_term_id) for a in svc.attributes)
        kept = {a.taxonomy_term_id: a for a in svc.attributes}  # reuse rows: (service, term) is unique
        svc.attributes = [kept.get(t.id) or ServiceTerm(term=t, taxonomy_term_id=t.id)
                          for t in _terms(session, data["taxonomy_term_ids"])]
        after = sorted(str(a.taxonomy_term_id) for a in svc.attributes)
        if before != after:
            changes.append(Change("update", "taxonomy_term_ids", " ".join(before), " ".join(after)))
    if "delivery_modes" in data:
        modes = ",".join(dict.fromkeys(data["delivery_modes"]))
        if modes != svc.delivery_modes:
            changes.append(Change("update", "delivery_modes", svc.delivery_modes, modes))
        svc.delivery_modes = modes
    for kind in (SCHEDULES, SERVICE_AREAS, CONTACTS):
        if kind.field in data:
            rows, kind_changes = _merge(session, kind, list(getattr(svc, kind.field)), data[kind.field])
            setattr(svc, kind.field, rows)
            changes += kind_changes
    if SERVICE_AREAS.field in data:
        svc.cover_districts()
    if "locations" in data:
        changes += _replace_locations(session, svc, data["locations"], geocoder,
                                      removal_confirmed=data.get(REMOVE_CONFIDENTIAL) is True)
    return changes


LOCATION_FIELDS = {"location_type": "physical", "name": None, "description": None, "latitude": None,
                   "longitude": None, "address_1": None, "city": None, "state_province": None,
                   "postal_code": None, "accessibility": None, "confidential": False}  # column: value when absent


def _replace_locations(session: Session, svc: Service, items: list[dict], geocoder: Geocoder, *,
                       removal_confirmed: bool = False) -> list[Change]:
    """The service's locations become `items`. An item carrying the id of one of the organisation's
    locations updates it in place (ids stay stable for feeds and links, and the service-at-location
    row is kept); a location no longer used by any service is deleted rather than left behind - a confidential
    one only when `removal_confirmed` (confidential_places_forgotten)."""
    ids = [item["id"] for item in items if item.get("id")]
    if len(ids) != len(set(ids)):
        raise DomainError("A location is listed twice.", "locations")
    kept = {sal.location_id: sal for sal in svc.locations}
    before = {sal.location_id: _location_state(sal.location) for sal in svc.locations}
    items = _keep_confidential_places(session, items, svc)
    unconfirmed = [place for place in addresses_to_publish(session, svc, items) if not place.item.get(PUBLISH_ADDRESS)]
    if unconfirmed:
        raise AddressNotConfirmed(unconfirmed)
    if not removal_confirmed and (forgotten := confidential_places_forgotten(session, svc, items)):
        raise RemovalNotConfirmed(forgotten)
    svc.locations = [kept.get(loc.id) or ServiceAtLocation(location=loc)
                     for loc in (_location(session, item, svc.organization_id, geocoder) for item in items)]
    after = {sal.location.id: _location_state(sal.location) for sal in svc.locations}
    session.flush()  # the dropped service_at_location rows go first
    delete_unused_locations(session, set(kept) - {sal.location_id for sal in svc.locations})
    changes = [Change("create", f"locations/{i}", None, _describe(state)) for i, state in after.items()
               if i not in before]
    changes += [Change("delete", f"locations/{i}", _describe(state), None) for i, state in before.items()
                if i not in after]
    changes += [Change("update", f"locations/{i}/{column}", before[i][column], state[column])
                for i, state in after.items() if i in before for column in state if state[column] != before[i][column]]
    return changes


def _keep_confidential_places(session: Session, items: list[dict], svc: Service) -> list[dict]:
    """A new location (no id, or not one of the listing's) sent without `confidential`, at the postcode of
    one of the organisation's confidential places - this listing's or another of its listings' - is taken to
    be that place again: it stays confidential (a client or feed re-sending the refuge's address under another
    id, or under another of the organisation's services, must not publish it)."""
    known = {sal.location_id for sal in svc.locations}

    def unsaid(item: dict) -> bool:  # a new place, not saying whether it is confidential
        return item.get("id") not in known and "confidential" not in item and bool(item.get("postal_code"))

    if not any(unsaid(item) for item in items):
        return items  # no lookup on an ordinary edit
    secret = {postcode_key(sal.location.postal_code) for sal in svc.locations
              if sal.location.confidential and sal.location.postal_code}
    secret |= confidential_postcodes(session, svc.organization_id)
    return [{**item, "confidential": True} if unsaid(item) and postcode_key(item["postal_code"]) in secret else item
            for item in items]


PUBLISH_ADDRESS = "publish_address"  # a location item's acknowledgement that its confidential address goes public


@dataclass
class Publication:
    """A location item that would make a confidential place's address public."""

    index: int  # in the list of locations sent
    item: dict
    place: Location | None  # the confidential place un-marked, or None: a place sent as new at its postcode
    postcode: str


class AddressNotConfirmed(DomainError):
    """A write would publish a confidential place's address (a refuge's) without saying so on purpose: a slip
    there is a safety incident, so it takes an explicit `publish_address: true` on the location."""

    def __init__(self, places: list[Publication]):
        super().__init__(f"This would publish the address of {len(places)} confidential "
                         f"place{'s' if len(places) > 1 else ''}.", "locations")
        self.places = places


def addresses_to_publish(session: Session, svc: Service, items: list[dict]) -> list[Publication]:
    """The location items (as the service layer takes them) that would publish a confidential place's address:
    one of the organisation's confidential places sent with `confidential: false`, or a place sent explicitly
    not confidential, new (or moved) to the postcode of one of them - which the service layer otherwise takes to
    be that place again (_keep_confidential_places)."""
    found, secret = [], None
    for index, item in enumerate(items):
        if item.get("confidential") is not False:
            continue  # left out (the mark stays) or kept
        stored = session.get(Location, item["id"]) if item.get("id") else None
        if stored is not None and stored.organization_id != svc.organization_id:
            continue  # refused by _location
        if stored is not None and stored.confidential:
            found.append(Publication(index, item, stored, item.get("postal_code") or stored.postal_code or ""))
            continue
        moved = stored is None or postcode_key(stored.postal_code) != postcode_key(item.get("postal_code"))
        if not moved or not item.get("postal_code"):
            continue
        secret = confidential_postcodes(session, svc.organization_id) if secret is None else secret
        if postcode_key(item["postal_code"]) in secret:
            found.append(Publication(index, item, None, item["postal_code"]))
    return found


REMOVE_CONFIDENTIAL = "remove_confidential_places"  # a write's acknowledgement that it deletes confidential places


class RemovalNotConfirmed(DomainError):
    """A write would delete a confidential place (a refuge's), after which nothing here knows its address is
    confidential: a place added there later (the refuge listed again) would be published unless marked again. So
    it takes an explicit acknowledgement (`remove_confidential_places: true`, the remove page's confirmation)."""

    def __init__(self, places: list[Location]):
        super().__init__(f"This would delete {len(places)} confidential place{'s' if len(places) > 1 else ''}.",
                         "locations")
        self.places = places


def confidential_places_forgotten(session: Session, svc: Service, items: list[dict]) -> list[Location]:
    """The listing's confidential places a write with these location `items` deletes - left out, and used by no
    other listing - with no confidential place of the organisation kept at their postcode (a refuge sent again
    as new in the same write stays confidential, _keep_confidential_places, so replacing it forgets nothing) nor
    a place published there with `publish_address` (that acknowledgement already said the mark goes)."""
    sent = {item["id"] for item in items if item.get("id")}
    dropped = [sal.location for sal in svc.locations if sal.location.confidential and sal.location_id not in sent
               and not _used_elsewhere(session, sal.location_id, svc.id)]
    if not dropped:
        return []  # no lookup on an ordinary edit
    untouched = sa.select(Location.postal_code).where(
        Location.organization_id == svc.organization_id, Location.confidential.is_(True),
        Location.id.not_in(sent | {loc.id for loc in dropped}))
    kept = {postcode_key(postcode) for postcode in session.scalars(untouched) if postcode}
    for item in items:
        stored = session.get(Location, item["id"]) if item.get("id") else None
        said = item.get("confidential", stored is not None and stored.confidential) or item.get(PUBLISH_ADDRESS) is True
        if said and item.get("postal_code"):  # still confidential there, or published there on purpose
            kept.add(postcode_key(item["postal_code"]))
    return [loc for loc in dropped if not loc.postal_code or postcode_key(loc.postal_code) not in kept]


def _used_elsewhere(session: Session, location_id: uuid.UUID, service_id: uuid.UUID) -> bool:
    return session.scalar(sa.select(sa.exists().where(ServiceAtLocation.location_id == location_id,
                                                      ServiceAtLocation.service_id != service_id)))


def confidential_postcodes(session: Session, organization_id: uuid.UUID) -> set[str]:
    """The postcodes (as postcode_key) of the organisation's confidential places, whichever listing uses them."""
    return {postcode_key(postcode) for postcode in session.scalars(sa.select(Location.postal_code).where(
        Location.organization_id == organization_id, Location.confidential.is_(True),
        Location.postal_code.is_not(None)))}


def postcode_key(postcode: str | None) -> str:
    """A postcode compared as the same place however it is spaced or cased ("ta11aa", "TA1 1AA")."""
    return "".join((postcode or "").split()).upper()


def _location_state(loc: Location) -> dict:
    return {column: getattr(loc, column) for column in LOCATION_FIELDS}


def _describe(state: dict) -> str:
    return ", ".join(str(state[c]) for c in ("name", "address_1", "city", "postal_code") if state.get(c))


def postcodes_to_locate(data: Mapping[str, Any]) -> list[str]:
    """The postcodes a create or update with `data` will geocode (locations given without
    coordinates): look them up before the transaction opens (geocode.Prelocated)."""
    return [item["postal_code"] for item in data.get("locations") or ()
            if isinstance(item, Mapping) and isinstance(item.get("postal_code"), str) and item.get("latitude") is None]


def _location(session: Session, data: dict, organization_id: uuid.UUID, geocoder: Geocoder) -> Location:
    loc = session.get(Location, data["id"]) if data.get("id") else None
    if loc is None:
        loc = Location(id=data.get("id") or uuid.uuid4(), organization_id=organization_id)
    elif loc.organization_id != organization_id:
        raise DomainError(f"Location {loc.id} belongs to another organisation.", "locations")
    elif _names_place_only(data):
        return loc  # "offer it here": the place as it is, not a place with every detail left out
    for column, absent in LOCATION_FIELDS.items():
        if column == "confidential" and loc.confidential is not None:
            absent = loc.confidential  # un-marking a refuge must be explicit: left out, the mark stays
        setattr(loc, column, data.get(column, absent))
    if loc.postal_code and loc.latitude is None:
        try:
            point = geocoder.locate(loc.postal_code)
            loc.latitude, loc.longitude = point.latitude, point.longitude
        except PostcodeError:
            pass  # a valid-looking postcode we cannot place: listed without coordinates
    return loc


# --- locks: a write takes every listing it can change in one statement, in order of id -----------------------------
#
# A change to a place shared by several listings changes each of them (_touch_listings_sharing), so such a write locks
# every listing offered there, not only its own. Taken one at a time - its own listing as it opened, the others as it
# moved them - two writes of two listings sharing a place each held one listing and waited for the other: PostgreSQL
# aborted one (DeadlockDetected). So a write takes, before anything else and in one statement ordered by id, its own
# listing and every listing offered at a place it names (lock_for_change); two such writes then queue on the first
# listing they have in common, and the second sees the first's change (a stale If-Match is a 412, as for any write).
# The listings offered at a place are read before they are locked, so they are read again under the lock: a listing
# offered there meanwhile (a write of it naming the place, which took the listings it saw there, then committed) is
# then missing, and the locks are let go (rolled back to a savepoint taken before them) and the larger set is taken,
# again in one statement. Once the write holds every listing offered at a place, no listing can be added there or
# leave until it commits (either takes a listing it holds), so the set it checked under the lock stays true. Only a
# place no listing is offered at has nobody to queue on; nothing but an old import leaves one (they are deleted).
# An import batch is one transaction of many records: locking each listing as it reached its record, in feed order, it
# held one listing (record 1) while an edit that had taken others in order of id waited for it, then wanted one of
# those (record 5) - a deadlock again, as with two imports listing the same listings in different orders. So a batch
# takes, before its first record and in one statement ordered by id, every listing it names and every listing offered
# at a place it names (lock_for_import); its records' writes then find their listings locked already.
# SQLite takes one writer at a time (BEGIN IMMEDIATE): there FOR UPDATE is nothing and the set cannot move.

_LOCKED = "worklink_directory.locked_for_change"  # session.info: (the listings, the places whose listings it locked)
_LOCK_ROUNDS = 5  # sets read again and grown before the last one's locks are kept, the missing ones added


def lock_for_change(session: Session, service_id: uuid.UUID, data: Mapping[str, Any] | None = None) -> Service | None:
    """The listing `service_id` locked for a change, or None if there is none: the first lock its write takes. With it,
    in the same statement and in order of id, every listing the write can change through a place they share - those
    offered at a place `data` names by id (None: the write is not made yet, as a page makes it from the listing - at
    any place of the listing's). A write whose `data` names no place locks the listing alone, as before."""
    places = None if data is None else _places_named(data)
    if places is not None and not places:
        svc = session.get(Service, service_id, with_for_update={"of": Service})  # OF: organisation is outer-joined
        listings: set[uuid.UUID] = {service_id}
    else:
        listings, places = _lock_in_order(session, {service_id}, places)
        svc = session.get(Service, service_id)  # loaded fresh by the lock
    session.info[_LOCKED] = (frozenset(listings), frozenset(places))  # what update_service need not lock again
    return svc


def lock_for_import(session: Session, listings: Iterable[uuid.UUID], places: Iterable[uuid.UUID]) -> None:
    """An import batch's first lock, before its first record: every listing in `listings` (the ids its records give;
    those not held here lock nothing) and every listing offered at one of `places` (the places they name by id), in
    one statement ordered by id, the set read again under the lock as lock_for_change does. Its records' writes then
    take no lock of their own (_ensure_locked), so a batch never holds one listing while it waits for another."""
    listings, places = set(listings), set(places)
    if not listings and not places:
        return
    locked, places = _lock_in_order(session, listings, places)
    session.info[_LOCKED] = (frozenset(locked), frozenset(places))


def _places_named(data: Mapping[str, Any]) -> set[uuid.UUID]:
    """The existing places a write may change: its location items' ids (a place it leaves out it only leaves)."""
    return {item["id"] for item in data.get("locations") or () if isinstance(item, Mapping) and item.get("id")}


def _ensure_locked(session: Session, service_id: uuid.UUID, data: Mapping[str, Any]) -> None:
    """The write's listings locked, unless lock_for_change or lock_for_import took them as the write opened: for a
    caller that did not (a new listing at an existing place). Its own listing already locked, a sibling taken here is
    taken after it, not in order: a caller that locks a listing to change it locks with lock_for_change."""
    places = _places_named(data)
    listings, covered = session.info.get(_LOCKED, (frozenset(), frozenset()))
    if places and not (service_id in listings and places <= covered):
        _lock_in_order(session, {service_id}, places)


def _lock_in_order(session: Session, listings: set[uuid.UUID],
                   places: set[uuid.UUID] | None) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """Lock the listings and every listing offered at `places` (None: at the listings' own places) in one statement,
    ordered by id; read the set again under the lock and, if it grew, let the locks go and take the larger set.
    Returns (the listings it locked - those given, held here or not, and those offered at the places -, the places
    whose listings it locked)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    wanted, places_now = _listings_at(session, frozenset(listings), places)
    for round_ in range(1, _LOCK_ROUNDS + 1):
        last = not postgres or round_ == _LOCK_ROUNDS
        savepoint = None if last else session.begin_nested()
        _lock(session, wanted, load=True)
        if not postgres:
            break
        again, places_now = _listings_at(session, frozenset(listings), places)
        if again <= wanted:
            if savepoint is not None:
                savepoint.commit()
            break
        if last:  # listings kept being added there: these locks are kept and the new ones taken after them
            _lock(session, again - wanted)
            wanted |= again
            break
        savepoint.rollback()  # a listing was offered at one of the places meanwhile: let go, take them all
        wanted |= again
    return wanted, places_now


def _lock(session: Session, ids: set[uuid.UUID], *, load: bool = False) -> None:
    """SELECT ... FOR UPDATE of these listings, in order of id (PostgreSQL locks the rows as the sort gives them).
    `load`: as ORM objects, refreshed from the rows as locked (one loaded earlier in the transaction may be older)."""
    if load:
        session.scalars(sa.select(Service).where(Service.id.in_(sorted(ids))).order_by(Service.id)
                        .with_for_update(of=Service).execution_options(populate_existing=True)).all()
    else:
        session.execute(sa.select(Service.id).where(Service.id.in_(sorted(ids))).order_by(Service.id)
                        .with_for_update()).all()


def _listings_at(session: Session, listings: frozenset[uuid.UUID],
                 places: set[uuid.UUID] | None) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """(the listings and every listing offered at `places` - None: at the listings' own places -, those places)."""
    if places is None:
        places = set(session.scalars(sa.select(ServiceAtLocation.location_id).where(
            ServiceAtLocation.service_id.in_(sorted(listings)))))
    if not places:
        return set(listings), set()
    offered = session.scalars(sa.select(ServiceAtLocation.service_id).where(
        ServiceAtLocation.location_id.in_(sorted(places))).distinct())
    return {*listings, *offered}, places


def _shared_places_before(session: Session, data: dict) -> dict[uuid.UUID, dict]:
    """The stored state of the existing places a write names by id (another listing may be offered there too)."""
    ids = [item["id"] for item in data.get("locations") or () if isinstance(item, Mapping) and item.get("id")]
    if not ids:
        return {}
    return {loc.id: _location_state(loc) for loc in session.scalars(sa.select(Location).where(Location.id.in_(ids)))}


def _touch_listings_sharing(session: Session, outbox: Outbox, svc: Service, before: dict[uuid.UUID, dict],
                            editor: Editor, now: datetime) -> None:
    """A place changed through one listing is changed on every listing offered there. Each records it in its own
    trail, moves its version - so an If-Match or a page's confirmation read before the change is stale (a refuge's
    place marked, moved or published through a sibling listing must not be published on an acknowledgement that
    never saw it) - and is announced as updated, as its feed entry changed."""
    changed = {}
    for place_id, state in before.items():
        place = session.get(Location, place_id)
        after = _location_state(place) if place is not None else state
        if columns := [column for column in after if after[column] != state[column]]:
            changed[place_id] = [(column, state[column], after[column]) for column in columns]
    if not changed:
        return
    offered = sa.select(ServiceAtLocation.service_id, ServiceAtLocation.location_id).where(
        ServiceAtLocation.location_id.in_(changed), ServiceAtLocation.service_id != svc.id)
    by_listing: dict[uuid.UUID, list[uuid.UUID]] = {}
    for service_id, place_id in session.execute(offered):
        by_listing.setdefault(service_id, []).append(place_id)
    for service_id, place_ids in by_listing.items():
        sibling = session.get(Service, service_id)
        if sibling is None or sibling.status == "defunct":
            continue
        for place_id in place_ids:
            for column, old, new in changed[place_id]:
                _trail(session, sibling.id, "update", f"locations/{place_id}/{column}", old, new, editor, now)
        sibling.last_modified = now
        search.reindex(session, sibling)
        _announce_update(outbox, session, sibling, ["locations"], now)


def _announce_update(outbox: Outbox, session: Session, svc: Service, changed: list[str], now: datetime) -> None:
    # The current reach and terms ride along, so a consumer that missed the publication converges.
    outbox.publish(session, "directory.service.updated", {
        "service_id": svc.id, "organization_id": svc.organization_id, "changed": changed, **reach(svc),
        "taxonomy_term_ids": [a.taxonomy_term_id for a in svc.attributes], "updated_at": now})


def _names_place_only(item: Mapping[str, Any]) -> bool:
    """An item giving an existing place's id and nothing else (location_type is the schema's default, so it says
    nothing): the listing is offered at that place as it is. Taken as a complete item it blanked the place's name
    and address for every listing offered there."""
    return bool(item.get("id")) and set(item) <= {"id", "location_type"}


def delete_unused_locations(session: Session, candidates: Iterable[uuid.UUID] | None = None) -> int:
    """Delete locations (of `candidates`, or any) that no service is offered at; returns how many."""
    query = sa.select(Location).where(~sa.exists().where(ServiceAtLocation.location_id == Location.id))
    if candidates is not None:
        candidates = list(candidates)
        if not candidates:
            return 0
        query = query.where(Location.id.in_(candidates))
    unused = session.scalars(query).all()
    for loc in unused:
        session.delete(loc)
    return len(unused)


def reach(svc: Service) -> dict:
    """Who the listing serves, as the events carry it (areas as postcode districts)."""
    return {"area_codes": svc.area_codes, "minimum_age": svc.minimum_age, "maximum_age": svc.maximum_age}


def create_service(session: Session, outbox: Outbox, data: dict, editor: Editor, geocoder: Geocoder,
                   now: datetime | None = None) -> Service:
    service_id = data.get("id") or uuid.uuid4()
    _ensure_locked(session, service_id, data)  # the listings at an existing place it names, which it may change
    now = now or utcnow()
    if session.get(Organization, data["organization_id"]) is None:
        raise DomainError(f"There is no organisation {data['organization_id']}.", "organization_id")
    svc = Service(id=service_id, last_modified=now, listed_at=now,
                  **{k: data[k] for k in ("organization_id", *SCALARS) if k in data})
    session.add(svc)
    places = _shared_places_before(session, data)
    _set_collections(session, svc, data, geocoder)
    session.flush()
    _trail(session, svc.id, "create", "*", None, svc.name, editor, now)
    _touch_listings_sharing(session, outbox, svc, places, editor, now)
    search.reindex(session, svc)
    _publish(session, outbox, svc, now)
    if svc.status not in LISTED:  # loaded as not offered (e.g. an inactive record in a feed)
        _unlist(session, outbox, svc, now)
    return svc


def _publish(session: Session, outbox: Outbox, svc: Service, now: datetime) -> None:
    outbox.publish(session, "directory.service.published", {
        "service_id": svc.id, "organization_id": svc.organization_id,
        "taxonomy_term_ids": [a.taxonomy_term_id for a in svc.attributes], **reach(svc), "published_at": now})


def _unlist(session: Session, outbox: Outbox, svc: Service, now: datetime) -> None:
    """An inactive listing is no longer offered: consumers (referral routing) hear it as a withdrawal."""
    outbox.publish(session, "directory.service.withdrawn", {
        "service_id": svc.id, "organization_id": svc.organization_id, "reason": "inactive", "withdrawn_at": now})


def update_service(session: Session, outbox: Outbox, svc: Service, data: dict, editor: Editor,
                   geocoder: Geocoder, now: datetime | None = None) -> list[str]:
    """Apply the given fields; returns the names of the fields that changed. The caller has locked the listing with
    lock_for_change (with `data`, or None), which took every listing the change can touch in one order."""
    _ensure_locked(session, svc.id, data)
    now = now or utcnow()
    if svc.status == "defunct":
        raise DomainError("This listing was withdrawn; publish a new one instead.")
    changed, was_listed = [], svc.status in LISTED
    places = _shared_places_before(session, data)
    for name in SCALARS:
        if name in data and getattr(svc, name) != data[name]:
            _trail(session, svc.id, "update", name, getattr(svc, name), data[name], editor, now)
            setattr(svc, name, data[name])
            changed.append(name)
    for change in _set_collections(session, svc, data, geocoder):
        _trail(session, svc.id, change.action, change.field, change.before, change.after, editor, now)
        if (name := change.field.split("/")[0]) not in changed:
            changed.append(name)
    if svc.minimum_age is not None and svc.maximum_age is not None and svc.minimum_age > svc.maximum_age:
        raise DomainError("maximum_age must not be below minimum_age.", "maximum_age")
    if not changed:
        return changed
    svc.last_modified = now
    session.flush()
    search.reindex(session, svc)
    _touch_listings_sharing(session, outbox, svc, places, editor, now)
    _announce_update(outbox, session, svc, changed, now)
    # Offered again, or no longer: the events consumers already act on (published / withdrawn), as
    # `updated` carries no status.
    if was_listed and svc.status not in LISTED:
        _unlist(session, outbox, svc, now)
    elif not was_listed and svc.status in LISTED:
        _publish(session, outbox, svc, now)
    return changed


def assure_service(session: Session, outbox: Outbox, svc: Service, editor: Editor,
                   assurer_email: str | None = None, now: datetime | None = None, day: date | None = None) -> None:
    """A person checked the listing today (or on `day`, as a partner's feed says): record it and clear any
    review flag."""
    now = now or utcnow()
    if svc.status == "defunct":
        raise DomainError("This listing was withdrawn.")
    checked_on = day or uk_today(now)  # the UK day: 00:30 BST on 1 July is 1 July, not UTC's 30 June
    _trail(session, svc.id, "assure", "assured_date", svc.assured_date, checked_on, editor, now)
    # Published on the open feed: the address the partner gave, else the listing's or its organisation's public
    # one - never the signed-in person's login (their own work address, published without their choice), nor the
    # previous assurer's.
    email = assurer_email or public_contact_email(svc)
    if email != svc.assurer_email:
        _trail(session, svc.id, "assure", "assurer_email", svc.assurer_email, email, editor, now)
    svc.assured_date, svc.assurer_email = checked_on, email
    svc.review_due_notified_at = None
    svc.last_modified = now
    outbox.publish(session, "directory.service.updated", {
        "service_id": svc.id, "organization_id": svc.organization_id, "changed": ["assured_date"],
        "updated_at": now})


def public_contact_email(svc: Service) -> str | None:
    """The address the listing already publishes for questions: its own, else its organisation's."""
    return svc.email or (svc.organization.email if svc.organization else None)


def withdraw_service(session: Session, outbox: Outbox, svc: Service, reason: str, editor: Editor,
                     now: datetime | None = None) -> None:
    now = now or utcnow()
    if svc.status == "defunct":
        raise DomainError("This listing is already withdrawn.")
    _trail(session, svc.id, "withdraw", "status", svc.status, "defunct", editor, now)
    svc.status, svc.last_modified = "defunct", now
    search.reindex(session, svc)  # no longer listed: searches must not find it
    outbox.publish(session, "directory.service.withdrawn", {
        "service_id": svc.id, "organization_id": svc.organization_id, "reason": reason, "withdrawn_at": now})


def flag_review_due(session: Session, outbox: Outbox, *, period: timedelta = DEFAULT_REVIEW_PERIOD,
                    now: datetime | None = None) -> int:
    """Tell owners (once per lapse) about listings not assured within `period` - counted from when a
    listing was last assured or, never assured, from when it was listed here; returns how many."""
    now = now or utcnow()
    cutoff: date = uk_today(now) - period  # UK days, as the pages count them (is_review_due)
    listed_before = datetime.combine(cutoff, time.min, UK).astimezone(timezone.utc)  # listed on a UK day before it
    due = session.scalars(sa.select(Service).where(
        Service.status.in_(LISTED), Service.review_due_notified_at.is_(None),
        sa.or_(Service.assured_date < cutoff,
               sa.and_(Service.assured_date.is_(None),
                       sa.or_(Service.listed_at.is_(None), Service.listed_at < listed_before))))
        .order_by(Service.id).with_for_update(of=Service))  # in order of id, as every write locks listings
    count = 0
    for svc in due:
        last = datetime.combine(svc.assured_date, datetime.min.time(), now.tzinfo) if svc.assured_date else None
        start = _review_from(svc)
        outbox.publish(session, "directory.service.review_due", {
            "service_id": svc.id, "organization_id": svc.organization_id, "last_assured_at": last,
            "due_since": datetime.combine(start + period, datetime.min.time(), now.tzinfo) if start else now})
        svc.review_due_notified_at = now
        count += 1
    return count


def _review_from(svc: Service) -> date | None:
    """The day a listing's review period runs from: its last assurance, else the (UK) day it was listed."""
    return svc.assured_date or (uk_today(svc.listed_at) if svc.listed_at else None)


def is_review_due(svc: Service, today: date, period: timedelta = DEFAULT_REVIEW_PERIOD) -> bool:
    """What flag_review_due would flag: a listed listing (one not offered is not reviewed) past its period."""
    if svc.status not in LISTED:
        return False
    start = _review_from(svc)
    return start is None or start < today - period
