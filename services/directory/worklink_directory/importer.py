"""Load a whole directory from an ORUK 3.0 feed (URL or file) or a CSV file.

Every record is checked against the ORUK 3.0 `service.json` schema and then our own
rules; a bad record is rejected with its reasons and the rest still load. Records
keep their ids, so importing the same feed again changes nothing (and publishes no
events); a changed record is updated through the same use case as the write API. Location
ids are kept too: a location the feed still lists is updated in place, one it dropped is
deleted.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import sqlalchemy as sa
from marshmallow import ValidationError
from sqlalchemy.orm import Session

from worklink.db import Database
from worklink.messaging.outbox import Outbox
from worklink.problems import field_errors
from worklink.uktime import uk_today
from worklink_directory import oruk_schemas, services
from worklink_directory.geocode import Geocoder, Prelocated
from worklink_directory.models import DAYS, Organization, Service, Taxonomy, TaxonomyTerm
from worklink_directory.schemas import ServiceIn

IMPORTER = services.Editor(subject="importer")
log = logging.getLogger(__name__)
BATCH = 200


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[str, list[str]]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged + len(self.rejected)

    def summary(self) -> str:
        return (f"{self.total} records: {self.created} created, {self.updated} updated, "
                f"{self.unchanged} unchanged, {len(self.rejected)} rejected")


# --- reading sources --------------------------------------------------------------------------

def read_source(source: str) -> list[dict]:
    """Records from a URL or file: ORUK JSON (a page, a list, or one service) or CSV."""
    if source.startswith(("http://", "https://")):
        return list(_read_feed_pages(source))
    text = Path(source).read_text(encoding="utf-8-sig")
    if source.lower().endswith(".csv"):
        return list(_csv_records(text))
    return _records(json.loads(text))


class CsvRecord(dict):
    """A record read from a CSV file, knowing the spreadsheet row it came from (the header is row 1), so a
    rejection names the line a partner can find, not only an id they may have left out or mistyped."""

    def __init__(self, record: dict, row_number: int):
        super().__init__(record)
        self.row_number = row_number


def _csv_records(text: str) -> Iterator[CsvRecord]:
    """Each data row as a record with its row number as a spreadsheet counts it: blank rows count (DictReader skips
    them), and a quoted cell running over several lines is one row."""
    rows = csv.reader(io.StringIO(text))
    header = next(rows, [])
    for row_number, row in enumerate(rows, start=2):
        if any(cell.strip() for cell in row):
            yield CsvRecord(csv_row_to_record(dict(zip(header, row))), row_number)


def _records(document: Any) -> list[dict]:
    if isinstance(document, dict) and "contents" in document:
        return list(document["contents"])
    return list(document) if isinstance(document, list) else [document]


def _read_feed_pages(base: str) -> Iterator[dict]:
    """Walk an ORUK feed's /services pages, fetching each service fully nested."""
    root = base.rstrip("/")
    page = 1
    while True:
        with urllib.request.urlopen(f"{root}/services?page={page}&per_page=100", timeout=30) as response:  # noqa: S310
            listing = json.load(response)
        for item in listing.get("contents", []):
            with urllib.request.urlopen(f"{root}/services/{item['id']}", timeout=30) as response:  # noqa: S310
                yield json.load(response)
        if listing.get("last_page", True) or not listing.get("contents"):
            return
        page += 1


CSV_COLUMNS = ("id", "organization_id", "organization_name", "name", "description", "url", "email", "fees",
               "minimum_age", "maximum_age", "categories", "location_name", "address_1", "city", "postal_code",
               "latitude", "longitude", "phone", "days", "opens_at", "closes_at", "application_process",
               "delivery_modes")


