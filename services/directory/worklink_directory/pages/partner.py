"""Partner staff keep their organisation's listings current (/partner pages).

An `org_admin` edits the listings of their own organisation, an `alliance_admin` any
listing. Every change goes through services.py exactly as the write API's do, so the
metadata trail, the outbox event and the search index follow. A form posts back to its
own page: a mistake re-renders it (400) with the NHS.UK error summary and a message
beside each field; a success redirects (303) to the listing with a code (`?done=`) that the page shows
as NHS.UK's success banner (worklink/banners.html), its words fixed here. Plain HTML
forms, so everything works without JavaScript; the shared pages machinery checks CSRF.

Locations, contacts and opening times are "parts" of a listing with the same three
pages each (add, change, remove); the service layer takes a listing's whole list, so a
page sends the current list with one item added, changed or left out. Every item keeps
its id (the service layer updates it in place; a dropped location no listing uses is deleted).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable

import sqlalchemy as sa
from flask import current_app, g, redirect, request
from marshmallow import ValidationError, validate
from werkzeug.datastructures import MultiDict

from worklink.auth import current_principal, require_organisation, requires
from worklink.problems import Problem
from worklink.web import service_context
from worklink.web.numbers import whole_number
from worklink.web.pages import PagesBlueprint
from worklink_directory import services
from worklink_directory.geocode import PostcodeError, Prelocated, normalise_postcode
from worklink_directory.models import (DAYS, DELIVERY_MODES, Contact, Location, Organization, Schedule, Service,
                                       ServiceAtLocation, TaxonomyTerm)
from worklink_directory.pages.common import DAY_LABELS, DELIVERY_LABELS, hhmm, parse_uuid, render, service_or_404
from worklink_directory import schemas
from worklink_directory.schemas import WITHDRAW_REASONS

pages = PagesBlueprint("partner", __name__)

ADMINS = ("org_admin", "alliance_admin")
WITHDRAW_LABELS = {"closed": "The service has closed", "duplicate": "It duplicates another listing",
                   "no_longer_funded": "It is no longer funded", "moved": "Another organisation runs it now",
                   "other": "Another reason"}
assert set(WITHDRAW_LABELS) == set(WITHDRAW_REASONS)
# What a change did (the redirect carries the code, never words): (heading, what follows); {noun} is the part's.
DONE = {"saved": ("Listing saved", "Your changes were saved."),
        "saved-checked": ("Listing saved and checked", "Your changes were saved. The listing is marked as checked "
                                                       "today."),
        "checked": ("Listing checked", "Nothing needed changing. The listing is marked as checked today."),
        "unchanged": ("Nothing changed", "The listing was already as you saved it. If you have checked that it is "
                                         "correct, tick \u201cI have checked this listing is correct today\u201d and "
                                         "save again."),
        "created": ("Listing published", "Your listing is published. Now add where it is, who to contact and when "
                                         "it is open."),
        "added": ("{Noun} added", "The {noun} was added."),
        "added-several": ("{Noun}s added", "The {noun}s were added."),  # opening times for several days
        "changed": ("{Noun} changed", "The {noun} was changed."),
        "removed": ("{Noun} removed", "The {noun} was removed."),
        "not-published": ("Address not published", "Nothing was saved: the address is still confidential."),
        # the same add form sent again (a double click, two tabs): what it added is not added twice
        "created-again": ("Listing already published", "This form had already published the listing, so it was not "
                                                       "published again. Check the details below."),
        "added-again": ("{Noun} already added", "This form had already added the {noun}, so it was not added "
                                                "again. Check the {noun}s below.")}
DELIVERY_OPTIONS = [(code, label) for code, label in DELIVERY_LABELS.items()]
LISTINGS_PER_PAGE = 50
# ORUK statuses a partner chooses on the details form. "inactive" (not offered for now: hidden from residents' searches,
# referrals stop) comes from feeds and the write API too: the form shows it, or such a listing showed no answer at all.
OPEN_STATUSES = {"active": "Open", "temporarily closed": "Temporarily closed", "inactive": "Not offered for now"}
TEXT_LIMITS = {"name": 255, "description": 5000, "application_process": 5000, "fees": 1000, "alert": 1000}
# An add form's own id (a hidden field): what the form adds is given it, so the form sent twice - a double click
# without JavaScript, a slow page clicked again, a second tab - adds once and then finds what it added.
FORM_ID = "form_id"


class Form:
    """What was typed (to show it back) and the mistakes, in page order (field id -> message)."""

    def __init__(self, values: dict[str, Any]):
        self.values = values
        self.errors: dict[str, str] = {}

    def error(self, field: str, message: str) -> None:
        self.errors.setdefault(field, message)


def _editor() -> services.Editor:
    return services.Editor(current_principal().subject)


def _geocoder():
    """The form's postcodes as looked up before its transaction opened, if they were (_locate_posted)."""
    return g.get("located") or current_app.extensions["directory"]["geocoder"]


def _locate_posted(service_id: str) -> None:
    """Look up a posted form's postcodes now, before the write transaction opens - once the signed-in person may
    change the listing: a refused post must never reach the geocoder (each lookup costs, counts against its
    rate limit, and would tell a stranger which postcodes it knows). The transaction checks again, locked."""
    with service_context().database.sessions() as session:
        _changeable(session, service_id, for_update=False)
    g.located = Prelocated(current_app.extensions["directory"]["geocoder"], request.form.getlist("postal_code"))


def _owned(session, service_id: str, *, for_update: bool = False, places: bool = False) -> Service:
    svc = service_or_404(session, service_id, for_update=for_update, places=places)
    require_organisation(str(svc.organization_id))
    return svc


