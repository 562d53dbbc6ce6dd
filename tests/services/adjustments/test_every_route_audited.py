"""Every route of the adjustments service, against the audit rule: each one that reads or changes a patient's
suggestion is called on a real one and must leave an audit row naming the actor, the action and the suggestion,
and one naming the suggestion by id is refused to another practice's GP, who is audited as denied; every other
route says why it reaches no one's record (tests/audit_walk.py)."""

from __future__ import annotations

import uuid
from typing import Callable

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import MultiDict

from tests.audit_walk import (Access, Call, check_audited, check_refused, names_a_record, recording,
                              unmarked_record_routes, unsorted_routes)
from tests.people_rights import CSRF, HTML
from tests.services.adjustments.conftest import OTHER_PRACTICE, VALID_NHS, suggestion_body
from tests.services.adjustments.test_employer_api_and_rounds import ANSWER, letter_token
from tests.services.adjustments.test_retention import create, issue
from worklink_adjustments.models import ReferralRequest
from worklink_adjustments.pages.views import suggestion_as_form

RECORD = "adjustment_suggestion"
GUIDANCE = "the guidance library: conditions, limitations, adjustments and rules, about no patient"

OTHER_ROUTES = {
    "GET adjustment_pages.find": "searches the guidance library",
    "GET adjustment_pages.write": "the empty suggestion form (filled from the library, not from a record)",
    "GET adjustment_pages.people_find": "the empty form that asks which person",
    **{f"{method} guidance.{view}": GUIDANCE for method, view in (
        ("POST", "Adjustments"), ("GET", "AdjustmentItem"), ("PATCH", "AdjustmentItem"), ("POST", "AdjustmentReview"),
        ("GET", "Catalogue"), ("POST", "Conditions"), ("PATCH", "ConditionItem"), ("POST", "Limitations"),
        ("GET", "LimitationItem"), ("PATCH", "LimitationItem"), ("POST", "Phrases"), ("GET", "PhraseItem"),
        ("PATCH", "PhraseItem"), ("GET", "ReviewReport"), ("POST", "Rules"), ("GET", "RuleItem"), ("PATCH", "RuleItem"),
        ("POST", "RuleReview"),
        ("GET", "Search"), ("GET", "Versions"), ("POST", "WorkFunctions"), ("PATCH", "WorkFunctionItem"))},
}

PERSON_ROUTES: dict[str, Callable] = {}
ADMIN = {"role": "alliance_admin", "org": None, "subject": "admin-1"}


def route(key: str):
    def register(scenario):
        PERSON_ROUTES[key] = scenario
        return scenario
    return register


def of(sid, actor: str, action: str):
    return lambda response: Access(actor, action, RECORD, str(sid))


def by_the_employer(token: str, sid, action: str):
    """The employer, through the letter's single-use link: the actor is employer-link:<link id>."""
    link = uuid.UUID(hex=token.partition(".")[0])
    return lambda response: Access(f"employer-link:{link}", action, RECORD, str(sid))


def page(client, path, headers):
    return client.get(path, headers={**headers, **HTML})


def post_page(client, path, form, headers):
    """A page's form as the browser posts it (repeated fields kept), with the CSRF cookie and token."""
    client.set_cookie("worklink_csrf", CSRF)
    data = MultiDict(form)
    data["csrf_token"] = CSRF
    return client.post(path, data=data, headers={**headers, **HTML})


def stored_as_form(client, tokens, sid) -> MultiDict:
    return suggestion_as_form(client.get(f"/suggestions/{sid}", headers=tokens.header()).get_json())


def referred(app, client, tokens) -> dict:
    """Issued with the patient's consent to a referral, whose first request has ended (rejected): another may
    be requested."""
    s = issue(client, tokens, **{"consent.refer_to_employment_adviser": True})
    with app.extensions["worklink"].database.transaction() as session:
        session.execute(sa.update(ReferralRequest).where(ReferralRequest.suggestion_id == uuid.UUID(s["id"]))
                        .values(status="rejected"))
    return s


def created_by(response) -> str:
    return response.headers["Location"].split("/review/")[1].split("?")[0]


# --- the API --------------------------------------------------------------------------------------


@route("POST suggestions.Suggestions")
def _(app, client, tokens):
    return Call(lambda: client.post("/suggestions", json=suggestion_body(), headers=tokens.header()),
                lambda response: Access("dr-ada", "create", RECORD, response.get_json()["id"]))


@route("GET suggestions.Suggestions")
def _(app, client, tokens):
    sid = create(client, tokens)["id"]
    return Call(lambda: client.get("/suggestions", headers=tokens.header()), of(sid, "dr-ada", "list"))