def csv_row_to_record(row: dict[str, str]) -> dict:
    """A flat CSV row (CSV_COLUMNS; `categories` are term codes separated by ';') as an ORUK-shaped record."""
    row = {k: (v or "").strip() for k, v in row.items() if k}
    record: dict[str, Any] = {k: row[k] for k in ("id", "organization_id", "name", "description", "url", "email",
                                                  "fees", "application_process") if row.get(k)}
    record["status"] = "active"
    for key in ("minimum_age", "maximum_age"):
        if row.get(key):
            record[key] = _number(row[key])
    if row.get("organization_id"):
        record["organization"] = {"id": row["organization_id"], "name": row.get("organization_name") or "",
                                  "description": row.get("organization_name") or ""}
    record["x_term_codes"] = [c.strip() for c in row.get("categories", "").split(";") if c.strip()]
    key = lambda part: str(uuid.uuid5(uuid.NAMESPACE_URL, f"csv-{part}:{row.get('id')}"))  # noqa: E731
    if row.get("address_1") or row.get("postal_code"):
        location = {"id": key("location"), "location_type": "physical", "name": row.get("location_name") or None,
                    "addresses": [{"id": key("address"), "address_1": row.get("address_1"), "city": row.get("city"),
                                   "state_province": row.get("city"), "postal_code": row.get("postal_code"),
                                   "country": "GB", "address_type": "physical"}]}
        if row.get("latitude") and row.get("longitude"):
            location["latitude"], location["longitude"] = _number(row["latitude"]), _number(row["longitude"])
        record["service_at_locations"] = [{"id": key("sal"), "location": {k: v for k, v in location.items() if v}}]
    if row.get("phone"):
        record["contacts"] = [{"id": key("contact"), "name": "Telephone", "phones": [{"number": row["phone"]}]}]
    if row.get("days"):
        record["schedules"] = [{"id": key(f"schedule-{d.strip()}"), "byday": d.strip(), "opens_at": row.get("opens_at"),
                                "closes_at": row.get("closes_at")} for d in row["days"].split(";") if d.strip()]
    if row.get("delivery_modes"):
        record["x_delivery_modes"] = [m.strip() for m in row["delivery_modes"].split(";") if m.strip()]
    return record


def _number(text: str) -> Any:
    try:
        value = float(text)
    except ValueError:
        return text  # left for validation to reject with a reason
    return int(value) if value.is_integer() else value


# --- mapping and checking ---------------------------------------------------------------------

def _record_to_input(record: dict) -> dict:
    """ORUK record -> the write API's ServiceIn shape (before validation)."""
    data: dict[str, Any] = {k: record[k] for k in ("organization_id", "name", "description", "url", "email",
                                                    "fees", "minimum_age", "maximum_age", "alert",
                                                    "application_process") if record.get(k) is not None}
    if record.get("status") in ("active", "temporarily closed", "inactive"):
        data["status"] = record["status"]
    if "organization_id" not in data and isinstance(record.get("organization"), dict):
        data["organization_id"] = record["organization"].get("id")
    costs = record.get("cost_options") or []
    data["is_free"] = (not record.get("fees")) or any((c.get("amount") == 0) for c in costs)
    data["delivery_modes"] = record.get("x_delivery_modes") or ["in_person"]
    data["taxonomy_term_ids"] = [a["taxonomy_term_id"] for a in record.get("attributes") or []
                                 if a.get("taxonomy_term_id")]
    data["schedules"] = [{"byday": day, "opens_at": (s.get("opens_at") or "")[:5], "closes_at": (s.get("closes_at") or "")[:5],
                          **({"description": s["description"]} if s.get("description") else {})}
                         for s in record.get("schedules") or [] for day in (s.get("byday") or "").split(",") if day]
    data["contacts"] = [{k: v for k, v in {"name": c.get("name"), "title": c.get("title"), "email": c.get("email"),
                                           "phones": [{"number": p.get("number"),
                                                       **({"description": p["description"]} if p.get("description") else {})}
                                                      for p in c.get("phones") or []]}.items() if v not in (None, "")}
                        for c in record.get("contacts") or []]
    data["locations"] = [_location_input(sal.get("location") or {}) for sal in record.get("service_at_locations") or []]
    data["service_areas"] = [_area_input(area) for area in record.get("service_areas") or []]
    return data


def _area_input(area: dict) -> dict:
    data = {k: area.get(k) for k in ("extent", "extent_type", "uri")}
    data["name"] = area.get("name") or area.get("service_area")
    data["postcode_districts"] = area.get("x_postcode_districts") or []
    return {k: v for k, v in data.items() if v not in (None, "")}


