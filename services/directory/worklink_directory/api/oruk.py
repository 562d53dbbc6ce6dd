"""The Open Referral UK 3.0 read API: open to all, no sign-in, CORS `*`."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask import current_app, redirect, request
from flask.views import MethodView
from sqlalchemy.orm import Session

from worklink.problems import Problem
from worklink.web import service_context
from worklink.web.blueprint import Blueprint
from worklink.web.pages import prefers_html
from worklink_directory import oruk, oruk_schemas, queries
from worklink_directory.models import Service, ServiceAtLocation, ServiceCapacity, Taxonomy, TaxonomyTerm

blp = Blueprint("oruk", __name__, description="Open Referral UK 3.0 (HSDS-UK-3.0) read API. Open data: no "
                "authentication; every response carries `Access-Control-Allow-Origin: *`.")

def _oruk(name: str) -> dict:
    """A reference to vendored ORUK schema `name`, registered as a component by register_schemas."""
    return {"$ref": f"#/components/schemas/{oruk_schemas.COMPONENTS[name]}"}


def register_schemas(spec) -> None:
    for name, component in oruk_schemas.COMPONENTS.items():
        spec.components.schema(component, oruk_schemas.openapi_schema(name))


def _page_envelope(item: str) -> dict:
    return {"type": "object", "properties": {
        "total_items": {"type": "integer"}, "total_pages": {"type": "integer"}, "page_number": {"type": "integer"},
        "size": {"type": "integer"}, "first_page": {"type": "boolean"}, "last_page": {"type": "boolean"},
        "empty": {"type": "boolean"}, "contents": {"type": "array", "items": _oruk(item)}}}


def _one(schema: dict, summary: str) -> dict:
    """The documentation of an operation answering one ORUK record (or a 404 problem)."""
    return {"summary": summary, "responses": {"200": {"description": "OK",
                                                      "content": {"application/json": {"schema": schema}}}}}


_ROOT = {"type": "object", "required": ["version", "profile", "openapi_url"], "properties": {
    "version": {"type": "string", "description": "The ORUK version implemented", "example": "3.0"},
    "profile": {"type": "string", "format": "uri", "description": "The ORUK profile"},
    "openapi_url": {"type": "string", "format": "uri", "description": "The ORUK OpenAPI document"}}}


def _param(name: str, description: str, schema: dict, extension: bool = False) -> dict:
    # An empty value is read as the parameter left out (queries.parse_filters): a search form's blank box.
    param = {"name": name, "in": "query", "required": False, "description": description, "schema": schema,
             "allowEmptyValue": True}
    if extension:
        param["x-extension"] = True
        param["description"] = "Extension to ORUK 3.0: " + description
    return param


ORUK_PARAMS = [
    _param("search", "Full text search (stemmed; UK/US spellings, synonyms and near-misses).", {"type": "string"}),
    _param("page", "Page number, from 1.", {"type": "integer", "minimum": 1}),
    _param("per_page", f"Results per page (1-{queries.MAX_PER_PAGE}).", {"type": "integer", "minimum": 1,
                                                                          "maximum": queries.MAX_PER_PAGE}),
    _param("taxonomy_term_id", "Services tagged with this taxonomy term.", {"type": "string", "format": "uuid"}),
    _param("taxonomy_id", "Services tagged with any term of this taxonomy.", {"type": "string", "format": "uuid"}),
    _param("minimum_age", "Services whose minimum age is at least this.", {"type": "number"}),
    _param("maximum_age", "Services whose maximum age is at most this.", {"type": "number"}),
    _param("day", "Open on this weekday (MO..SU or its English name).", {"type": "string"}),
    _param("start_time", "Services with a start time of at least this (HH:MM): a session opening then or later.",
           {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"}),
    _param("end_time", "Services with an end time equal to or below this (HH:MM): a session closing then or earlier.",
           {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"}),
]
SERVICE_EXTENSIONS = [
    _param("lat", "latitude of a point to measure distance from.", {"type": "number"}, True),
    _param("lon", "longitude of that point.", {"type": "number"}, True),
    _param("radius", "only services with a location within this many metres of lat/lon.", {"type": "number"}, True),
    _param("sort", "order: relevance (default with search), distance (default with lat/lon), last_reviewed, name.",
           {"type": "string", "enum": list(queries.SORTS)}, True),
    _param("age", "a person's age: services that accept it.", {"type": "number"}, True),
    _param("open_at", "open at this time of day (HH:MM): a session opening at or before it and closing after it "
                      "(with day, on that day).", {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"}, True),
    _param("free", "only free (true) or only paid (false) services.", {"type": "boolean"}, True),
    _param("delivery", "delivery mode.", {"type": "string", "enum": ["in_person", "online", "telephone"]}, True),
]
PROXIMITY = [
    _param("postcode", "A UK postcode, used to check service coverage: a service whose service_area lists "
                       "postcode districts (x_postcode_districts) is returned only if the postcode's district is "
                       "one of them (an area without districts covers everyone). Results are ordered by distance "
                       "from the postcode's centroid.", {"type": "string"}),
    _param("proximity", "Only locations within this many metres of the postcode.", {"type": "string"}),
]


def _doc(params: list[dict], summary: str, item: str) -> dict:
    return {"summary": summary, "parameters": params,
            "responses": {"200": {"description": "OK",
                                  "content": {"application/json": {"schema": _page_envelope(item)}}},
                          "400": {"$ref": "#/components/responses/DEFAULT_ERROR"}}}


def _geocoder():
    return current_app.extensions["directory"]["geocoder"]


def _read() -> Session:
    return service_context().database.sessions()


def _get(session: Session, model, raw_id: str, label: str):
    try:
        key = uuid.UUID(raw_id)
    except ValueError:
        raise Problem(404, f"There is no {label} {raw_id!r}: ids are UUIDs.") from None
    record = session.get(model, key)
    if record is None:
        raise Problem(404, f"There is no {label} {raw_id}.")
    return record


@blp.route("/")
class ApiRoot(MethodView):
    @blp.doc(**_one(_ROOT, "Which standard this API implements (ORUK 3.0)."))
    def get(self):
        if prefers_html():  # a resident typing the bare address: the search page, not the API's JSON
            response = redirect(current_app.config["WORKLINK_HOME_PAGE"], 303)
        else:
            response = current_app.json.response(
                {"version": oruk.VERSION, "profile": oruk.PROFILE, "openapi_url": oruk.OPENAPI_URL})
        response.vary.add("Accept")  # one address, two answers: a cache keeps them apart
        return response


@blp.route("/services")
class Services(MethodView):
    @blp.doc(**_doc(ORUK_PARAMS + SERVICE_EXTENSIONS, "Listed services (one-to-one fields), filtered with AND.",
                    "service_list"))
    def get(self):
        with _read() as session:
            f = queries.parse_filters(session, request.args, geocoder=_geocoder(), extensions=True)
            result = queries.list_services(session, f, summaries=True)
            items = []
            for svc in result.rows:
                item = oruk.service_summary(svc)
                if svc.id in result.distances:
                    item["distance"] = round(result.distances[svc.id])  # extension: metres
                items.append(item)
            return oruk.page(items, total=result.total, page_number=f.page, per_page=f.per_page)


@blp.route("/services/<service_id>")
class ServiceById(MethodView):
    @blp.doc(**_one(_oruk("service"), "A service, fully nested (with HSDS 3.1 `service_capacity` as an extension)."))
    def get(self, service_id: str):
        with _read() as session:
            svc = _get(session, Service, service_id, "service")
            return oruk.service_full(svc, session.get(ServiceCapacity, svc.id))


@blp.route("/service_at_locations")
class ServiceAtLocations(MethodView):
    @blp.doc(**_doc(ORUK_PARAMS + PROXIMITY, "Services at their locations; by distance with postcode.",
                    "service_at_location_list"))
    def get(self):
        with _read() as session:
            f = queries.parse_filters(session, request.args, geocoder=_geocoder(), proximity=True)
            result = queries.list_service_at_locations(session, f)
            items = [oruk.service_at_location(sal, distance_m=result.distances.get(sal.id)) for sal in result.rows]
            return oruk.page(items, total=result.total, page_number=f.page, per_page=f.per_page)


@blp.route("/service_at_locations/<sal_id>")
class ServiceAtLocationById(MethodView):
    @blp.doc(**_one(_oruk("service_at_location"), "A service at a location, with the service fully nested as on "
                                                   "/services/{id} (HSDS 3.1 `service_capacity` too)."))
    def get(self, sal_id: str):
        with _read() as session:
            sal = _get(session, ServiceAtLocation, sal_id, "service at location")
            return oruk.service_at_location(sal, full=True, cap=session.get(ServiceCapacity, sal.service_id))


def _paged(session: Session, query, render) -> dict:
    f = queries.parse_filters(session, {k: request.args[k] for k in ("page", "per_page") if k in request.args},
                              geocoder=_geocoder())
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    queries._check_page(f, total)
    rows = session.scalars(query.offset((f.page - 1) * f.per_page).limit(f.per_page)).all()
    return oruk.page([render(r) for r in rows], total=total, page_number=f.page, per_page=f.per_page)


@blp.route("/taxonomies")
class Taxonomies(MethodView):
    @blp.doc(**_doc(ORUK_PARAMS[1:3], "Taxonomies used to tag services.", "taxonomy"))
    def get(self):
        with _read() as session:
            return _paged(session, sa.select(Taxonomy).order_by(Taxonomy.name), oruk.taxonomy)


@blp.route("/taxonomies/<taxonomy_id>")
class TaxonomyById(MethodView):
    @blp.doc(**_one(_oruk("taxonomy"), "A taxonomy with its terms."))
    def get(self, taxonomy_id: str):
        with _read() as session:
            tax = _get(session, Taxonomy, taxonomy_id, "taxonomy")
            terms = session.scalars(sa.select(TaxonomyTerm).where(TaxonomyTerm.taxonomy_id == tax.id)
                                    .order_by(TaxonomyTerm.name))
            return oruk.taxonomy(tax, terms)


@blp.route("/taxonomy_terms")
class TaxonomyTerms(MethodView):
    @blp.doc(**_doc(ORUK_PARAMS[1:3], "Taxonomy terms.", "taxonomy_term"))
    def get(self):
        with _read() as session:
            return _paged(session, sa.select(TaxonomyTerm).order_by(TaxonomyTerm.name, TaxonomyTerm.id),
                          oruk.taxonomy_term)


@blp.route("/taxonomy_terms/<term_id>")
class TaxonomyTermById(MethodView):
    @blp.doc(**_one(_oruk("taxonomy_term"), "A taxonomy term."))
    def get(self, term_id: str):
        with _read() as session:
            return oruk.taxonomy_term(_get(session, TaxonomyTerm, term_id, "taxonomy term"))