def _changeable(session, service_id: str, *, for_update: bool = True, places: bool = False) -> Service:
    """The listing, locked for a change unless `for_update` is False; `places`: a change to its places, which locks
    every listing offered at one of them as well (one of them shared, it changes them too)."""
    return _not_withdrawn(_owned(session, service_id, for_update=for_update, places=places))


def _not_withdrawn(svc: Service) -> Service:
    if svc.status == "defunct":
        raise Problem(409, "This listing was withdrawn, so it can no longer be changed.", title="Listing withdrawn")
    return svc


def _form_post() -> bool:
    """Only a POST writes. Flask answers HEAD with the same view, and the CSRF check lets HEAD by as a safe
    method: a page that wrote on anything but GET changed a listing with no form and no token."""
    return request.method == "POST"


def _done(svc: Service, code: str, part: "Part | None" = None) -> Any:
    """Back to the listing with its success banner's code and the part changed. No #section: NHS.UK's success
    banner sits above the h1 and takes focus on load, and a jump would scroll it out of sight (and, in
    Chromium, take its focus away); the banner links to the section instead (_done_banner)."""
    query = f"?done={code}" + (f"&part={part.slug}" if part else "")
    return redirect(f"/partner/services/{svc.id}{query}", code=303)


# --- the organisation's listings ----------------------------------------------------------------

