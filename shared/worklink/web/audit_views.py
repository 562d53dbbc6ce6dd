"""The audit trail's review, served by every service over its own audit_log (worklink.audit_review):
`GET /audit/entries` and `GET /audit/summary` (API), and the `/audit` page. Reviewing is an access
too: each review is itself audited (action "list", resource type "audit_log")."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from urllib.parse import urlencode

from flask import redirect, render_template, request
from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from worklink import audit_review
from worklink.audit import ACTIONS
from worklink.auth import Principal, authenticate, requires
from worklink.uktime import uk_moment
from worklink.web.app import service_context
from worklink.web.blueprint import Blueprint
from worklink.web.numbers import whole_number
from worklink.web.pages import PagesBlueprint, errors_by_field

REVIEWERS = ("alliance_admin", "org_admin")
blp = Blueprint("audit", __name__, url_prefix="/audit",
                description="Who read or changed which record: the audit trail's review (alliance and organisation "
                            "admins; an organisation's admin sees what its own staff did).")
pages = PagesBlueprint("audit_pages", __name__)
_ID = validate.Length(1, 64)
# The review's own entry keeps the `record` and the `person` asked about as typed (a person as the service names
# them: adjustments turns an NHS number into its reference, the others name people by a record id), in a trail
# that outlives the records, where no erasure looks. An NHS number there would be kept in clear: refused.
_NHS_NUMBER = re.compile(r"[0-9]{10}")
IN_CLEAR = {"person": "Enter the person's record id. This service does not know people by their NHS number, and the "
                      "audit trail must not keep one.",
            "record": "Enter the record's id. Records are known by their ids, never by an NHS number, and the audit "
                      "trail must not keep one."}


def in_clear(typed: str) -> bool:
    """Ten digits, spaces and hyphens aside (a mistyped NHS number too): a number no reference replaced."""
    return bool(_NHS_NUMBER.fullmatch(re.sub(r"[\s-]", "", typed)))


class _Period(Schema):
    since = fields.AwareDateTime(default_timezone=timezone.utc,
                                 metadata={"description": "from this moment (RFC 3339; without an offset, UTC)"})
    until = fields.AwareDateTime(default_timezone=timezone.utc, metadata={"description": "up to, not including"})

    @validates_schema
    def _ordered(self, data, **kwargs):
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            raise ValidationError("Must be after the start of the period.", "until")


class EntriesQuery(_Period):
    record = fields.String(validate=_ID, metadata={"description": "a record's id (resource_id)"})
    person = fields.String(validate=_ID, metadata={"description": "whom the entries name (person_id); a service "
                                                   "naming people by a pseudonym also takes what it is made from "
                                                   "(adjustments: the NHS number)"})
    actor = fields.String(validate=validate.Length(1, 255), metadata={"description": "who acted (the token's sub)"})
    actor_org = fields.String(validate=_ID)
    action = fields.String(validate=validate.OneOf(ACTIONS))
    resource_type = fields.String(validate=_ID)
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 100_000))

    @validates("person")
    def _person_not_in_clear(self, value: str, **_kwargs) -> None:
        if in_clear(service_context().audit_person(value)):
            raise ValidationError(IN_CLEAR["person"])

    @validates("record")
    def _record_not_in_clear(self, value: str, **_kwargs) -> None:
        if in_clear(value):
            raise ValidationError(IN_CLEAR["record"])


class SummaryQuery(_Period):
    @validates_schema
    def _bounded(self, data, **kwargs):
        since, until = _period(data)
        if since >= until:  # `since` alone, after now
            raise ValidationError("Must be before the end of the period (now, without `until`).", "since")
        if until - since > audit_review.LONGEST_SUMMARY:
            raise ValidationError(f"A summary covers at most {audit_review.LONGEST_SUMMARY.days} days.", "since")


class EntryOut(Schema):
    occurred_at = fields.DateTime()
    actor = fields.String()
    actor_role = fields.String()
    actor_org = fields.String(allow_none=True)
    action = fields.String()
    resource_type = fields.String()
    resource_id = fields.String()
    person_id = fields.String(allow_none=True)
    purpose = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)


class EntriesPage(Schema):
    items = fields.List(fields.Nested(EntryOut))
    total = fields.Integer()


class ActorOut(Schema):
    actor = fields.String()
    actor_role = fields.String()
    actor_org = fields.String(allow_none=True)
    entries = fields.Integer()
    people = fields.Integer(metadata={"description": "distinct people's records"})
    refused = fields.Integer(metadata={"description": "refused attempts (action denied)"})
    out_of_hours = fields.Integer(metadata={"description": "before 07:00 or from 19:00 UK time, or at a weekend"})


class SummaryOut(Schema):
    since = fields.DateTime()
    until = fields.DateTime()
    actors = fields.List(fields.Nested(ActorOut))


# A person named in the query string by what their pseudonym is made from (adjustments: the NHS number)
# reaches proxies' and servers' access logs: deprecated there (RFC 9745), searched for in a body instead.
PERSON_QUERY_DEPRECATED = "@" + str(int(datetime(2026, 11, 26, tzinfo=timezone.utc).timestamp()))
PERSON_QUERY_SUCCESSOR = {"Deprecation": PERSON_QUERY_DEPRECATED,
                          "Link": '</audit/entries/search>; rel="successor-version"'}


@blp.route("/entries")
class Entries(MethodView):
    @requires(*REVIEWERS)
    @blp.arguments(EntriesQuery, location="query")
    @blp.response(200, EntriesPage)
    def get(self, query):
        """The audit entries matching every filter given, newest first.

        A `person` given as an NHS number (adjustments) is deprecated here (answered with `Deprecation` and a
        `Link` to its successor): use `POST /audit/entries/search`. Their reference is fine in a URL."""
        found = review_entries(authenticate(), query)
        person = query.get("person")
        return (found, PERSON_QUERY_SUCCESSOR) if person and service_context().audit_person(person) != person \
            else found


@blp.route("/entries/search")
class EntriesSearch(MethodView):
    @requires(*REVIEWERS)
    @blp.arguments(EntriesQuery)
    @blp.response(200, EntriesPage)
    def post(self, query):
        """`GET /audit/entries` with its filters in a JSON body, so a person named by NHS number stays out of
        access logs."""
        return review_entries(authenticate(), query)


@blp.route("/summary")
class Summary(MethodView):
    @requires(*REVIEWERS)
    @blp.arguments(SummaryQuery, location="query")
    @blp.response(200, SummaryOut)
    def get(self, query):
        """Per person who acted in the period (default: the last 7 days): entries, people's records,
        refused attempts and out-of-hours entries; most refused, then most records, first."""
        return review_summary(authenticate(), query)


def review_entries(reviewer: Principal, query: dict[str, Any]) -> dict[str, Any]:
    ctx = service_context()
    if query.get("person"):  # as the trail names them: the review's own entry too
        query = {**query, "person": ctx.audit_person(query["person"])}
    with ctx.database.transaction() as session:
        items, total = audit_review.entries(session, ctx.tables, reviewer, query)
        ctx.audit.record(session, action="list", resource_type="audit_log",
                         resource_id=query.get("record") or query.get("person") or "*",
                         person_id=query.get("person"), purpose="audit review")
    return {"items": items, "total": total}


def review_summary(reviewer: Principal, query: dict[str, Any]) -> dict[str, Any]:
    ctx = service_context()
    since, until = _period(query)
    with ctx.database.transaction() as session:
        actors = audit_review.summary(session, ctx.tables, reviewer, since, until)
        ctx.audit.record(session, action="list", resource_type="audit_log", resource_id="summary",
                         purpose="audit review")
    return {"since": since, "until": until, "actors": actors}


_FIRST_MOMENT = datetime.min.replace(tzinfo=timezone.utc)
_SUMMARY_WEEK = timedelta(days=7)


def _period(query: dict[str, Any]) -> tuple[datetime, datetime]:
    """`since` to `until`, by default the week up to now (or up to `until`: no further back than year 1, where
    the calendar starts - a week before the first of January of year 1 was an OverflowError)."""
    until = query.get("until") or datetime.now(timezone.utc)
    return query.get("since") or max(until, _FIRST_MOMENT + _SUMMARY_WEEK) - _SUMMARY_WEEK, until


PAGE_SIZE = 50


@pages.app_template_filter("audit_time")
def audit_time(moment: datetime) -> str:
    """UK time, named (GMT or BST): the page's dates are UK days and its out-of-hours count UK hours, so an entry at
    07:30 BST read as 06:30 UTC looked out of hours and a day's first entries looked like the day before's."""
    return uk_moment(moment)


_FORM_FIELDS = ("from_date", "to_date", "action", "record", "person", "actor", "actor_org", "page")


@pages.post("/audit")
@requires(*REVIEWERS)
def audit_search():
    """The form is posted, so what a reviewer types (adjustments: a patient's NHS number) is in no URL, log or
    browser history: the page it redirects to names the person as the trail does (their reference)."""
    return _as_reviewed(request.form)


@pages.get("/audit")
@requires(*REVIEWERS)
def audit_page():
    """The review as a page: the period's summary, then the entries matching the form (dates in UK time,
    both days included; the last 7 days when none are given)."""
    form = {key: value.strip() for key, value in request.args.items() if value.strip()}
    if form.get("person") and service_context().audit_person(form["person"]) != form["person"]:
        return _as_reviewed(form)  # a typed URL or old bookmark: the number stays out of the pages' links
    problems, query = _page_query(form)
    if problems:
        return _refused(form, problems)
    reviewer = authenticate()
    found = review_entries(reviewer, query)
    summary = review_summary(reviewer, {key: query[key] for key in ("since", "until") if key in query})
    return render_template("worklink/audit.html", form=form, errors={}, found=found, summary=summary,
                           actions=ACTIONS, everyone=reviewer.is_alliance_admin, page_number=query["offset"] // PAGE_SIZE + 1,
                           pages_total=max(1, -(-found["total"] // PAGE_SIZE)))


def _as_reviewed(form) -> Any:
    typed = {key: form[key].strip() for key in _FORM_FIELDS if form.get(key, "").strip()}
    query = dict(typed)
    if "person" in query:
        query["person"] = service_context().audit_person(query["person"])
    typed_in_clear = [(name, IN_CLEAR[name]) for name in IN_CLEAR if in_clear(query.get(name, ""))]
    if typed_in_clear:  # answered here: the redirect would put the number in an address
        return _refused(typed, typed_in_clear)
    return redirect("/audit" + (f"?{urlencode(query)}" if query else ""), 303)


def _refused(form: dict[str, str], problems: list[tuple[str, str]]) -> Any:
    return render_template("worklink/audit.html", form=form, errors=errors_by_field(problems), found=None,
                           summary=None, actions=ACTIONS, everyone=authenticate().is_alliance_admin), 400


def _page_query(form: dict[str, str]) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """The form's fields as an entries query, or the problems with them as (field id, message)."""
    problems, raw = [], {key: form[key] for key in ("record", "person", "actor", "actor_org", "action") if key in form}
    for name, days in (("from_date", 0), ("to_date", 1)):
        if name in form:
            try:
                day = date.fromisoformat(form[name]) + timedelta(days=days)
                raw["since" if days == 0 else "until"] = datetime.combine(day, time(), audit_review.UK).isoformat()
            except ValueError:
                problems.append((name, "Enter a date as year-month-day, for example 2026-11-20."))
            except OverflowError:  # the last day there is: the period ends at the start of the next
                problems.append((name, "Enter a date before 31 December 9999."))
    page = form.get("page", "1")
    raw["offset"] = ((whole_number(page, 2000) or 1) - 1) * PAGE_SIZE
    raw["limit"] = PAGE_SIZE
    try:
        query = EntriesQuery().load(raw)
        SummaryQuery().load({key: raw[key] for key in ("since", "until") if key in raw})
    except ValidationError as exc:
        named = {"since": "from_date", "until": "to_date"}
        problems += [(named.get(key, key), message) for key, messages in exc.messages.items() for message in messages]
        query = {}
    return problems, query