def _location_input(location: dict) -> dict:
    address = (location.get("addresses") or [{}])[0]
    accessibility = "; ".join(a.get("description") or a.get("details") or "" for a in location.get("accessibility") or [])
    data = {"id": _uuid_or_raw(location.get("id")),
            "location_type": location.get("location_type") or "physical", "name": location.get("name"),
            "description": location.get("description"), "latitude": location.get("latitude"),
            "longitude": location.get("longitude"), "address_1": address.get("address_1"), "city": address.get("city"),
            "state_province": address.get("state_province"), "postal_code": address.get("postal_code"),
            "accessibility": accessibility or None}
    if location.get("x_confidential"):  # a feed can mark a place confidential, never clear a mark made here
        data["confidential"] = True
    return {k: v for k, v in data.items() if v not in (None, "")}


def _uuid_or_raw(value: Any) -> Any:
    """A feed's id as a UUID; anything else is left for validation to reject with a reason."""
    try:
        return uuid.UUID(value) if isinstance(value, str) else value
    except ValueError:
        return value


def _ensure_reference_data(session: Session, record: dict) -> None:
    """Create the record's organisation and taxonomy terms if this directory lacks them."""
    org = record.get("organization")
    if isinstance(org, dict) and org.get("id") and session.get(Organization, uuid.UUID(org["id"])) is None:
        session.add(Organization(id=uuid.UUID(org["id"]), name=org.get("name") or "Unnamed organisation",
                                 description=org.get("description") or org.get("name") or "",
                                 email=org.get("email"), website=org.get("website"),
                                 is_demo=bool(record.get("x_demo"))))
    for attribute in record.get("attributes") or []:
        term = attribute.get("taxonomy_term") or {}
        if not term.get("id") or session.get(TaxonomyTerm, uuid.UUID(term["id"])) is not None:
            continue
        detail = term.get("taxonomy_detail") or {}
        taxonomy_id = uuid.UUID(term.get("taxonomy_id") or detail.get("id") or
                                str(uuid.uuid5(uuid.NAMESPACE_URL, term.get("taxonomy") or "imported")))
        if session.get(Taxonomy, taxonomy_id) is None:
            session.add(Taxonomy(id=taxonomy_id, name=detail.get("name") or term.get("taxonomy") or "Imported terms",
                                 description=detail.get("description") or "Terms found in an imported feed.",
                                 uri=detail.get("uri")))
            session.flush()
        parent = uuid.UUID(term["parent_id"]) if term.get("parent_id") else None
        session.add(TaxonomyTerm(id=uuid.UUID(term["id"]), taxonomy_id=taxonomy_id,
                                 parent_id=parent if parent and session.get(TaxonomyTerm, parent) else None,
                                 code=term.get("code") or term["id"], name=term["name"],
                                 description=term.get("description") or term["name"],
                                 term_uri=term.get("term_uri")))
        session.flush()


def _resolve_term_codes(session: Session, record: dict, data: dict) -> list[str]:
    """CSV rows name terms by code: find them in any taxonomy."""
    reasons = []
    for code in record.get("x_term_codes") or []:
        term = session.query(TaxonomyTerm).filter_by(code=code).first()
        if term is None:
            reasons.append(f"/categories: unknown category code {code!r}")
        else:
            data["taxonomy_term_ids"].append(str(term.id))
    return reasons


def _as_input(svc: Service) -> dict:
    """An existing service in ServiceIn shape, to compare with an imported record."""
    return ServiceIn().dump({
        **{k: getattr(svc, k) for k in ("organization_id", *services.SCALARS)},
        "delivery_modes": svc.delivery, "taxonomy_term_ids": sorted(a.taxonomy_term_id for a in svc.attributes),
        "schedules": [{k: getattr(s, k) for k in ("byday", "opens_at", "closes_at", "description")} for s in svc.schedules],
        "contacts": [{"name": c.name, "title": c.title, "email": c.email,
                      "phones": [{"number": p.number, "description": p.description} for p in c.phones]}
                     for c in svc.contacts],
        "locations": [{k: getattr(sal.location, k) for k in ("id", "location_type", "name", "description", "latitude",
                                                             "longitude", "address_1", "city", "state_province",
                                                             "postal_code", "accessibility", "confidential")}
                      for sal in svc.locations],
        "service_areas": [{"name": a.name, "extent": a.extent, "extent_type": a.extent_type, "uri": a.uri,
                           "postcode_districts": a.districts} for a in svc.service_areas],
    })