@route("POST suggestions.SuggestionSearch")
def _(app, client, tokens):
    sid = create(client, tokens)["id"]
    return Call(lambda: client.post("/suggestions/search", json={"nhs_number": VALID_NHS}, headers=tokens.header()),
                of(sid, "dr-ada", "list"))


@route("GET suggestions.SuggestionItem")
def _(app, client, tokens):
    sid = create(client, tokens)["id"]
    return Call(lambda: client.get(f"/suggestions/{sid}", headers=tokens.header()), of(sid, "dr-ada", "read"))


@route("PUT suggestions.SuggestionItem")
def _(app, client, tokens):
    sid = create(client, tokens)["id"]
    return Call(lambda: client.put(f"/suggestions/{sid}", json={**suggestion_body(), "version": 1},
                                   headers=tokens.header()), of(sid, "dr-ada", "update"))


@route("POST suggestions.Issue")
def _(app, client, tokens):
    sid = create(client, tokens)["id"]
    return Call(lambda: client.post(f"/suggestions/{sid}/issue", json={"version": 1}, headers=tokens.header()),
                of(sid, "dr-ada", "update"))


@route("POST suggestions.Amend")
def _(app, client, tokens):
    s = issue(client, tokens)
    amended = {**suggestion_body(), "version": s["version"]}
    return Call(lambda: client.post(f"/suggestions/{s['id']}/amend", json=amended, headers=tokens.header()),
                of(s["id"], "dr-ada", "update"))


@route("POST suggestions.Withdraw")
def _(app, client, tokens):
    s = issue(client, tokens)
    return Call(lambda: client.post(f"/suggestions/{s['id']}/withdraw", headers=tokens.header(),
                                    json={"version": s["version"], "reason": "issued_in_error"}),
                of(s["id"], "dr-ada", "update"))


@route("POST suggestions.ReferralRequests")
def _(app, client, tokens):
    s = referred(app, client, tokens)
    return Call(lambda: client.post(f"/suggestions/{s['id']}/referral-requests", json={"version": s["version"]},
                                    headers=tokens.header()), of(s["id"], "dr-ada", "share"))


@route("POST suggestions.ReferralConsentWithdrawal")
def _(app, client, tokens):
    s = issue(client, tokens, **{"consent.refer_to_employment_adviser": True})
    return Call(lambda: client.post(f"/suggestions/{s['id']}/referral-consent-withdrawal",
                                    json={"version": s["version"]}, headers=tokens.header()),
                of(s["id"], "dr-ada", "update"))


@route("GET employer.EmployerLink")
def _(app, client, tokens):
    sid = issue(client, tokens)["id"]
    token = letter_token(client, tokens, sid)
    return Call(lambda: client.get(f"/employer-links/{token}"), by_the_employer(token, sid, "read"))


@route("POST employer.EmployerAnswer")
def _(app, client, tokens):
    sid = issue(client, tokens)["id"]
    token = letter_token(client, tokens, sid)
    return Call(lambda: client.post(f"/employer-links/{token}/response", json=ANSWER),
                by_the_employer(token, sid, "update"))


@route("POST people.SubjectAccess")
def _(app, client, tokens):
    sid = create(client, tokens)["id"]
    return Call(lambda: client.post("/people/subject-access", json={"nhs_number": VALID_NHS},
                                    headers=tokens.header(**ADMIN)), of(sid, "admin-1", "export"))


@route("POST people.Erasure")
def _(app, client, tokens):
    sid = create(client, tokens)["id"]
    return Call(lambda: client.post("/people/erasure", json={"nhs_number": VALID_NHS, "reason": "no_longer_necessary"},
                                    headers=tokens.header(**ADMIN)), of(sid, "admin-1", "erase"))


# --- the pages ------------------------------------------------------------------------------------


@route("GET adjustment_pages.home")
def _(app, client, tokens):
    sid = create(client, tokens)["id"]
    return Call(lambda: page(client, "/", tokens.header()), of(sid, "dr-ada", "list"))


@route("POST adjustment_pages.find_patient")
def _(app, client, tokens):
    sid = create(client, tokens)["id"]
    return Call(lambda: post_page(client, "/", {"nhs_number": VALID_NHS}, tokens.header()), of(sid, "dr-ada", "list"))


@route("POST adjustment_pages.write_submit")
def _(app, client, tokens):
    form = stored_as_form(client, tokens, create(client, tokens)["id"])
    del form["version"]
    return Call(lambda: post_page(client, "/write", form, tokens.header()),
                lambda response: Access("dr-ada", "create", RECORD, created_by(response)))


