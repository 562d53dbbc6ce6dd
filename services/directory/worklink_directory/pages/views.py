"""Pages: residents find support (no sign-in, no JavaScript needed); partner staff edit their listings.

Residents: /find (search and filters), /find/services/<id> (a service). Partner staff's
pages (/partner...) are in partner.py, a blueprint nested in this one.
"""

from __future__ import annotations

from urllib.parse import urlencode

import re

import sqlalchemy as sa
from flask import current_app, request

from worklink.problems import Problem
from worklink.sites import self_referral_link, site_link_key
from worklink.web import service_context
from worklink.web.numbers import whole_number
from worklink.web.pages import PagesBlueprint, errors_by_field
from worklink_directory import queries, search
from worklink_directory.geocode import GeocoderUnavailable, PostcodeError, normalise_postcode
from worklink_directory.models import ServiceCapacity, TaxonomyTerm
from worklink_directory.pages import partner
from worklink_directory.pages.common import hhmm
from worklink_directory.pages.common import render as _render
from worklink_directory.pages.common import service_or_404 as _service_or_404
from worklink_directory.towns import TOWNS

pages = PagesBlueprint("directory_pages", __name__, template_folder="templates")
pages.register_blueprint(partner.pages)

DISTANCES = (("", "Any distance"), ("1609", "1 mile"), ("8047", "5 miles"), ("16093", "10 miles"),
             ("40234", "25 miles"))
_FIELD_FOR = {"search": "q", "taxonomy_term_id": "category", "open_at": "time", "radius": "within"}
# The read API's messages name parameters; a resident is told, in the page's words, what to enter.
_PAGE_MESSAGES = {
    "search": "Enter what you need help with in 200 characters or fewer.",
    "taxonomy_term_id": "Select a type of support from the list.",
    "age": "Enter your age in whole years, like 34.",
    "day": "Select a day from the list.",
    "open_at": "Enter a time, like 9:30 or 17:30.",
    "radius": "Select a distance from the list.",
    "delivery": "Select how you get help from the list.",
    "free": "Select free services only, or leave it unticked.",
}


def _categories(session) -> list[TaxonomyTerm]:
    return list(session.scalars(sa.select(TaxonomyTerm).where(TaxonomyTerm.parent_id.is_(None))
                                .order_by(TaxonomyTerm.name)))


SEARCH_FIELDS = ("q", "postcode", "within", "category", "age", "day", "time", "free", "delivery", "page")
# A full postcode among the words ("counselling ta1 1aa", "TA11AA"): residents type it in the search box too.
_POSTCODE_IN_WORDS = re.compile(r"\b([a-z]{1,2}[0-9][0-9a-z]?)\s*([0-9][a-z]{2})\b", re.IGNORECASE)


def search_query(args) -> str:
    """The search's own fields as a query string: the results link each service page with it, so
    "Back to search results" returns to the same results rather than an empty search box."""
    return urlencode([(k, args[k].strip()) for k in SEARCH_FIELDS if (args.get(k) or "").strip()])


