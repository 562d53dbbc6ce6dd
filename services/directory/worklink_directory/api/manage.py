"""The write API: an organisation's `org_admin` (or an `alliance_admin`) keeps its listings current."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from typing import Iterator

import sqlalchemy as sa
from flask import current_app, request
from flask.views import MethodView

from worklink.auth import current_principal, require_organisation, requires
from worklink.problems import Problem, ProblemSchema
from worklink.web import service_context
from worklink.web.blueprint import Blueprint
from worklink_directory import oruk, oruk_schemas, services
from worklink_directory.geocode import Prelocated, normalise_postcode
from worklink_directory.models import Metadata, Organization, Service, ServiceCapacity
from worklink_directory.schemas import PATCH_PARTIAL, AssureIn, OrganizationIn, ServiceIn, ServicePatch, WithdrawIn

blp = Blueprint("manage", __name__, url_prefix="/manage",
                description="Partner organisations create, update, assure and withdraw their listings.")

ADMINS = ("org_admin", "alliance_admin")


def _answers(status: int, schema: dict):
    """Documents an answer a view builds itself (as the ORUK read API's are, not dumped by a marshmallow schema)."""
    return blp.doc(responses={status: {"content": {"application/json": {"schema": schema}}}})


# A listing is answered as GET /services/{id} gives it: the ORUK service, fully nested.
LISTING = {"$ref": f"#/components/schemas/{oruk_schemas.COMPONENTS['service']}"}
_STRING, _NULLABLE = {"type": "string"}, {"type": "string", "nullable": True}
ORGANIZATION = {"type": "object", "properties": {"id": {"type": "string", "format": "uuid"}, "name": _STRING,
                                                 "description": _STRING, "email": _STRING, "website": _STRING}}
CHANGE_LOG = {"type": "object", "properties": {"contents": {"type": "array", "items": {
    "type": "object", "description": "an HSDS metadata row: one field's change", "properties": {
        "id": {"type": "string", "format": "uuid"}, "resource_id": {"type": "string", "format": "uuid"},
        "resource_type": _STRING, "last_action_date": {"type": "string", "format": "date-time"},
        "last_action_type": _STRING, "field_name": _STRING, "previous_value": _NULLABLE,
        "replacement_value": _NULLABLE, "updated_by": _STRING}}}}}


def _editor() -> services.Editor:
    return services.Editor(subject=current_principal().subject)


def _located(data: dict) -> Prelocated:
    """The payload's postcodes, looked up before the write transaction opens. Only once the caller may make the
    write: a refused one must never reach the geocoder (each lookup costs, counts against its rate limit, and
    would tell a stranger which postcodes it knows)."""
    return Prelocated(current_app.extensions["directory"]["geocoder"], services.postcodes_to_locate(data))


def _located_for(service_id: uuid.UUID, data: dict) -> Prelocated:
    """`_located` for a change to a listing: the caller's ownership is checked first (no lock: the write
    transaction checks it again under its lock), and only when there is a postcode to look up."""
    if services.postcodes_to_locate(data):
        with service_context().database.sessions() as session:
            _owned_service(session, service_id, lock=False)
    return _located(data)


def _owned_service(session, service_id: uuid.UUID, *, lock: bool = True, change: dict | None = None) -> Service:
    """The caller's organisation's listing (403 for another's), locked for a change unless `lock` is False - with
    every listing `change` can touch through a place they share, in one order (services.lock_for_change)."""
    svc = services.lock_for_change(session, service_id, change or {}) if lock else session.get(Service, service_id)
    if svc is None:
        raise Problem(404, f"There is no service {service_id}.")
    require_organisation(str(svc.organization_id))
    return svc


@contextmanager
def _domain_problems() -> Iterator[None]:
    """A rule the change breaks is a problem: 422 naming the field it is about, else 409."""
    try:
        yield
    except services.AddressNotConfirmed as error:
        raise _unconfirmed_publication(error) from None
    except services.RemovalNotConfirmed as error:
        raise _unconfirmed_removal(error) from None
    except services.DomainError as error:
        if error.field:
            raise Problem(422, str(error), errors=[{"location": "json", "pointer": f"/{error.field}",
                                                    "detail": str(error)}]) from None
        raise Problem(409, str(error)) from None


def _unconfirmed_publication(error: services.AddressNotConfirmed) -> Problem:
    """What to send to publish a confidential place's address on purpose: nothing was changed."""
    def detail(place: services.Publication) -> str:
        if place.place is not None:
            return (f"Location {place.place.id} is confidential (a refuge or similar): `confidential: false` "
                    "publishes its address, postcode and position on the open feed and the residents' pages. "
                    "If that is meant, send `publish_address: true` with it.")
        return (f"The organisation has a confidential place at {normalise_postcode(place.postcode)}; a "
                "place sent there with `confidential: false` publishes its address, postcode and position. If "
                "this is another place, send `publish_address: true` with it; left out, `confidential` keeps it "
                "confidential.")
    return Problem(409, "This write would publish the address of a confidential place, so nothing was changed. "
                        "To publish it on purpose, send `publish_address: true` with each location named in "
                        "errors.", title="Confirm publishing a confidential address",
                   errors=[{"location": "json", "pointer": f"/locations/{place.index}/publish_address",
                            "detail": detail(place)} for place in error.places])


def _unconfirmed_removal(error: services.RemovalNotConfirmed) -> Problem:
    """What to send to delete a confidential place on purpose, knowing it is then forgotten: nothing was changed."""
    def detail(place) -> str:
        return (f"Location {place.id} ({place.name or 'unnamed'}) is confidential (a refuge or similar) and this write "
                "deletes it: no other listing uses it and no confidential place is kept at its postcode. Its "
                "address is then gone, and a place added there later is published unless sent with "
                "`confidential: true`.")
    return Problem(409, "This write would delete a confidential place, so nothing was changed. To delete it on "
                        "purpose, send `remove_confidential_places: true` (with the listing's ETag in If-Match); to "
                        "replace it, send the new place in the same write (at the same postcode it stays "
                        "confidential).", title="Confirm removing a confidential place",
                   errors=[{"location": "json", "pointer": f"/{services.REMOVE_CONFIDENTIAL}",
                            "detail": detail(place)} for place in error.places])


def _acknowledgements(data: dict) -> list[str]:
    """Where the payload acknowledges a confidential place's address going public or being deleted (pointers)."""
    said = [f"/locations/{i}/{services.PUBLISH_ADDRESS}" for i, item in enumerate(data.get("locations") or [])
            if item.get(services.PUBLISH_ADDRESS) is True]
    return said + ([f"/{services.REMOVE_CONFIDENTIAL}"] if data.get(services.REMOVE_CONFIDENTIAL) is True else [])


# Documented answers of the writes (RFC 9457 problems, as every error here).
CONFIRM = ("Confirmation needed: the write would publish a confidential place's address (errors point at "
           "`/locations/{i}/publish_address`) or delete a confidential place (`/remove_confidential_places`); nothing "
           "was changed. Also: a listing withdrawn already.")
CONFIRM_NEW = ("Confirmation needed: the listing would publish the address of one of the organisation's confidential "
               "places (errors point at `/locations/{i}/publish_address`); nothing was saved.")
STALE = "If-Match is not the listing's current version: it changed since you read it; nothing was changed."
UNCONDITIONAL = ("An acknowledgement (`publish_address` or `remove_confidential_places`: true) sent without the "
                 "listing's ETag in If-Match (a POST has none to send); nothing was changed.")
WITHDRAWN = "The listing was withdrawn (already); nothing was changed."


def _problem(status: int, description: str):
    return blp.alt_response(status, schema=ProblemSchema, content_type="application/problem+json",
                            description=description)


def _full(session, svc: Service) -> dict:
    session.flush()
    session.refresh(svc)
    return oruk.service_full(svc, session.get(ServiceCapacity, svc.id))


@blp.route("/organizations")
class Organizations(MethodView):
    @requires("alliance_admin")
    @blp.arguments(OrganizationIn)
    @blp.response(201)
    @_answers(201, ORGANIZATION)
    @_problem(409, "An organisation with this id exists already.")
    def post(self, data):
        """Register a partner organisation (alliance_admin)."""
        ctx = service_context()
        with ctx.database.transaction() as session:
            org = Organization(id=data.pop("id", None) or uuid.uuid4(), **data)
            if session.get(Organization, org.id):
                raise Problem(409, f"Organisation {org.id} already exists.")
            session.add(org)
            session.flush()
            return oruk.compact(oruk.organization(org))


@blp.route("/services")
class ManageServices(MethodView):
    @requires(*ADMINS)
    @blp.arguments(ServiceIn)
    @blp.response(201)
    @_answers(201, LISTING)
    @_problem(409, CONFIRM_NEW)
    @_problem(428, UNCONDITIONAL)
    def post(self, data):
        """Publish a new listing for your organisation."""
        require_organisation(str(data["organization_id"]))  # before _located: a refused write looks nothing up
        if said := _acknowledgements({k: v for k, v in data.items() if k != services.REMOVE_CONFIDENTIAL}):
            raise _unconditional(said, "A new listing has no version to match, so it cannot publish a confidential "
                                       "place's address: create it without that place (or with it confidential), "
                                       "then PATCH it with `publish_address: true` and its ETag in If-Match.")
        ctx, geocoder = service_context(), _located(data)
        with ctx.database.transaction() as session:
            with _domain_problems():
                svc = services.create_service(session, ctx.outbox, data, _editor(), geocoder)
            return _written(session, svc, 201, {"Location": f"/services/{svc.id}"})


def _versioned(session, svc: Service, status: int = 200, headers: dict | None = None):
    """The listing, with its version as the ETag a later PATCH sends back in If-Match."""
    body = _full(session, svc)
    return body, status, {**(headers or {}), "ETag": f'"{services.version(svc)}"'}


def _written(session, svc: Service, status: int = 200, headers: dict | None = None):
    """A write's answer; a write that would leave the listing invalid ORUK 3.0 on the open feed (say, under an
    organisation stored before its name was checked) is refused and rolled back, as the importer refuses one."""
    body, status, headers = _versioned(session, svc, status, headers)
    problems = oruk_schemas.problems("service", body)
    if problems:
        raise Problem(422, "This listing would not be valid Open Referral UK 3.0, so it was not saved.",
                      errors=[{"location": "listing", "pointer": problem.split(": ", 1)[0],
                               "detail": problem.split(": ", 1)[-1]} for problem in problems])
    return body, status, headers


def _unconditional(pointers: list[str], detail: str) -> Problem:
    return Problem(428, detail, title="If-Match required",
                   errors=[{"location": "json", "pointer": pointer, "detail": "Acknowledged without If-Match."}
                           for pointer in pointers])


def _require_if_match(svc: Service, data: dict) -> None:
    """An acknowledgement (an address published, a confidential place deleted) stands only for the version the
    caller read: made against a stale copy, it could publish a place a colleague has marked confidential since,
    unseen. So it needs the listing's ETag in If-Match (`*` names no version): 428 without, 412 if stale."""
    said = _acknowledgements(data)
    header = (request.headers.get("If-Match") or "").strip()
    if said and header in ("", "*"):
        raise _unconditional(said, "Publishing a confidential place's address or deleting a confidential place "
                                   "applies only to the version of the listing you read: send its ETag (GET "
                                   f"/manage/services/{svc.id}) in If-Match with the acknowledgement.")


def _check_if_match(svc: Service) -> None:
    """A PATCH with If-Match changes the listing only if nobody changed it since the caller read it
    (RFC 9110: otherwise 412). Without If-Match the write goes ahead as before."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return
    tags = {tag.strip().removeprefix("W/").strip('"') for tag in header.split(",")}
    if services.version(svc) not in tags:
        raise Problem(412, "This listing has changed since you read it. Read it again (GET /manage/services/"
                           f"{svc.id}), re-apply your change and send the new ETag in If-Match.",
                      title="Listing changed", errors=[{"location": "headers", "pointer": "/If-Match",
                                                        "detail": "Not the listing's current version."}])


@blp.route("/services/<uuid:service_id>")
class ManageService(MethodView):
    @requires(*ADMINS)
    @blp.response(200)
    @_answers(200, LISTING)
    def get(self, service_id: uuid.UUID):
        """Your listing as it is now (fully nested), with its version in the ETag header."""
        with service_context().database.sessions() as session:
            svc = _owned_service(session, service_id, lock=False)
            return _versioned(session, svc)

    @requires(*ADMINS)
    @blp.arguments(ServicePatch(partial=PATCH_PARTIAL))
    @blp.response(200)
    @_answers(200, LISTING)
    @_problem(409, CONFIRM)
    @_problem(412, STALE)
    @_problem(428, UNCONDITIONAL)
    @blp.doc(parameters=[{"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"},
                          "description": "The ETag of GET /manage/services/{id} (or of an earlier write): the "
                                         "change is made only if the listing is still that version, else 412. "
                                         "Required (428 without) with `publish_address` or "
                                         "`remove_confidential_places`."}])
    def patch(self, data, service_id: uuid.UUID):
        """Change a listing: only the fields sent change; a list sent replaces the old list."""
        given = set(request.get_json(silent=True) or {})  # not the schema's defaults
        data = {k: v for k, v in data.items() if k in given and k != "organization_id"}
        ctx, geocoder = service_context(), _located_for(service_id, data)
        with ctx.database.transaction() as session:
            # locked (with the listings sharing a place it changes): nobody can change it between check and write
            svc = _owned_service(session, service_id, change=data)
            _require_if_match(svc, data)
            _check_if_match(svc)
            with _domain_problems():
                services.update_service(session, ctx.outbox, svc, data, _editor(), geocoder)
            return _written(session, svc)


@blp.route("/services/<uuid:service_id>/assure")
class AssureService(MethodView):
    @requires(*ADMINS)
    @blp.arguments(AssureIn)
    @blp.response(200)
    @_answers(200, LISTING)
    @_problem(409, WITHDRAWN)
    def post(self, data, service_id: uuid.UUID):
        """Record that a person checked this listing today (sets assured_date)."""
        ctx = service_context()
        with ctx.database.transaction() as session:
            svc = _owned_service(session, service_id)
            with _domain_problems():
                services.assure_service(session, ctx.outbox, svc, _editor(), data.get("assurer_email"))
            return _full(session, svc)


@blp.route("/services/<uuid:service_id>/withdraw")
class WithdrawService(MethodView):
    @requires(*ADMINS)
    @blp.arguments(WithdrawIn)
    @blp.response(200)
    @_answers(200, LISTING)
    @_problem(409, WITHDRAWN)
    def post(self, data, service_id: uuid.UUID):
        """Withdraw a listing: it is no longer offered (status `defunct`)."""
        ctx = service_context()
        with ctx.database.transaction() as session:
            svc = _owned_service(session, service_id)
            with _domain_problems():
                services.withdraw_service(session, ctx.outbox, svc, data["reason"], _editor())
            return _full(session, svc)


@blp.route("/services/<uuid:service_id>/metadata")
class ServiceMetadata(MethodView):
    @requires(*ADMINS)
    @blp.response(200)
    @_answers(200, CHANGE_LOG)
    def get(self, service_id: uuid.UUID):
        """The listing's change log (HSDS `metadata`), newest first; owners and alliance admins only."""
        with service_context().database.sessions() as session:
            svc = _owned_service(session, service_id, lock=False)
            rows = session.scalars(sa.select(Metadata).where(Metadata.resource_id == service_id)
                                   .order_by(Metadata.last_action_date.desc(), Metadata.field_name))
            return {"contents": [{"id": str(m.id), "resource_id": str(m.resource_id), "resource_type": m.resource_type,
                                  "last_action_date": oruk.iso(m.last_action_date),
                                  "last_action_type": m.last_action_type, "field_name": m.field_name,
                                  "previous_value": m.previous_value, "replacement_value": m.replacement_value,
                                  "updated_by": m.updated_by} for m in rows]}
