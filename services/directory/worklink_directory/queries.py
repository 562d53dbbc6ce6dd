"""Read side: the ORUK query parameters, checked strictly, turned into SQL (all filters AND).

A bad parameter is a 400 problem naming each offending parameter, never an empty
list. Extensions beyond ORUK 3.0 (marked `x-extension` in the OpenAPI document):
`lat`/`lon`/`radius`, `sort`, `age`, `free`, `delivery`, `open_at` on `/services`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Callable, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Bundle, Session

from worklink.problems import Problem
from worklink_directory import oruk, search
from worklink_directory.geocode import (Geocoder, Point, PostcodeError, bounding_box, degrees, distance_metres,
                                       normalise_postcode, squared_degrees)
from worklink_directory.models import (DAYS, DELIVERY_MODES, LISTED, Location, Organization, Schedule, SearchDocument,
                                       Service, ServiceAtLocation, ServiceTerm, Taxonomy, TaxonomyTerm)

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20
SORTS = ("relevance", "distance", "last_reviewed", "name")
DAY_NAMES = {name: code for code, name in zip(DAYS, ("monday", "tuesday", "wednesday", "thursday", "friday",
                                                         "saturday", "sunday"))}
_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])(:[0-5][0-9])?$")


@dataclass
class Filters:
    search: str | None = None
    taxonomy_id: uuid.UUID | None = None
    taxonomy_term_id: uuid.UUID | None = None
    minimum_age: float | None = None
    maximum_age: float | None = None
    age: float | None = None
    day: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    open_at: str | None = None  # extension: open at this time of day
    free: bool | None = None
    delivery: str | None = None
    organization_id: uuid.UUID | None = None
    point: Point | None = None
    district: str | None = None  # the postcode's outward code: only services whose area covers it
    districts: tuple[str, ...] = ()  # a town's outward codes (the residents' pages): services covering any of them
    radius: float | None = None
    sort: str | None = None
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    errors: list[dict[str, str]] = field(default_factory=list)

    def fail(self, name: str, detail: str) -> None:
        self.errors.append({"location": "query", "pointer": f"/{name}", "detail": detail})


def bad_request(errors: list[dict[str, str]]) -> Problem:
    names = ", ".join(e["pointer"].lstrip("/") for e in errors)
    return Problem(400, f"Check the query parameters: {names}.", title="Invalid query parameters", errors=errors)


def _number(f: Filters, args: Mapping[str, str], name: str, low: float, high: float) -> float | None:
    raw = args.get(name)
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except ValueError:
        f.fail(name, f"{name} must be a number, not {raw!r}.")
        return None
    if not low <= value <= high:
        f.fail(name, f"{name} must be between {low:,.0f} and {high:,.0f}.")
        return None
    return value


def _uuid(f: Filters, args: Mapping[str, str], name: str) -> uuid.UUID | None:
    raw = args.get(name)
    if raw in (None, ""):
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        f.fail(name, f"{name} must be a UUID, not {raw!r}.")
        return None


def _time(f: Filters, args: Mapping[str, str], name: str) -> str | None:
    raw = args.get(name)
    if raw in (None, ""):
        return None
    if not _TIME.match(raw):
        f.fail(name, f"{name} must be a time of day as HH:MM (24-hour), not {raw!r}.")
        return None
    return raw[:5]


def parse_filters(session: Session, args: Mapping[str, str], *, geocoder: Geocoder,
                  proximity: bool = False, extensions: bool = False) -> Filters:
    """Read and check every supported parameter; raise one 400 problem listing all mistakes."""
    f = Filters()
    text = (args.get("search") or "").strip()
    if len(text) > 200:
        f.fail("search", "search must be at most 200 characters.")
    f.search = text or None
    f.taxonomy_id = _uuid(f, args, "taxonomy_id")
    f.taxonomy_term_id = _uuid(f, args, "taxonomy_term_id")
    if f.taxonomy_id and not _exists(session, _TAXONOMY_EXISTS, f.taxonomy_id):
        f.fail("taxonomy_id", f"There is no taxonomy {f.taxonomy_id}.")
    if f.taxonomy_term_id and not _exists(session, _TERM_EXISTS, f.taxonomy_term_id):
        f.fail("taxonomy_term_id", f"There is no taxonomy term {f.taxonomy_term_id}.")
    f.minimum_age = _number(f, args, "minimum_age", 0, 130)
    f.maximum_age = _number(f, args, "maximum_age", 0, 130)
    if (day := (args.get("day") or "").strip()):
        f.day = day.upper() if day.upper() in DAYS else DAY_NAMES.get(day.lower())
        if f.day is None:
            f.fail("day", f"day must be a weekday ({', '.join(DAYS)} or its name), not {day!r}.")
    f.start_time = _time(f, args, "start_time")
    f.end_time = _time(f, args, "end_time")
    if f.start_time and f.end_time and f.start_time >= f.end_time:
        f.fail("end_time", "end_time must be later than start_time.")
    page, per_page = _number(f, args, "page", 1, 1_000_000), _number(f, args, "per_page", 1, MAX_PER_PAGE)
    for name, value in (("page", page), ("per_page", per_page)):
        if value is not None and value != int(value):
            f.fail(name, f"{name} must be a whole number.")
    f.page, f.per_page = int(page or 1), int(per_page or DEFAULT_PER_PAGE)
    if proximity:
        _parse_postcode(f, args, geocoder)
    if extensions:
        _parse_extensions(f, args)
    if f.errors:
        raise bad_request(f.errors)
    return f


# Checks on every filtered request: one indexed probe each, built once, not a row made into an object.
_TAXONOMY_EXISTS = sa.select(sa.literal(True)).where(Taxonomy.id == sa.bindparam("id"))
_TERM_EXISTS = sa.select(sa.literal(True)).where(TaxonomyTerm.id == sa.bindparam("id"))


def _exists(session: Session, probe: sa.Select, key: uuid.UUID) -> bool:
    return session.scalar(probe, {"id": key}) is not None


def _parse_postcode(f: Filters, args: Mapping[str, str], geocoder: Geocoder) -> None:
    postcode = (args.get("postcode") or "").strip()
    f.radius = _number(f, args, "proximity", 1, 200_000)
    if f.radius is not None and not postcode:
        f.fail("proximity", "proximity needs a postcode to measure from.")
    if postcode:
        try:
            f.point = geocoder.locate(postcode)
            f.district = postcode_district(postcode)
        except PostcodeError as exc:
            f.fail("postcode", str(exc))


def postcode_district(postcode: str) -> str:
    """The outward code ("TA1" of "ta1 1aa") that service areas list."""
    return normalise_postcode(postcode).split()[0]


def _parse_extensions(f: Filters, args: Mapping[str, str]) -> None:
    lat, lon = _number(f, args, "lat", -90, 90), _number(f, args, "lon", -180, 180)
    f.radius = _number(f, args, "radius", 1, 200_000)
    if (lat is None) != (lon is None):
        f.fail("lat" if lat is None else "lon", "lat and lon go together.")
    elif lat is not None:
        f.point = Point(lat, lon)
    if f.radius is not None and f.point is None:
        f.fail("radius", "radius needs lat and lon.")
    f.age = _number(f, args, "age", 0, 130)
    f.open_at = _time(f, args, "open_at")
    if (free := args.get("free")) not in (None, ""):
        if free not in ("true", "false"):
            f.fail("free", "free must be true or false.")
        f.free = free == "true"
    if (delivery := args.get("delivery")) not in (None, ""):
        if delivery not in DELIVERY_MODES:
            f.fail("delivery", f"delivery must be one of {', '.join(DELIVERY_MODES)}.")
        f.delivery = delivery
    if (sort := args.get("sort")) not in (None, ""):
        if sort not in SORTS:
            f.fail("sort", f"sort must be one of {', '.join(SORTS)}.")
        elif sort == "distance" and f.point is None:
            f.fail("sort", "sort=distance needs lat and lon.")
        elif sort == "relevance" and not f.search:
            f.fail("sort", "sort=relevance needs search words.")
        f.sort = sort


def facets(f: Filters) -> list[str]:
    """The filters the full-text index answers itself (see search.Document); it holds only
    listed services, so "listed" needs no filter there."""
    return [*([search.term_facet(f.taxonomy_term_id)] if f.taxonomy_term_id else []),
            *([search.taxonomy_facet(f.taxonomy_id)] if f.taxonomy_id else [])]


def service_conditions(f: Filters, *, faceted: bool = False) -> list[Any]:
    """WHERE clauses on Service for every filter except search and distance; `faceted`
    leaves out those the full-text index already applied (listed, taxonomy)."""
    where: list[Any] = [] if faceted else [Service.status.in_(LISTED)]
    if f.taxonomy_term_id and not faceted:  # the term or any term under it: "mental health" includes counselling
        where.append(Service.id.in_(sa.select(ServiceTerm.service_id)
                                    .where(ServiceTerm.taxonomy_term_id.in_(_term_and_descendants(f.taxonomy_term_id)))))
    if f.taxonomy_id and not faceted:
        where.append(Service.id.in_(sa.select(ServiceTerm.service_id).join(TaxonomyTerm)
                                    .where(TaxonomyTerm.taxonomy_id == f.taxonomy_id)))
    # ORUK's wording: services whose minimum age is at least, and maximum age at most, the value.
    if f.minimum_age is not None:
        where.append(Service.minimum_age >= f.minimum_age)
    if f.maximum_age is not None:
        where.append(Service.maximum_age <= f.maximum_age)
    if f.age is not None:  # a person's age: the service must accept it
        where.append(sa.or_(Service.minimum_age.is_(None), Service.minimum_age <= f.age))
        where.append(sa.or_(Service.maximum_age.is_(None), Service.maximum_age >= f.age))
    if f.day or f.start_time or f.end_time or f.open_at:
        where.append(Service.id.in_(sa.select(Schedule.service_id).where(*_schedule_conditions(f))))
    if f.free is not None:
        where.append(Service.is_free.is_(f.free))
    if f.delivery:
        where.append(Service.delivery_modes.contains(f.delivery))
    if f.organization_id:
        where.append(Service.organization_id == f.organization_id)
    if f.district:
        where.append(_covers(f.district))
    if f.districts:
        where.append(sa.or_(*(_covers(district) for district in f.districts)))
    return where


def _covers(district: str) -> Any:
    """ORUK `postcode`: a service whose areas state postcode districts must list the person's; one
    whose areas state none (or that has no area) is taken to cover everyone. Read from the service
    row's own copy of its districts, so the check costs no lookup per candidate."""
    return sa.or_(Service.covered_districts == "",
                  Service.covered_districts.contains(f" {district} ", autoescape=True))