def _canonical(data: dict) -> str:
    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if v not in (None, "", [])}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value
    dumped = ServiceIn().dump(data)
    dumped["taxonomy_term_ids"] = sorted(map(str, dumped.get("taxonomy_term_ids") or []))
    dumped["schedules"] = sorted(dumped.get("schedules") or [],
                                 key=lambda s: (DAYS.index(s["byday"]), s["opens_at"], s["closes_at"]))
    return json.dumps(clean(dumped), sort_keys=True, default=str)


def _unchanged(existing: Service, data: dict) -> bool:
    current = _as_input(existing)
    for have, given in zip(current["locations"], data.get("locations") or []):
        if given.get("latitude") is None:  # ours were geocoded from the postcode, which is compared
            have.pop("latitude", None), have.pop("longitude", None)
        if "confidential" not in given:  # a feed that does not say keeps our mark: no change
            have.pop("confidential", None)
    return _canonical(current) == _canonical(data)


def import_record(session: Session, outbox: Outbox, record: dict, geocoder: Geocoder) -> str:
    """Create, update or leave one record; returns 'created' | 'updated' | 'unchanged'.

    Raises RecordRejected with the reasons when the record cannot be loaded.
    """
    if not isinstance(record, dict):
        raise RecordRejected(["/: a record must be a JSON object"])
    reasons = oruk_schemas.problems("service", {k: v for k, v in record.items() if not k.startswith("x_")})
    if reasons:
        raise RecordRejected(reasons)
    _ensure_reference_data(session, record)
    raw = _record_to_input(record)
    reasons = _resolve_term_codes(session, record, raw)
    try:
        data = ServiceIn().load(raw)
    except ValidationError as exc:
        # one line per field, pointed at as the write API points (/contacts/0/phones/0/number), not a nested dict
        reasons += sorted(f"{error['pointer']}: {error['detail']}" for error in field_errors(exc.messages))
    assured, problem = _assured_date(record)
    if problem:
        reasons.append(problem)
    if reasons:
        raise RecordRejected(reasons)
    existing = session.get(Service, uuid.UUID(record["id"]))
    if existing is not None and existing.organization_id != data["organization_id"]:
        # One partner's feed naming another's listing must neither rewrite nor withdraw it (the update keeps the
        # owner, so the listing stayed the other organisation's, with this feed's words).
        raise RecordRejected([f"/organization/id: listing {existing.id} belongs to another organisation here; a feed "
                              f"may change or withdraw only its own organisation's listings"])
    if record.get("status") == "defunct":  # the publisher withdrew it: never load it as an active listing
        return _withdraw(session, outbox, existing)
    try:
        if existing is None:
            svc = services.create_service(session, outbox, {**data, "id": uuid.UUID(record["id"])}, IMPORTER, geocoder)
            svc.is_demo = bool(record.get("x_demo"))
            if assured:
                svc.assured_date, svc.assurer_email = assured, record.get("assurer_email")
            return "created"
        changed = not _unchanged(existing, data)
        if changed:
            # a place the publisher's feed dropped goes, a confidential one too: the feed is its own statement,
            # and an import has nobody to ask (the API and pages ask: services.RemovalNotConfirmed)
            services.update_service(session, outbox, existing, {
                **{k: v for k, v in data.items() if k != "organization_id"}, services.REMOVE_CONFIDENTIAL: True},
                IMPORTER, geocoder)
        if assured and (existing.assured_date is None or assured > existing.assured_date):
            # the publisher checked it since: a later assurance, never an earlier one over ours (review flags follow)
            services.assure_service(session, outbox, existing, IMPORTER, record.get("assurer_email"), day=assured)
            changed = True
        return "updated" if changed else "unchanged"
    except services.DomainError as exc:
        raise RecordRejected([f"/{exc.field or ''}: {exc}"]) from None


def _assured_date(record: dict) -> tuple[date | None, str | None]:
    """The record's assured_date (ORUK: a date; a date-time is read as its UK day), or the reason it is none.
    The vendored schema gives it no format, so it is checked here, before anything is written."""
    value = record.get("assured_date")
    if value in (None, ""):
        return None, None
    try:
        day = _day_of(datetime.fromisoformat(value)) if "T" in value else date.fromisoformat(value)
    except (TypeError, ValueError):
        return None, f"/assured_date: {value!r} is not a date (YYYY-MM-DD)"
    if day > uk_today() + timedelta(days=1):  # a day's grace for a publisher whose day starts before ours
        return None, f"/assured_date: {value!r} is in the future (a listing can only have been checked already)"
    return day, None