@pages.get("/partner")
@requires(*ADMINS)
def partner_home():
    principal = current_principal()
    with service_context().database.sessions() as session:
        listed = sa.select(Service).where(Service.status != "defunct")
        if not principal.is_alliance_admin:
            listed = listed.where(Service.organization_id == parse_uuid(principal.organisation))
        total = session.scalar(sa.select(sa.func.count()).select_from(listed.subquery()))
        last = max(-(-total // LISTINGS_PER_PAGE), 1)
        number = whole_number(request.args.get("page", "1"), 1_000_000)
        if number is None:  # not a page number (a hand-edited link): the first page
            number = 1
        if not 1 <= number <= last:
            raise Problem(404, f"There are {last} pages of listings.", title="Page not found")
        listings = session.scalars(listed.order_by(Service.name, Service.id)
                                   .offset((number - 1) * LISTINGS_PER_PAGE).limit(LISTINGS_PER_PAGE)).all()
        withdrawn_id = parse_uuid(request.args.get("withdrawn"))
        withdrawn = session.get(Service, withdrawn_id) if withdrawn_id else None
        if withdrawn is not None and not principal.acts_for(str(withdrawn.organization_id)):
            withdrawn = None
        done = ("Listing withdrawn", f"{withdrawn.name} was withdrawn. Residents no longer see it.") if withdrawn else None
        return render("directory/partner_list.html", listings=listings, done=done, total=total,
                      page_number=number, last_page=last, show_organisation=principal.is_alliance_admin)


# --- a listing's details -------------------------------------------------------------------------

def _term_options(session) -> list[tuple[str, str, int]]:
    """Every term, each parent followed by its children (value, label, depth)."""
    children: dict[uuid.UUID | None, list[TaxonomyTerm]] = defaultdict(list)
    for term in session.scalars(sa.select(TaxonomyTerm).order_by(TaxonomyTerm.name)):
        children[term.parent_id].append(term)
    known = {t.id for terms in children.values() for t in terms}
    roots = [t for parent, terms in children.items() if parent is None or parent not in known for t in terms]
    options: list[tuple[str, str, int]] = []

    def walk(terms: list[TaxonomyTerm], depth: int) -> None:
        for term in sorted(terms, key=lambda t: t.name):
            options.append((str(term.id), term.name, depth))
            walk(children.get(term.id, []), depth + 1)

    walk(roots, 0)
    return options


def _listing_values(svc: Service) -> dict[str, Any]:
    values = {k: getattr(svc, k) or "" for k in TEXT_LIMITS}
    values.update(minimum_age="" if svc.minimum_age is None else str(svc.minimum_age),
                  maximum_age="" if svc.maximum_age is None else str(svc.maximum_age),
                  is_free="yes" if svc.is_free else "no", delivery_modes=svc.delivery,
                  taxonomy_term_ids=[str(a.taxonomy_term_id) for a in svc.attributes],
                  url=svc.url or "", email=svc.email or "", status=svc.status,
                  area_name=svc.service_areas[0].name if svc.service_areas else "",
                  postcode_districts=" ".join(svc.area_codes or []))
    return values


OUTWARD_CODE = re.compile(schemas.OUTWARD_CODE)


def _read_area(form: "Form", data: MultiDict) -> list[dict]:
    """Where people must live: one named area of postcode districts, or none (anyone)."""
    name = data.get("area_name", "").strip()
    codes = list(dict.fromkeys(c for c in re.split(r"[\s,;]+", data.get("postcode_districts", "").upper()) if c))
    form.values.update(area_name=name, postcode_districts=" ".join(codes))
    bad = [c for c in codes if not OUTWARD_CODE.match(c)]
    if codes and not name:  # the name first, as the page asks (the error summary lists mistakes in page order)
        form.error("area_name", "Name the area, for example Taunton and nearby.")
    elif len(name) > 255:
        form.error("area_name", "The area's name must be 255 characters or fewer.")
    if bad:
        form.error("postcode_districts", f"Enter postcode districts like TA1 or BS16 ({', '.join(bad)} "
                                         f"{'is not one' if len(bad) == 1 else 'are not'}).")
    elif name and not codes:
        form.error("postcode_districts", "Enter the postcode districts the service covers, or leave both empty.")
    return [{"name": name, "extent_type": "text", "extent": "Postcode districts " + ", ".join(codes),
             "postcode_districts": codes}] if codes else []


def _read_listing(data: MultiDict, term_ids: set[str]) -> tuple[Form, dict[str, Any]]:
    """The listing form, checked field by field in page order; returns the form and the service input."""
    form = Form({**{k: data.get(k, "").strip() for k in (*TEXT_LIMITS, "minimum_age", "maximum_age", "is_free",
                                                          "organization_id", "url", "email", "status")},
                 "taxonomy_term_ids": data.getlist("taxonomy_term_ids"),
                 "delivery_modes": data.getlist("delivery_modes")})
    values, out = form.values, {}
    if not 2 <= len(values["name"]) <= TEXT_LIMITS["name"]:
        form.error("name", "Enter the service's name (2 to 255 characters).")
    for name, label in (("description", "The description"), ("application_process", "How to get help")):
        if len(values[name]) > TEXT_LIMITS[name]:
            form.error(name, f"{label} must be {TEXT_LIMITS[name]:,} characters or fewer.")
    _read_contact_details(form, out)
    if not values["taxonomy_term_ids"] and term_ids:
        form.error("taxonomy_term_ids", "Select at least one type of support.")
    elif not set(values["taxonomy_term_ids"]) <= term_ids:
        form.error("taxonomy_term_ids", "Select types of support from the list.")
    for name, which in (("minimum_age", "youngest"), ("maximum_age", "oldest")):
        text = values[name]
        out[name] = whole_number(text, 130)
        if text and out[name] is None:
            form.error(name, f"Enter the {which} age as a whole number from 0 to 130, or leave it empty.")
    if out["minimum_age"] is not None and out["maximum_age"] is not None and out["minimum_age"] > out["maximum_age"]:
        form.error("maximum_age", "The oldest age must be the same as or more than the youngest age.")
    if values["is_free"] not in ("yes", "no"):
        form.error("is_free", "Select whether the service is free.")
    if values["is_free"] == "no" and not values["fees"]:
        form.error("fees", "Say what the service costs.")
    elif len(values["fees"]) > TEXT_LIMITS["fees"]:
        form.error("fees", "What it costs must be 1,000 characters or fewer.")
    if not values["delivery_modes"] or not set(values["delivery_modes"]) <= set(DELIVERY_MODES):
        form.error("delivery_modes", "Select how the service is provided.")
    if values["status"] and values["status"] not in OPEN_STATUSES:
        form.error("status", "Select whether the service is open.")
    if len(values["alert"]) > TEXT_LIMITS["alert"]:
        form.error("alert", "The notice must be 1,000 characters or fewer.")
    out.update({k: values[k] or None for k in TEXT_LIMITS}, is_free=values["is_free"] != "no",
               **({"status": values["status"]} if values["status"] in OPEN_STATUSES else {}),
               delivery_modes=[m for m in DELIVERY_MODES if m in values["delivery_modes"]],
               taxonomy_term_ids=[uuid.UUID(t) for t in values["taxonomy_term_ids"] if t in term_ids])
    if out["is_free"]:
        out["fees"] = None  # a free service has no charges to describe
    out["service_areas"] = _read_area(form, data)
    return form, out


def _read_contact_details(form: Form, out: dict) -> None:
    """The listing's own website and email (ORUK `url`, `email`), both optional."""
    url, email = form.values["url"], form.values["email"]
    try:
        validate.URL(schemes={"http", "https"})(url) if url else None
    except ValidationError:
        form.error("url", "Enter the website address in full, like https://www.example.org/")
    try:
        validate.Email()(email) if email else None
    except ValidationError:
        form.error("email", "Enter an email address like name@example.org")
    if len(url) > 500 or len(email) > 255:
        form.error("url" if len(url) > 500 else "email", "That is too long.")
    out.update(url=url or None, email=email or None)


def _organisations(session) -> list[Organization]:
    """The organisations the signed-in user may publish for."""
    principal = current_principal()
    query = sa.select(Organization).order_by(Organization.name)
    if not principal.is_alliance_admin:
        query = query.where(Organization.id == parse_uuid(principal.organisation))
    return list(session.scalars(query))


@pages.route("/partner/services/new", methods=["GET", "POST"])
@requires(*ADMINS)
def partner_new():
    ctx = service_context()
    listing_id = _form_id()
    try:
        with ctx.database.transaction() as session:
            if (made := _listing_made_by_this_form(session, listing_id)) is None:
                return _new_listing(session, ctx, listing_id)
    except sa.exc.IntegrityError:  # PostgreSQL: the same form sent twice at once, and the other insert went first
        with ctx.database.sessions() as session:
            if (made := _listing_made_by_this_form(session, listing_id)) is None:
                raise
    return _done(made, "created-again")


def _form_id() -> uuid.UUID:
    """The id the add form carries (a new one for a form about to be shown, or one sent without it)."""
    sent = parse_uuid(request.form.get(FORM_ID)) if _form_post() else None
    return sent or uuid.uuid4()


def _listing_made_by_this_form(session, listing_id: uuid.UUID) -> Service | None:
    made = session.get(Service, listing_id) if _form_post() else None
    if made is not None:
        require_organisation(str(made.organization_id))  # another organisation's id in a forged form: 403
    return made


def _new_listing(session, ctx, listing_id: uuid.UUID):
    organisations = _organisations(session)
    if not organisations:
        raise Problem(403, "Your organisation is not in the directory yet. Ask an alliance administrator to "
                           "add it.", title="You cannot add listings yet")
    options = _term_options(session)
    context = {"organisations": organisations, "term_options": options, "delivery_options": DELIVERY_OPTIONS,
               "open_statuses": OPEN_STATUSES, "organisation_options": [("", "Select an organisation")] +
               [(str(o.id), o.name) for o in organisations]}
    if not _form_post():
        return render("directory/partner_new.html", values={"is_free": "yes", "delivery_modes": ["in_person"],
                                                            "taxonomy_term_ids": [], FORM_ID: str(listing_id)},
                      errors={}, **context)
    form, data = _read_listing(request.form, {value for value, _label, _depth in options})
    form.values[FORM_ID] = str(listing_id)
    org_id = organisations[0].id if len(organisations) == 1 else parse_uuid(form.values["organization_id"])
    if org_id not in {o.id for o in organisations}:
        form.errors = {"organization_id": "Select the organisation that runs the service.", **form.errors}
    if form.errors:
        return render("directory/partner_new.html", status=400, values=form.values, errors=form.errors, **context)
    require_organisation(str(org_id))
    svc = services.create_service(session, ctx.outbox, {"id": listing_id, "organization_id": org_id, **data},
                                  _editor(), _geocoder())
    return _done(svc, "created")


@pages.route("/partner/services/<service_id>", methods=["GET", "POST"])
@requires(*ADMINS)
def partner_edit(service_id: str):
    ctx = service_context()
    with ctx.database.transaction() as session:
        if not _form_post():
            svc = _owned(session, service_id)
            return _listing_page(session, svc, _listing_values(svc), Form({}))
        svc = _changeable(session, service_id)
        options = _term_options(session)
        form, data = _read_listing(request.form, {value for value, _label, _depth in options})
        assurer_email = _read_assurer(form, request.form)
        if form.errors:
            return _listing_page(session, svc, form.values, form, status=400)
        labels = {value: label for value, label, _depth in options} | DELIVERY_LABELS | OPEN_STATUSES
        if request.form.get("version") not in (None, services.version(svc)) and _changed_since(svc, form, labels):
            return _listing_page(session, svc, form.values, form, status=409)  # the form now carries the new version
        if set(data["taxonomy_term_ids"]) == {a.taxonomy_term_id for a in svc.attributes}:
            del data["taxonomy_term_ids"]  # a list sent is a change in the trail: send only real changes
        if set(data["delivery_modes"]) == set(svc.delivery):
            del data["delivery_modes"]
        if _same_area(svc, data["service_areas"]):
            del data["service_areas"]  # keeps a feed's several areas unless the form changed them
        changed = services.update_service(session, ctx.outbox, svc, data, _editor(), _geocoder())
        checked = bool(request.form.get("assure"))
        if checked:
            services.assure_service(session, ctx.outbox, svc, _editor(), assurer_email)
    # each says what happened: a volunteer reviewing a listing who saves it unchanged without the tick must not
    # read "Your changes were saved" and think it is checked (it stays due), nor one who ticked it that it is not
    return _done(svc, {(True, True): "saved-checked", (False, True): "checked", (True, False): "saved",
                       (False, False): "unchanged"}[bool(changed), checked])


def _read_assurer(form: Form, data: MultiDict) -> str | None:
    """The address published with today's check (ORUK assurer_email), if the partner gives one; left empty, the
    service layer publishes the listing's own or its organisation's (never the signed-in person's login)."""
    email = data.get("assurer_email", "").strip()
    form.values["assurer_email"] = email
    if not email:
        return None
    if not data.get("assure"):
        form.error("assure", "Tick this box if you have checked the listing today, or leave the email address "
                             "for questions about the check empty.")
    try:
        validate.Email()(email)
    except ValidationError:
        form.error("assurer_email", "Enter an email address like name@example.org")
    if len(email) > 255:
        form.error("assurer_email", "That is too long.")
    return email


def _changed_since(svc: Service, form: Form, labels: dict[str, str]) -> bool:
    """Someone saved the listing after this form was opened: mark each field where what was sent and
    what is saved now differ (that colleague's change, or this person's own), so nothing is undone
    unseen. Returns whether any field differs."""
    saved = _listing_values(svc)
    for name, now in saved.items():
        sent = form.values.get(name, "")
        if (sorted(sent) != sorted(now)) if isinstance(now, list) else (str(sent) != str(now)):
            shown = ", ".join(labels.get(v, v) for v in now) if isinstance(now, list) else labels.get(now, now)
            shown = {"yes": "Free", "no": "Not free"}.get(shown, shown) if name == "is_free" else shown
            form.error(name, "This was changed while you were editing. Saved now: "
                             f"\u201c{_shorten(shown) or 'empty'}\u201d. Keep what you want here, then save again.")
    return bool(form.errors)


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def _same_area(svc: Service, areas: list[dict]) -> bool:
    wanted = (areas[0]["name"], sorted(areas[0]["postcode_districts"])) if areas else None
    current = (svc.service_areas[0].name, sorted(svc.area_codes or [])) if svc.service_areas else None
    return wanted == current


def _listing_page(session, svc: Service, values: dict, form: Form, status: int = 200):
    done = _done_banner(request.args.get("done", ""), PARTS.get(request.args.get("part", ""))) \
        if status == 200 else None
    return render("directory/partner_edit.html", status=status, svc=svc, values=values, errors=form.errors, term_options=_term_options(session), delivery_options=DELIVERY_OPTIONS, open_statuses=OPEN_STATUSES,
                  done=done, parts=PARTS, withdrawn=svc.status == "defunct", version=services.version(svc))


def _done_banner(code: str, part: "Part | None") -> tuple | None:
    """The success banner for a known code (anything else shows none), worded for the part changed, with a
    link to that part's section: the person's way back to where they were, one tab from the focused banner."""
    if code not in DONE:
        return None
    noun = part.noun if part else "item"
    heading, text = (words.format(noun=noun, Noun=noun.capitalize()) for words in DONE[code])
    return (heading, text, (f"#{part.slug}", f"See all {noun}s")) if part else (heading, text)


# --- locations, contacts and opening times ------------------------------------------------------

@dataclass(frozen=True)
class Part:
    slug: str  # in the URL and the listing page's section id
    key: str  # the service layer's list
    noun: str
    rows: Callable[[Service], list]
    as_input: Callable[[Any], dict]  # a stored row as service-layer input (to send it back unchanged)
    values: Callable[[Any], dict]  # a stored row as form values
    read: Callable[[MultiDict, Any], tuple[Form, dict]]  # the form -> (form, service-layer input)
    describe: Callable[[Any], str]


def _compact(mapping: dict) -> dict:
    return {k: v for k, v in mapping.items() if v not in (None, "")}


def _strip(data: MultiDict, names: tuple[str, ...]) -> dict[str, str]:
    return {name: data.get(name, "").strip() for name in names}


def _too_long(form: Form, limits: dict[str, int]) -> None:
    for name, limit in limits.items():
        if len(form.values.get(name) or "") > limit:
            form.error(name, f"This must be {limit:,} characters or fewer.")


# locations

def _location_values(loc) -> dict:
    return {k: getattr(loc, k) or "" for k in ("name", "address_1", "city", "postal_code", "accessibility")} | {
        "confidential": loc.confidential}


def _read_location(data: MultiDict, existing) -> tuple[Form, dict]:
    form = Form({**_strip(data, ("name", "address_1", "city", "postal_code", "accessibility")),
                 "confidential": bool(data.get("confidential"))})
    values = form.values
    if len(values["name"]) > 255:
        form.error("name", "The name of the place must be 255 characters or fewer.")
    if not values["address_1"]:
        form.error("address_1", "Enter the first line of the address.")
    if not values["city"]:
        form.error("city", "Enter the town or city.")
    point = None
    if not values["postal_code"]:
        form.error("postal_code", "Enter the postcode.")
    else:
        try:
            values["postal_code"] = normalise_postcode(values["postal_code"])
            point = _geocoder().locate(values["postal_code"])
        except PostcodeError as exc:
            form.error("postal_code", "Enter a real postcode, like TA1 1AA." if "format" in str(exc) else str(exc))
        except OSError:
            form.error("postal_code", "We could not check the postcode just now. Try again in a few minutes.")
    _too_long(form, {"address_1": 255, "city": 100, "accessibility": 2000})
    item = {**_compact({k: values[k] for k in ("name", "address_1", "city", "postal_code", "accessibility")}),
            "location_type": "physical", "confidential": values["confidential"]}
    if existing is not None:
        item["id"] = existing.id  # updated in place: the location keeps its id
        item.update(_compact({"description": existing.description, "state_province": existing.state_province}))
    if point is not None:
        item["latitude"], item["longitude"] = point.latitude, point.longitude
    return form, item


def _published_at_a_confidential_place(session, svc: Service, existing, form: Form) -> bool:
    """A place added (or moved) to the postcode of one of the organisation's confidential places with the box
    unticked. The form always says whether a place is confidential, so the API's rule (a new place there stays
    confidential unless the write says otherwise) never applies to it: it would be published. Ask once, with
    the box ticked; unticked again at the same postcode (`confidential_asked`), it is published on purpose."""
    postcode = form.values["postal_code"]
    if form.values["confidential"] or request.form.get("confidential_asked") == postcode:
        return False
    if existing is not None and services.postcode_key(existing.postal_code) == services.postcode_key(postcode):
        return False  # not moved: unticking the box on a place is the way to publish it
    if services.postcode_key(postcode) not in services.confidential_postcodes(session, svc.organization_id):
        return False
    form.values.update(confidential=True, confidential_asked=postcode)
    owner = svc.organization.name if current_principal().is_alliance_admin else "Your organisation"  # not theirs
    form.error("confidential", f"{owner} has a confidential place at {postcode}, so we have ticked "
                               "this box. Save again to keep this address confidential too, or untick it if "
                               "residents may see this address.")
    return True


def _location_input(loc) -> dict:
    return {"id": loc.id, **{k: getattr(loc, k) for k in services.LOCATION_FIELDS}}


def _describe_location(loc) -> str:
    return ", ".join(p for p in (loc.name, loc.address_1, loc.city, loc.postal_code) if p) or "this location"


# contacts

PHONE_SLOTS = ("phone", "phone_2")  # the numbers the form edits; any further ones (from an import) stay


def _contact_values(contact) -> dict:
    numbers = {slot: (contact.phones[i].number if i < len(contact.phones) else "")
               for i, slot in enumerate(PHONE_SLOTS)}
    return {"name": contact.name or "", "title": contact.title or "", **numbers, "email": contact.email or ""}


def _read_contact(data: MultiDict, existing) -> tuple[Form, dict]:
    form = Form(_strip(data, ("name", "title", *PHONE_SLOTS, "email")))
    values = form.values
    if not values["name"]:
        form.error("name", "Enter a name, such as a person's name or the team's.")
    _too_long(form, {"name": 255, "title": 255})
    if not any(values[slot] for slot in PHONE_SLOTS) and not values["email"]:
        form.error("phone", "Enter a phone number or an email address.")
    for slot in PHONE_SLOTS:
        if values[slot] and not re.fullmatch(r"[0-9 +()-]{6,20}", values[slot]):
            form.error(slot, "Enter a phone number, like 01632 960 001 or +44 1632 960 001.")
    if values["email"]:
        try:
            validate.Email()(values["email"])
        except ValidationError:
            form.error("email", "Enter an email address in the correct format, like name@example.com.")
    stored = list(existing.phones) if existing is not None else []
    phones = []
    for i, slot in enumerate(PHONE_SLOTS):  # a number changed in its slot keeps that phone's id
        if values[slot]:
            kept = _compact({"id": stored[i].id, "description": stored[i].description}) if i < len(stored) else {}
            phones.append({**kept, "number": values[slot]})
    phones += [_phone_input(p) for p in stored[len(PHONE_SLOTS):]]
    item = {**_compact({k: values[k] for k in ("name", "title", "email")}), "phones": phones}
    if existing is not None:  # changed in place: the contact keeps its id
        item["id"] = existing.id
    return form, item


def _contact_input(contact) -> dict:
    return {"id": contact.id, **_compact({"name": contact.name, "title": contact.title, "email": contact.email}),
            "phones": [_phone_input(p) for p in contact.phones]}


def _phone_input(phone) -> dict:
    return _compact({"id": phone.id, "number": phone.number, "description": phone.description})


def _describe_contact(contact) -> str:
    return contact.name or "this contact"


# opening times

def _schedule_values(schedule) -> dict:
    return {"byday": schedule.byday, "opens_at": schedule.opens_at, "closes_at": schedule.closes_at,
            "description": schedule.description or ""}


def _read_schedule(data: MultiDict, existing) -> tuple[Form, dict | list[dict]]:
    """One opening time to change, or new ones: the same times on each day ticked (Monday to Friday 9 to 5 is
    one form, not five), one opening time per day as ORUK has them."""
    form = Form({**_strip(data, ("opens_at", "closes_at", "description")),
                 "byday": data.get("byday", "").strip() if existing is not None else data.getlist("byday")})
    values = form.values
    chosen = [values["byday"]] if existing is not None else values["byday"]
    days = [day for day in DAYS if day in chosen]  # in the week's order
    if not days or len(days) != len(set(chosen)):
        form.error("byday", "Select the day." if existing is not None else "Select at least one day.")
    opens, closes = hhmm(values["opens_at"]), hhmm(values["closes_at"])
    if opens is None:
        form.error("opens_at", "Enter the opening time as a 24-hour time, like 09:00.")
    if closes is None:
        midnight = values["closes_at"] in ("24:00", "24.00")
        form.error("closes_at", "For midnight, enter 23:59." if midnight else
                   "Enter the closing time as a 24-hour time, like 17:30.")
    elif opens is not None and closes <= opens:
        form.error("closes_at", _closing_before_opening(days[0] if len(days) == 1 else "", opens, closes))
    _too_long(form, {"description": 1000})
    note = _compact({"description": values["description"]})
    if existing is None:
        return form, [{"byday": day, "opens_at": opens, "closes_at": closes, **note} for day in days]
    item = {"byday": values["byday"], "opens_at": opens, "closes_at": closes}  # changed in place: it keeps its id
    return form, item | _compact({"id": existing.id, "attending_type": existing.attending_type}) | note


def _repeats_an_opening_time(svc: Service, existing, new: dict | list[dict], form: Form) -> bool:
    """An opening time the listing has already (a second click on Add, or a day ticked that has it): residents
    would read it twice."""
    listed = {(s.byday, s.opens_at, s.closes_at, s.description or "") for s in svc.schedules if s is not existing}
    repeated = [item for item in (new if isinstance(new, list) else [new])
                if (item["byday"], item["opens_at"], item["closes_at"], item.get("description", "")) in listed]
    if repeated:
        days = [DAY_LABELS[item["byday"]] for item in repeated]
        days = days[0] if len(days) == 1 else ", ".join(days[:-1]) + " and " + days[-1]
        form.error("byday", f"The listing already has {days} {repeated[0]['opens_at']} to "
                            f"{repeated[0]['closes_at']}.")
    return bool(repeated)


def _closing_before_opening(day: str, opens: str, closes: str) -> str:
    """What to do instead: an opening time is one day's (ORUK's opens_at and closes_at, a time of that day), so
    midnight is 23:59 and a night open past it is two opening times, one each side of midnight."""
    if closes == "00:00":
        return "For midnight, enter 23:59."
    if closes == opens:
        return "The closing time must be later than the opening time."
    if day not in DAYS:
        return ("The closing time must be later than the opening time. If it is open past midnight, add two opening "
                f"times: from {opens} to 23:59, then from 00:00 to {closes} on the next day.")
    tomorrow = DAY_LABELS[DAYS[(DAYS.index(day) + 1) % len(DAYS)]]
    return ("The closing time must be later than the opening time. If it is open past midnight, add two opening "
            f"times: {DAY_LABELS[day]} {opens} to 23:59, then {tomorrow} 00:00 to {closes}.")


def _schedule_input(schedule) -> dict:
    return _compact({k: getattr(schedule, k) for k in ("id", "byday", "opens_at", "closes_at", "description",
                                                       "attending_type")})


def _describe_schedule(schedule) -> str:
    return f"{DAY_LABELS[schedule.byday]} {schedule.opens_at} to {schedule.closes_at}"


PARTS = {part.slug: part for part in (
    Part("locations", "locations", "location", lambda svc: [sal.location for sal in svc.locations],
         _location_input, _location_values, _read_location, _describe_location),
    Part("contacts", "contacts", "contact", lambda svc: list(svc.contacts),
         _contact_input, _contact_values, _read_contact, _describe_contact),
    Part("opening-times", "schedules", "opening time",
         lambda svc: sorted(svc.schedules, key=lambda s: (s.day_index, s.opens_at)),
         _schedule_input, _schedule_values, _read_schedule, _describe_schedule),
)}


def _part(slug: str) -> Part:
    if slug not in PARTS:
        raise Problem(404, "There is no such page.", title="Page not found")
    return PARTS[slug]


def _row(part: Part, svc: Service, item_id: str | None):
    if item_id is None:
        return None
    wanted = parse_uuid(item_id)
    for row in part.rows(svc):
        if row.id == wanted:
            return row
    raise Problem(404, f"This listing has no such {part.noun}. It may have been removed already.",
                  title=f"{part.noun.capitalize()} not found")


def _other_listings_at(session, svc: Service, location) -> int:
    """How many other listings are offered at this location (an imported feed may share one)."""
    if location is None:
        return 0
    return session.scalar(sa.select(sa.func.count()).select_from(ServiceAtLocation).where(
        ServiceAtLocation.location_id == location.id, ServiceAtLocation.service_id != svc.id))


@pages.route("/partner/services/<service_id>/<slug>/new", methods=["GET", "POST"])
@pages.route("/partner/services/<service_id>/<slug>/<item_id>", methods=["GET", "POST"])
@requires(*ADMINS)
def partner_part(service_id: str, slug: str, item_id: str | None = None):
    part, ctx = _part(slug), service_context()
    if _form_post() and part.key == "locations":
        _locate_posted(service_id)
    with ctx.database.transaction() as session:
        svc = _changeable(session, service_id, places=part.key == "locations" and _form_post())
        existing = _row(part, svc, item_id)
        context = {"svc": svc, "part": part, "existing": existing, "days": DAY_LABELS,
                   "shared_with": _other_listings_at(session, svc, existing) if part.key == "locations" else 0}
        context["item_version"] = _item_version(part, existing)
        if not _form_post():
            values = part.values(existing) if existing is not None else {FORM_ID: str(_form_id())}
            return render(f"directory/partner_{part.key}.html", values=values, errors={}, **context)
        form, item = part.read(request.form, existing)
        new_ids = {} if existing is not None else _ids_for_new(part, item, form)
        if any(row.id in new_ids.values() for row in part.rows(svc)):
            return _done(svc, "added-again", part)  # the form sent again: what it adds is there already
        if form.errors:
            return render(f"directory/partner_{part.key}.html", status=400, values=form.values, errors=form.errors, **context)
        if request.form.get("item_version") not in (None, context["item_version"]) and \
                _item_changed_since(part, existing, form):  # the page now carries the saved version
            return render(f"directory/partner_{part.key}.html", status=409, values=form.values, errors=form.errors, **context)
        if part.key == "locations" and _published_at_a_confidential_place(session, svc, existing, form):
            return render("directory/partner_locations.html", status=409, values=form.values, errors=form.errors,
                          **context)  # the box now ticked: saving again keeps the place confidential
        if part.key == "schedules" and _repeats_an_opening_time(svc, existing, item, form):
            return render("directory/partner_schedules.html", status=400, values=form.values, errors=form.errors,
                          **context)
        items = [item if row is existing else part.as_input(row) for row in part.rows(svc)]
        if existing is None:  # new opening times: one for each day ticked
            items += [_with_new_id(session, part, new, new_ids) for new in (item if isinstance(item, list) else [item])]
        if part.key == "locations" and (publishing := services.addresses_to_publish(session, svc, items)):
            if request.form.get(services.PUBLISH_ADDRESS) != "yes":  # nothing changes until it is confirmed
                return _confirm_publication(session, svc, existing, form, publishing, context)
            if request.form.get("version") != services.version(svc):
                return _stale_confirmation(svc, form, context)
            for place in publishing:
                place.item[services.PUBLISH_ADDRESS] = True
        services.update_service(session, ctx.outbox, svc, {part.key: items}, _editor(), _geocoder())
    several = isinstance(item, list) and len(item) > 1
    return _done(svc, "changed" if existing is not None else "added-several" if several else "added", part)


_MODELS = {"locations": Location, "contacts": Contact, "schedules": Schedule}


def _ids_for_new(part: Part, item: dict | list[dict], form: Form) -> dict[str, uuid.UUID]:
    """The ids an add form gives what it adds (by day for opening times, one each, else ""), from its FORM_ID: the
    form sent twice gives the same ids, so the second finds the first's items. The form (shown again after a
    mistake or a question) keeps its id."""
    form_id = _form_id()
    form.values[FORM_ID] = str(form_id)
    if part.key == "schedules":
        return {new["byday"]: uuid.uuid5(form_id, new["byday"]) for new in item}
    return {"": form_id}


def _with_new_id(session, part: Part, new: dict, new_ids: dict[str, uuid.UUID]) -> dict:
    """A new item with the id its form gives it - unless that id is taken (a forged form naming another's item)."""
    item_id = new_ids.get(new.get("byday", "") if part.key == "schedules" else "")
    if item_id is None or session.get(_MODELS[part.key], item_id) is not None:
        return new
    return {**new, "id": item_id}


def _confirm_publication(session, svc: Service, existing, form: Form, publishing: list, context: dict):
    """A save that would publish a confidential place's address (a refuge's: a slip is a safety incident) asks
    first, saying what becomes public and where. "Yes" posts the same form again (hidden fields, with the
    listing's version: a confirmation given on a page older than the listing is a conflict); "No" changes
    nothing."""
    place = publishing[0]  # a location page changes one place; the others are sent back as they are
    others = _other_listing_names(session, svc, existing)
    return render("directory/partner_publish_address.html", svc=svc, existing=existing, values=form.values,
                  stored=place.place, owner=svc.organization.name, others=others, version=services.version(svc),
                  confirm_fields=("name", "address_1", "city", "postal_code", "accessibility",
                                  *([FORM_ID] if existing is None else [])),
                  item_version=context["item_version"])


def _stale_confirmation(svc: Service, form: Form, context: dict):
    """"Yes, publish the address" given on a page read before someone changed the listing: nothing is saved and
    the box is ticked again, so only a fresh decision, on the listing as it is now, publishes it."""
    form.values.update(confidential=True, confidential_asked=request.form.get("confidential_asked", ""))
    form.error("confidential", "Someone changed this listing while you were deciding, so the address was not "
                               "published and we have ticked this box again. Check the listing; untick the box "
                               "and save only if residents may still see this address.")
    return render("directory/partner_locations.html", status=409, values=form.values, errors=form.errors,
                  **context)


def _other_listing_names(session, svc: Service, location) -> list[str]:
    """The other listings offered at this location (an imported feed may share one): they would show it too."""
    if location is None:
        return []
    return list(session.scalars(sa.select(Service.name).join(ServiceAtLocation).where(
        ServiceAtLocation.location_id == location.id, ServiceAtLocation.service_id != svc.id,
        Service.status != "defunct").order_by(Service.name)))


def _item_version(part: Part, row) -> str:
    """One item's version, for its change page's hidden field: a digest of what the page shows."""
    if row is None:
        return ""
    shown = json.dumps(part.values(row), sort_keys=True, default=str)
    return hashlib.sha256(shown.encode()).hexdigest()[:16]


def _item_changed_since(part: Part, row, form: Form) -> bool:
    """Someone saved this item after the page was opened: mark each field where what was sent and
    what is saved now differ, so a colleague's change is not undone unseen."""
    for name, now in part.values(row).items():
        if isinstance(now, bool) or name not in form.values or str(form.values[name]) == str(now):
            continue
        form.error(name, "This was changed while you were editing. Saved now: "
                         f"\u201c{_shorten(str(now)) or 'empty'}\u201d. Keep what you want here, then save again.")
    if part.key == "locations" and row.confidential and not form.values["confidential"]:
        # the box as the page showed it before a colleague ticked it: shown again unticked, saving again would
        # publish the address (a refuge's) with nobody having chosen to
        form.values["confidential"] = True
        form.error("confidential", "Someone marked this address confidential while you were editing, so we have "
                                   "ticked this box again. Untick it only if residents may see this address.")
    if not form.errors and part.values(row) != {k: form.values.get(k) for k in part.values(row)}:
        first = next(iter(part.values(row)))
        form.error(first, f"This {part.noun} was changed while you were editing. Check it, then save again.")
    return bool(form.errors)


@pages.route("/partner/services/<service_id>/<slug>/<item_id>/remove", methods=["GET", "POST"])
@requires(*ADMINS)
def partner_part_remove(service_id: str, slug: str, item_id: str):
    part, ctx = _part(slug), service_context()
    with ctx.database.transaction() as session:
        # a removal sends the places it keeps again: locked with the listings offered there, as any change of them
        svc = _changeable(session, service_id, places=part.key == "locations" and _form_post())
        existing = _row(part, svc, item_id)
        items = [part.as_input(row) for row in part.rows(svc) if row is not existing]
        # a confidential place deleted is forgotten: said on the page, and removed only from a page that said so
        forgotten = part.key == "locations" and existing in services.confidential_places_forgotten(session, svc, items)
        confirmed = request.form.get(services.REMOVE_CONFIDENTIAL) == "yes"
        if not _form_post() or (forgotten and not confirmed):
            return render("directory/partner_remove.html", status=409 if _form_post() else 200, svc=svc, part=part,
                          existing=existing, description=part.describe(existing), forgotten=forgotten,
                          changed_since=_form_post())
        services.update_service(session, ctx.outbox, svc, {part.key: items, services.REMOVE_CONFIDENTIAL: confirmed},
                                _editor(), _geocoder())
    return _done(svc, "removed", part)


# --- withdrawing a listing -----------------------------------------------------------------------

@pages.route("/partner/services/<service_id>/withdraw", methods=["GET", "POST"])
@requires(*ADMINS)
def partner_withdraw(service_id: str):
    ctx = service_context()
    with ctx.database.transaction() as session:
        svc = _owned(session, service_id, for_update=True)
        if svc.status == "defunct" and _form_post():  # sent again (a double click, a second tab): withdrawn already
            return redirect(f"/partner?withdrawn={svc.id}", code=303)
        _not_withdrawn(svc)
        reasons = [(code, WITHDRAW_LABELS[code]) for code in WITHDRAW_REASONS]
        if not _form_post():
            return render("directory/partner_withdraw.html", svc=svc, reasons=reasons, values={}, errors={})
        form = Form({"reason": request.form.get("reason", "")})
        if form.values["reason"] not in WITHDRAW_REASONS:
            form.error("reason", "Select why you are withdrawing this listing.")
            return render("directory/partner_withdraw.html", status=400, svc=svc, reasons=reasons,
                          values=form.values, errors=form.errors)
        services.withdraw_service(session, ctx.outbox, svc, form.values["reason"], _editor())
    return redirect(f"/partner?withdrawn={svc.id}", code=303)