def _term_and_descendants(term_id: uuid.UUID) -> sa.Select:
    tree = sa.select(TaxonomyTerm.id).where(TaxonomyTerm.id == term_id).cte("subterms", recursive=True)
    tree = tree.union_all(sa.select(TaxonomyTerm.id).where(TaxonomyTerm.parent_id == tree.c.id))
    return sa.select(tree.c.id)


def _schedule_conditions(f: Filters) -> list[Any]:
    where = []
    if f.day:
        where.append(Schedule.byday == f.day)
    # ORUK 3.0: "a start time of at least" start_time, "an end time equal to or below" end_time
    if f.start_time:
        where.append(Schedule.opens_at >= f.start_time)
    if f.end_time:
        where.append(Schedule.closes_at <= f.end_time)
    if f.open_at:  # extension: open at that moment (what a resident asks)
        where += [Schedule.opens_at <= f.open_at, Schedule.closes_at > f.open_at]
    return where


@dataclass
class Result:
    rows: list[Any]
    total: int
    distances: dict[uuid.UUID, float]
    scores: dict[uuid.UUID, float] = field(default_factory=dict)
    left_out: tuple[str, ...] = ()  # search words no listing uses, searched without (search.Search.ignored)


def _total(session: Session, f: Filters, rows: list, query: sa.Select) -> int:
    """The total rides along with a page's rows (count() OVER ()). An empty first page means no
    matches; only an empty later page needs a count of its own, to tell how far past the end it is."""
    if rows:
        return rows[0].total
    if f.page == 1:
        return 0
    return session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))