def _day_of(moment: datetime) -> date:
    """A feed's date-time as the UK day it falls on (23:30 UTC on 30 June is 1 July here); one without an
    offset is taken as the publisher's own day."""
    return uk_today(moment) if moment.tzinfo else moment.date()


def _withdraw(session: Session, outbox: Outbox, existing: Service | None) -> str:
    """A withdrawn (defunct) record: a listing still offered here is withdrawn (an update); one not held
    or already withdrawn is left as it is."""
    if existing is None or existing.status == "defunct":
        return "unchanged"
    services.withdraw_service(session, outbox, existing, "other", IMPORTER)
    return "updated"


class RecordRejected(Exception):
    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def _postcodes(record: Any) -> list[str]:
    """The postcodes loading `record` will geocode (none if it is too broken to tell)."""
    try:
        return services.postcodes_to_locate(_record_to_input(record))
    except Exception:  # noqa: BLE001 - import_record rejects it with the reasons
        return []


def _ids(values: Iterable[Any]) -> set[uuid.UUID]:
    """The values that are UUIDs (a record giving anything else is rejected, and names nothing to lock)."""
    found = set()
    for value in values:
        if isinstance(value, uuid.UUID):
            found.add(value)
        elif isinstance(value, str):
            try:
                found.add(uuid.UUID(value))
            except ValueError:
                continue
    return found


def _batch_names(batch: list[tuple[int, Any]]) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """(the listings a batch's records give by id, the places they name by id): what the batch may change."""
    listings, places = set(), set()
    for _, record in batch:
        if not isinstance(record, dict):
            continue
        listings |= _ids([record.get("id")])
        sals = record.get("service_at_locations")
        places |= _ids(sal["location"].get("id") for sal in (sals if isinstance(sals, list) else ())
                       if isinstance(sal, dict) and isinstance(sal.get("location"), dict))
    return listings, places


def record_name(index: int, record: Any) -> str:
    """How a report names a record: a CSV record by its spreadsheet row (and id, when it has one), so the partner
    finds the line; a feed's record by its id, else its place in the feed ("row 9": the ninth record)."""
    given = record.get("id") if isinstance(record, dict) else None
    if isinstance(record, CsvRecord):
        return f"row {record.row_number}" + (f" (id {given})" if given else "")
    return str(given or f"row {index}")


def import_records(database: Database, outbox: Outbox, records: Iterable[dict], geocoder: Geocoder,
                   progress: Callable[[int], None] | None = None) -> ImportReport:
    """Load records in batches, each batch one transaction; each record in its own savepoint, so one bad record
    spoils nothing else. A batch first locks every listing it can change, in one statement ordered by id
    (services.lock_for_import): locked record by record, in feed order, it deadlocked with an edit of a shared
    place or another import that took the same listings in another order."""
    report = ImportReport()
    batch: list[dict] = []

    def flush() -> None:
        located = Prelocated(geocoder, (postcode for _, record in batch for postcode in _postcodes(record)))
        with database.transaction() as session:
            services.lock_for_import(session, *_batch_names(batch))
            for index, record in batch:
                ref = record_name(index, record)
                try:
                    with session.begin_nested():
                        outcome = import_record(session, outbox, record, located)
                except RecordRejected as exc:
                    report.rejected.append((ref, exc.reasons))
                    continue
                except (sa.exc.OperationalError, sa.exc.InterfaceError):
                    raise  # the database is unreachable: no record's fault, and the batch is retried whole
                except Exception as exc:  # noqa: BLE001 - one record we failed to foresee never loses the batch
                    log.exception("import of record %s failed", ref)
                    report.rejected.append((ref, [f"/: could not be loaded ({type(exc).__name__}); "
                                                  f"the rest of the import went ahead"]))
                    continue
                setattr(report, outcome, getattr(report, outcome) + 1)
        if progress:
            progress(len(batch))
        batch.clear()

    for index, record in enumerate(records, start=1):
        batch.append((index, record))
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    with database.transaction() as session:  # locations orphaned before re-imports kept them (or by a bad feed)
        services.delete_unused_locations(session)
    with database.engine.connect() as conn:  # fresh planner statistics: the proximity and search plans need them
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    return report