@route("GET adjustment_pages.review")
def _(app, client, tokens):
    sid = create(client, tokens)["id"]
    return Call(lambda: page(client, f"/review/{sid}", tokens.header()), of(sid, "dr-ada", "read"))


@route("GET adjustment_pages.change")
def _(app, client, tokens):
    sid = create(client, tokens)["id"]
    return Call(lambda: page(client, f"/review/{sid}/change", tokens.header()), of(sid, "dr-ada", "read"))


@route("POST adjustment_pages.change_submit")
def _(app, client, tokens):
    sid = create(client, tokens)["id"]
    form = stored_as_form(client, tokens, sid)
    return Call(lambda: post_page(client, f"/review/{sid}/change", form, tokens.header()),
                of(sid, "dr-ada", "update"))


@route("GET adjustment_pages.confirm")
def _(app, client, tokens):
    s = issue(client, tokens)
    return Call(lambda: page(client, f"/review/{s['id']}/withdraw", tokens.header()), of(s["id"], "dr-ada", "read"))


@route("POST adjustment_pages.review_action")
def _(app, client, tokens):
    sid = create(client, tokens)["id"]
    return Call(lambda: post_page(client, f"/review/{sid}/issue", {"version": "1"}, tokens.header()),
                of(sid, "dr-ada", "update"))


@route("GET adjustment_pages.print_view")
def _(app, client, tokens):
    sid = issue(client, tokens)["id"]
    return Call(lambda: page(client, f"/suggestions/{sid}/summary", tokens.header()), of(sid, "dr-ada", "export"))


@route("GET adjustment_pages.print_pdf")
def _(app, client, tokens):
    sid = issue(client, tokens)["id"]
    return Call(lambda: client.get(f"/suggestions/{sid}/letter.pdf", headers=tokens.header()),
                of(sid, "dr-ada", "export"))


@route("GET adjustment_pages.respond")
def _(app, client, tokens):
    sid = issue(client, tokens)["id"]
    token = letter_token(client, tokens, sid)
    return Call(lambda: page(client, f"/respond/{token}", {}), by_the_employer(token, sid, "read"))


@route("POST adjustment_pages.respond_submit")
def _(app, client, tokens):
    sid = issue(client, tokens)["id"]
    token = letter_token(client, tokens, sid)
    form = {"responder_name": "Jo Manager", **{f"items.{i}.outcome": "agreed" for i in range(3)}}
    return Call(lambda: post_page(client, f"/respond/{token}", form, {}), by_the_employer(token, sid, "update"))


@route("GET adjustment_pages.respond_sent")
def _(app, client, tokens):
    sid = issue(client, tokens)["id"]
    token = letter_token(client, tokens, sid)
    form = {"responder_name": "Jo Manager", **{f"items.{i}.outcome": "agreed" for i in range(3)}}
    assert post_page(client, f"/respond/{token}", form, {}).status_code == 303
    return Call(lambda: page(client, f"/respond/{token}/sent", {}), by_the_employer(token, sid, "read"))


@route("POST adjustment_pages.people_found")
def _(app, client, tokens):
    sid = create(client, tokens)["id"]
    return Call(lambda: post_page(client, "/people", {"nhs_number": VALID_NHS}, tokens.header(**ADMIN)),
                of(sid, "admin-1", "read"))


@route("POST adjustment_pages.people_download")
def _(app, client, tokens):
    sid = create(client, tokens)["id"]
    return Call(lambda: post_page(client, "/people/download", {"nhs_number": VALID_NHS}, tokens.header(**ADMIN)),
                of(sid, "admin-1", "export"))


@route("POST adjustment_pages.people_erasure")
def _(app, client, tokens):
    sid = create(client, tokens)["id"]
    return Call(lambda: post_page(client, "/people/erase", {"nhs_number": VALID_NHS, "step": "confirm",
                                                            "reason": "no_longer_necessary"}, tokens.header(**ADMIN)),
                of(sid, "admin-1", "erase"))


# --- the walk -------------------------------------------------------------------------------------


def test_every_route_is_sorted_into_person_records_or_not(app):
    assert unsorted_routes(app, PERSON_ROUTES, OTHER_ROUTES) == []
    assert unmarked_record_routes(app, PERSON_ROUTES) == []


@pytest.mark.parametrize("key", sorted(PERSON_ROUTES))
def test_every_access_to_a_suggestion_is_audited(app, client, tokens, key):
    call = PERSON_ROUTES[key](app, client, tokens)
    sent = recording(client)
    record = check_audited(app.extensions["worklink"], call)
    if names_a_record(app, key):
        outsider = tokens.header(org=OTHER_PRACTICE, subject="dr-stranger")
        check_refused(app.extensions["worklink"], client, sent, outsider, "dr-stranger", record)