def _check_page(f: Filters, total: int) -> None:
    last = max((total + f.per_page - 1) // f.per_page, 1)
    if f.page > last:
        raise bad_request([{"location": "query", "pointer": "/page",
                            "detail": f"page {f.page} is past the last page ({last})."}])


def _search(session: Session, f: Filters) -> search.Search | None:
    """The full-text search for the words and facets, or None without words."""
    return search.prepare(session, f.search, facets(f)) if f.search else None


def _service_ids(f: Filters, hits: sa.CTE | None, *, needs_service: bool) -> tuple[sa.Select, Any]:
    """SELECT of matching service ids, and the id column to filter on. With search words the
    engine has applied the facets; the service table is joined only for the other filters."""
    if hits is None:
        return sa.select(Service.id).where(*service_conditions(f)), Service.id
    where = service_conditions(f, faceted=True)
    ids = (sa.select(SearchDocument.service_id.label("id"))
           .join(hits, hits.c.key == SearchDocument.key))
    if where or needs_service:
        ids = ids.join(Service, Service.id == SearchDocument.service_id).where(*where)
    return ids, SearchDocument.service_id


def list_services(session: Session, f: Filters, *, summaries: bool = False) -> Result:
    """Two steps: rank and page narrow rows (ids, rank, total) in SQL, then load only the
    page's services, so thousands of matches never become ORM objects. With `summaries` the page's
    services are plain records of the ORUK list item's fields (the API's list), not models."""
    load = _summaries_in_order if summaries else _services_in_order
    found = _search(session, f)
    sort = f.sort or ("relevance" if found is not None else "distance" if f.point is not None else "name")
    if sort == "relevance" and f.point is None and not service_conditions(f, faceted=True):
        return _best_matches(session, f, found, load)
    hits = found.hits() if found is not None else None
    ids, id_column = _service_ids(f, hits, needs_service=sort in ("name", "last_reviewed"))
    if f.point is not None and f.radius is not None and sort != "distance":  # distance joins them: no filter twice
        ids = ids.where(id_column.in_(sa.select(_nearest_locations(f, f.radius).c.service_id)))
    if sort == "distance" and f.radius is None:
        rows, total = _nearest_anywhere(session, f, ids, id_column)
    else:
        if sort == "distance":  # only services with a public location have a distance to order by
            ordered = _by_distance(ids, id_column, _nearest_locations(f, f.radius))
        elif sort == "relevance":  # equal ranks (copies of a text) keep a stable order
            ordered = ids.add_columns(hits.c.rank).order_by(hits.c.rank.desc(), hits.c.key)
        elif sort == "last_reviewed":
            ordered = ids.order_by(Service.assured_date.is_(None), Service.assured_date.desc(), Service.name,
                                   Service.id)
        else:
            ordered = ids.order_by(Service.name, Service.id)
        rows = _page_rows(session, f, ordered)
        total = _total(session, f, rows, ordered)
    _check_page(f, total)
    page_ids = [row.id for row in rows]
    distances = _page_distances(session, f, page_ids) if f.point is not None else {}
    return Result(load(session, page_ids), total, distances,
                  {row.id: row.rank for row in rows} if sort == "relevance" else {},  # only that select has rank
                  found.ignored if found is not None else ())


def _best_matches(session: Session, f: Filters, found: search.Search,
                  load: Callable[[Session, list[uuid.UUID]], list]) -> Result:
    """Words (and facets) only, by relevance: the engine ranks and pages by itself, and the
    total is counted without ranking, instead of joining and windowing every match."""
    hits = found.hits(materialized=False)
    top = (sa.select(hits.c.key, hits.c.rank).order_by(hits.c.rank.desc(), hits.c.key)
           .offset((f.page - 1) * f.per_page).limit(f.per_page).subquery("top"))
    rows = session.execute(sa.select(SearchDocument.service_id.label("id"), top.c.rank)
                           .join(top, top.c.key == SearchDocument.key)
                           .order_by(top.c.rank.desc(), top.c.key)).all()
    total = _counted_total(session, f, rows, found.count)
    _check_page(f, total)
    page_ids = [row.id for row in rows]
    return Result(load(session, page_ids), total, {}, {row.id: row.rank for row in rows}, found.ignored)


def _counted_total(session: Session, f: Filters, rows: list, count: Callable[[Session], int]) -> int:
    """A part-filled page (or an empty first one) is the last, so it tells the total by itself."""
    if 0 < len(rows) < f.per_page or (not rows and f.page == 1):
        return (f.page - 1) * f.per_page + len(rows)
    return count(session)


def _paged(f: Filters, ordered: sa.Select) -> sa.Select:
    """The page of `ordered`, with the total of all matches riding along (count() OVER ())."""
    return (ordered.add_columns(sa.func.count().over().label("total"))
            .offset((f.page - 1) * f.per_page).limit(f.per_page))


def _page_rows(session: Session, f: Filters, ordered: sa.Select) -> list:
    """The page's rows; only an empty page needs a count of its own (see _total)."""
    return session.execute(_paged(f, ordered)).all()


def _by_distance(ids: sa.Select, id_column: Any, nearest: sa.Subquery) -> sa.Select:
    return ids.join(nearest, nearest.c.service_id == id_column).order_by(nearest.c.squared_degrees, id_column)


RINGS_M = (2_000, 8_000, 32_000, 128_000)  # where the nearest services are looked for first


def _nearest_anywhere(session: Session, f: Filters, ids: sa.Select, id_column: Any) -> tuple[list, int]:
    """Nearest first with no radius, without ranking every located service: the page is looked
    for within growing rings (each a small indexed range). The first N services within a ring
    that holds at least N are the first N anywhere, so the ring's page is the page; the total
    is every matching service with a public location."""
    needed = f.page * f.per_page
    for radius in RINGS_M:
        rows = _page_rows(session, f, _by_distance(ids, id_column, _nearest_locations(f, radius)))
        if rows and rows[0].total >= needed:
            located = sa.select(ServiceAtLocation.service_id).join(Location).where(*_public_located())
            return rows, session.scalar(sa.select(sa.func.count()).select_from(
                ids.where(id_column.in_(located)).subquery()))
    ordered = _by_distance(ids, id_column, _nearest_locations(f, None))
    rows = _page_rows(session, f, ordered)
    return rows, _total(session, f, rows, ordered)


def _public_located() -> list[Any]:
    return [Location.latitude.is_not(None), Location.longitude.is_not(None), Location.confidential.is_(False)]


def _nearest_locations(f: Filters, radius: float | None) -> sa.Subquery:
    """(service_id, squared_degrees) of each service's nearest public location (within `radius`
    metres, if given): ordered and filtered in SQL, on the covering location index."""
    near = squared_degrees(f.point, Location.latitude, Location.longitude)
    query = (sa.select(ServiceAtLocation.service_id, sa.func.min(near).label("squared_degrees"))
             .join(Location, ServiceAtLocation.location_id == Location.id).where(*_public_located()))
    if radius is not None:
        min_lat, max_lat, min_lon, max_lon = bounding_box(f.point, radius)
        query = query.where(Location.latitude.between(min_lat, max_lat), Location.longitude.between(min_lon, max_lon),
                            near <= degrees(radius) ** 2)
    return query.group_by(ServiceAtLocation.service_id).subquery("nearest")


def _page_distances(session: Session, f: Filters, service_ids: list[uuid.UUID]) -> dict[uuid.UUID, float]:
    """Great-circle metres to the nearest public location, for the page's services only."""
    if not service_ids:
        return {}
    rows = session.execute(sa.select(ServiceAtLocation.service_id, Location.latitude, Location.longitude)
                           .join(Location, ServiceAtLocation.location_id == Location.id)
                           .where(ServiceAtLocation.service_id.in_(service_ids), *_public_located()))
    distances: dict[uuid.UUID, float] = {}
    for service_id, lat, lon in rows:
        d = distance_metres(f.point, Point(lat, lon))
        if d < distances.get(service_id, float("inf")):
            distances[service_id] = d
    return distances


def _services_in_order(session: Session, ids: list[uuid.UUID]) -> list[Service]:
    by_id = {s.id: s for s in session.scalars(sa.select(Service).where(Service.id.in_(ids)))} if ids else {}
    return [by_id[i] for i in ids]


def _summaries_in_order(session: Session, ids: list[uuid.UUID]) -> list[Any]:
    """The services as plain records of what an ORUK list item shows (oruk.service_summary), each
    with its organisation: one statement, none of the ORM's identity map and instance bookkeeping."""
    if not ids:
        return []
    by_id = {}
    query = sa.select(*_SERVICE_SUMMARY).join(Organization, Service.organization_id == Organization.id)
    for row in session.execute(query.where(Service.id.in_(ids))):
        row.service.organization = row.organization
        by_id[row.service.id] = row.service
    return [by_id[i] for i in ids]


def list_service_at_locations(session: Session, f: Filters) -> Result:
    found = _search(session, f)
    hits = found.hits() if found is not None else None
    query = (sa.select(ServiceAtLocation.id).join(Service, ServiceAtLocation.service_id == Service.id)
             .join(Location, ServiceAtLocation.location_id == Location.id)
             .where(*service_conditions(f, faceted=hits is not None)))
    if hits is not None:
        query = (query.join(SearchDocument, SearchDocument.service_id == Service.id)
                 .join(hits, hits.c.key == SearchDocument.key))
    if f.point is not None:
        return _at_locations_by_distance(session, f, query)
    rank = hits.c.rank if hits is not None else sa.literal(0.0)
    page = _page(f, query.add_columns(rank.label("rank"), Service.name.label("name")),
                 rank.desc(), Service.name, ServiceAtLocation.id)
    rows = _load_at_locations(page).order_by(page.c.rank.desc(), page.c.name, page.c.id)
    return _at_locations_result(session, f, query, session.execute(rows).all())


def _at_locations_by_distance(session: Session, f: Filters, query: sa.Select) -> Result:
    """Nearest first, ordered and paged in SQL (a bounding box on the indexed coordinates, then
    squared distance), so only the page's rows come back to Python."""
    near = squared_degrees(f.point, Location.latitude, Location.longitude)
    query = query.where(*_public_located())
    if f.radius is not None:
        min_lat, max_lat, min_lon, max_lon = bounding_box(f.point, f.radius)
        query = query.where(Location.latitude.between(min_lat, max_lat), Location.longitude.between(min_lon, max_lon),
                            near <= degrees(f.radius) ** 2)
    page = _page(f, query.add_columns(near.label("near")), near, ServiceAtLocation.id)
    rows = session.execute(_load_at_locations(page).order_by(page.c.near, page.c.id)).all()
    result = _at_locations_result(session, f, query, rows)
    result.distances = {sal.id: distance_metres(f.point, Point(sal.location.latitude, sal.location.longitude))
                        for sal in result.rows}
    return result


def _page(f: Filters, query: sa.Select, *order: Any) -> sa.Subquery:
    """The page's ids (with the total riding along), in `order`, to join the page's rows to."""
    return _paged(f, query.order_by(*order)).subquery("page")


class _Record(Bundle):
    """Columns that load as a plain object: the ORUK renderers read it as they read a model,
    without the ORM's identity map and instance bookkeeping (the hot path of every list)."""

    def create_row_processor(self, query, procs, labels):
        def record(row):
            return SimpleNamespace(**{label: proc(row) for label, proc in zip(labels, procs)})
        return record


_SERVICE_SUMMARY = (_Record("service", *(Service.__table__.c[name] for name in oruk.SERVICE_SUMMARY_FIELDS)),
                    _Record("organization", *(Organization.__table__.c[name] for name in oruk.ORGANIZATION_FIELDS)))
_LISTED_AT = (_Record("sal", ServiceAtLocation.id, ServiceAtLocation.service_id, ServiceAtLocation.location_id),
              _Record("location", *Location.__table__.c), *_SERVICE_SUMMARY)


def _load_at_locations(page: sa.Subquery) -> sa.Select:
    """One statement for the whole page: each row's service at location, location, service and
    organisation, joined to the paged ids (order it by the page's own columns)."""
    return (sa.select(page.c.total, *_LISTED_AT)
            .join_from(page, ServiceAtLocation, ServiceAtLocation.id == page.c.id)
            .join(Location, ServiceAtLocation.location_id == Location.id)
            .join(Service, ServiceAtLocation.service_id == Service.id)
            .join(Organization, Service.organization_id == Organization.id))


def _at_locations_result(session: Session, f: Filters, query: sa.Select, rows: list) -> Result:
    total = _total(session, f, rows, query)
    _check_page(f, total)
    listed = []
    for row in rows:
        row.service.organization = row.organization
        row.sal.location, row.sal.service = row.location, row.service
        listed.append(row.sal)
    return Result(listed, total, {})
