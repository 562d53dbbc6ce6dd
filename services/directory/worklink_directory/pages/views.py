"""Pages: residents find support (no sign-in, no JavaScript needed); partner staff edit their listings.

Residents: /find (search and filters), /find/services/<id> (a service). Partner staff:
/partner (their organisation's listings), /partner/services/<id> (edit, assure).
"""

from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from flask import current_app, redirect, render_template, request
from werkzeug.wrappers import Response

from worklink.auth import current_principal, require_organisation, requires
from worklink.problems import Problem
from worklink.web import service_context
from worklink.web.pages import PagesBlueprint
from worklink_directory import queries, services
from worklink_directory.geocode import PostcodeError
from worklink_directory.models import DAYS, Service, ServiceCapacity, TaxonomyTerm

pages = PagesBlueprint("directory_pages", __name__, template_folder="templates")

DAY_LABELS = dict(zip(DAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")))
DELIVERY_LABELS = {"in_person": "In person", "online": "Online", "telephone": "By telephone"}
DISTANCES = (("", "Any distance"), ("1609", "1 mile"), ("8047", "5 miles"), ("16093", "10 miles"),
             ("40234", "25 miles"))
NAV = [("Find support", "/find"), ("Partner staff", "/partner")]
_FIELD_FOR = {"search": "q", "taxonomy_term_id": "category", "start_time": "time", "radius": "within"}


def _render(template: str, status: int = 200, **context) -> Response:
    html = render_template(template, nav=NAV, day_labels=DAY_LABELS, delivery_labels=DELIVERY_LABELS,
                           today=date.today(), review_due=services.is_review_due, **context)
    return Response(html, status=status, mimetype="text/html")


def _categories(session) -> list[TaxonomyTerm]:
    return list(session.scalars(sa.select(TaxonomyTerm).where(TaxonomyTerm.parent_id.is_(None))
                                .order_by(TaxonomyTerm.name)))


@pages.get("/find")
def find():
    form = {k: (request.args.get(k) or "").strip() for k in
            ("q", "postcode", "within", "category", "age", "day", "time", "free", "delivery", "page")}
    args = {"search": form["q"], "taxonomy_term_id": form["category"], "age": form["age"], "day": form["day"],
            "start_time": form["time"], "free": "true" if form["free"] else "", "delivery": form["delivery"],
            "page": form["page"], "per_page": "10"}
    errors: list[dict] = []
    searched = any(form[k] for k in form if k != "page")
    with service_context().database.sessions() as session:
        categories = _categories(session)
        result, f = None, None
        if searched:
            try:
                f = queries.parse_filters(session, args, geocoder=current_app.extensions["directory"]["geocoder"],
                                          extensions=True)
            except Problem as problem:
                errors = [{"field": _FIELD_FOR.get(e["pointer"].lstrip("/"), e["pointer"].lstrip("/")),
                           "detail": e["detail"]} for e in problem.extensions.get("errors", [])]
            try:
                point = _postcode_point(form)
            except PostcodeError as exc:
                errors.insert(0, {"field": "postcode", "detail": str(exc)})
            if not errors:
                if point is not None:
                    f.point, f.sort = point, (None if f.search else "distance")
                    f.radius = float(form["within"]) if form["within"].isdigit() else None
                try:
                    result = queries.list_services(session, f)
                except Problem as problem:  # a page past the end
                    errors = [{"field": "q", "detail": e["detail"]} for e in problem.extensions.get("errors", [])]
        return _render("directory/find.html", status=400 if errors else 200, form=form, errors=errors,
                       categories=categories, result=result, filters=f, distances_options=DISTANCES,
                       searched=searched)


def _postcode_point(form: dict):
    if not form["postcode"]:
        if form["within"]:
            raise PostcodeError("Enter a postcode to search within a distance.")
        return None
    return current_app.extensions["directory"]["geocoder"].locate(form["postcode"])


def _service_or_404(session, raw_id: str) -> Service:
    try:
        svc = session.get(Service, uuid.UUID(raw_id))
    except ValueError:
        svc = None
    if svc is None:
        raise Problem(404, "We could not find that service. It may have been removed.", title="Service not found")
    return svc


@pages.get("/find/services/<service_id>")
def service_page(service_id: str):
    with service_context().database.sessions() as session:
        svc = _service_or_404(session, service_id)
        return _render("directory/service.html", svc=svc, capacity=session.get(ServiceCapacity, svc.id))


@pages.get("/partner")
@requires("org_admin", "alliance_admin")
def partner_home():
    principal = current_principal()
    with service_context().database.sessions() as session:
        query = sa.select(Service).where(Service.status != "defunct").order_by(Service.name)
        if not principal.is_alliance_admin:
            query = query.where(Service.organization_id == _org_uuid(principal.organisation))
        listings = session.scalars(query.limit(200)).all()
        return _render("directory/partner_list.html", listings=listings)


def _org_uuid(raw: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw or "")
    except ValueError:
        return None


EDITABLE = ("name", "description", "application_process", "fees", "alert")


@pages.route("/partner/services/<service_id>", methods=["GET", "POST"])
@requires("org_admin", "alliance_admin")
def partner_edit(service_id: str):
    ctx = service_context()
    with ctx.database.transaction() as session:
        svc = _service_or_404(session, service_id)
        require_organisation(str(svc.organization_id))
        if request.method == "GET":
            return _render("directory/partner_edit.html", svc=svc, values={k: getattr(svc, k) or "" for k in EDITABLE},
                           errors=[])
        values = {k: request.form.get(k, "").strip() for k in EDITABLE}
        errors = [{"field": "name", "detail": "Enter the service's name (2 to 255 characters)."}] \
            if not 2 <= len(values["name"]) <= 255 else []
        if errors:
            return _render("directory/partner_edit.html", status=400, svc=svc, values=values, errors=errors)
        editor = services.Editor(current_principal().subject, current_principal().claims.get("email"))
        geocoder = current_app.extensions["directory"]["geocoder"]
        services.update_service(session, ctx.outbox, svc, {k: v or None for k, v in values.items()}, editor, geocoder)
        if request.form.get("assure"):
            services.assure_service(session, ctx.outbox, svc, editor)
    return redirect(f"/partner/services/{service_id}?saved=1", code=303)