@pages.get("/find")
def find():
    form = {k: (request.args.get(k) or "").strip() for k in SEARCH_FIELDS}
    form["q"], form["postcode"] = _postcode_from_words(form["q"], form["postcode"])
    page = str(whole_number(form["page"], 1_000_000) or "")  # a broken link: page 1
    args = {"search": form["q"], "taxonomy_term_id": form["category"], "age": form["age"], "day": form["day"],
            "open_at": hhmm(form["time"]) or form["time"], "free": "true" if form["free"] else "",
            "delivery": form["delivery"], "page": page, "per_page": "10"}
    problems: list[tuple[str, str]] = []  # (field id, message), in the order the summary lists them
    unavailable = False  # the postcode service is down: not the resident's mistake
    searched = any(form[k] for k in form if k != "page")
    with service_context().database.sessions() as session:
        categories = _categories(session)
        result, f, town = None, None, None
        if searched:
            if form["q"] and not form["postcode"]:  # "counselling in Bridgwater": the town is a place, not words
                town, args["search"] = TOWNS.find_in(session, form["q"])
            try:
                f = queries.parse_filters(session, args, geocoder=current_app.extensions["directory"]["geocoder"],
                                          extensions=True)
            except Problem as problem:
                problems = [_page_problem(e) for e in problem.extensions.get("errors", [])]
            if form["within"] not in dict(DISTANCES):
                problems.append(("within", "Select a distance from the list."))
            try:
                point = town.point if town else _postcode_point(form)
            except PostcodeError as exc:
                problems.insert(0, ("postcode", str(exc)))
            except GeocoderUnavailable:
                unavailable = True
                problems.insert(0, ("postcode", "We cannot look up postcodes just now. Try again in a few "
                                                "minutes, or search without a postcode."))
            if not problems:
                if point is not None:  # near the resident, and only services that take people living there
                    f.point, f.sort = point, (None if f.search else "distance")
                    if town is None:
                        f.district = queries.postcode_district(form["postcode"])
                    else:  # as a postcode there: the best matches for the words, else the nearest its middle
                        f.districts = town.districts
                    f.radius = float(form["within"]) if form["within"] else None
                result = _results(session, f)
        status = 503 if unavailable else 400 if problems else 200
        return _render("directory/find.html", status=status, form=form,
                       errors=errors_by_field(problems), result=result, filters=f, town=town,
                       distances_options=DISTANCES,
                       category_options=[("", "Any type")] + [(str(t.id), t.name) for t in categories],
                       searched=searched, search_query=search_query(request.args),
                       left_out=search.words_left_out(form["q"], result.left_out) if result else [],
                       narrowed=any(form[k] for k in SEARCH_FIELDS if k not in ("q", "page")))


def _postcode_from_words(words: str, postcode: str) -> tuple[str, str]:
    """A postcode typed among the search words goes to the postcode field (when that is empty), so
    the resident is shown services near it and open to people living there, not words no listing uses."""
    match = None if postcode else _POSTCODE_IN_WORDS.search(words)
    if match is None:
        return words, postcode
    rest = " ".join((words[:match.start()] + " " + words[match.end():]).split())
    return rest, f"{match.group(1)} {match.group(2)}".upper()


def _page_problem(error: dict) -> tuple[str, str]:
    name = error["pointer"].lstrip("/")
    return _FIELD_FOR.get(name, name), _PAGE_MESSAGES.get(name, error["detail"])


def _results(session, f: queries.Filters) -> queries.Result:
    """The asked-for page; a page past the end (an old link, listings withdrawn since) shows the last one."""
    try:
        return queries.list_services(session, f)
    except Problem:
        f.page = 1
        first = queries.list_services(session, f)
        last = max((first.total + f.per_page - 1) // f.per_page, 1)
        if last == 1:
            return first
        f.page = last
        return queries.list_services(session, f)


def _postcode_point(form: dict):
    if not form["postcode"]:
        if form["within"]:
            raise PostcodeError("Enter a postcode to search within a distance.")
        return None
    try:
        normalise_postcode(form["postcode"])
    except PostcodeError:
        raise PostcodeError("Enter a full postcode, like TA1 1AA.") from None
    return current_app.extensions["directory"]["geocoder"].locate(form["postcode"])


@pages.get("/find/services/<service_id>")
def service_page(service_id: str):
    with service_context().database.sessions() as session:
        svc = _service_or_404(session, service_id)
        return _render("directory/service.html", svc=svc, capacity=session.get(ServiceCapacity, svc.id),
                       search_query=search_query(request.args),
                       refer_yourself=_refer_yourself_link(svc, (request.args.get("postcode") or "").strip()))


def _refer_yourself_link(svc, postcode: str = "") -> str | None:
    """The referrals site's self-referral form for this service, naming it and its organisation (signed, so the
    form shows the names); None without the referrals site's address. The postcode the resident searched with
    goes along, so the form has it already (WCAG 3.3.7 Redundant Entry)."""
    referrals_url = current_app.extensions["directory"]["referrals_url"]
    if not referrals_url:
        return None
    link = self_referral_link(referrals_url, site_link_key(service_context().settings), svc.id, svc.name,
                              svc.organization.name)
    return f"{link}&{urlencode({'postcode': postcode[:10]})}" if postcode else link
