"""Every route of the referrals service, against the audit rule: each one that reads or changes a person's
referral is called on a real one and must leave an audit row naming the actor, the action and the referral, and
one naming the referral by id is refused to another organisation's adviser, who is audited as denied; every
other route says why it reaches no one's record (tests/audit_walk.py)."""

from __future__ import annotations

from typing import Callable

import pytest
import sqlalchemy as sa

from tests.audit_walk import (Access, Call, check_audited, check_refused, names_a_record, recording,
                              unmarked_record_routes, unsorted_routes)
from tests.people_rights import HTML, post_form
from tests.services.referrals.conftest import ADVISERS, OTHER_ADVISERS, OTHER_SERVICE, SERVICE, with_updates
from worklink_referrals.jobs import send_new_links
from worklink_referrals.models import Referral

NHS_NUMBER = "9434765919"  # conftest.referral_body's person

OTHER_ROUTES = {
    "GET referral_pages.home": "the start page",
    "GET referral_pages.refer_yourself": "the empty self-referral form",
    "GET referral_pages.people_find": "the empty form that asks which person",
    "GET intake.AdviserServices": "an organisation's services and whether each takes referrals",
    "PUT intake.ServiceIntake": "pauses or resumes a service's intake",
    "GET insights.Insights": "counts only, small numbers suppressed (audited as the alliance's insights)",
    "GET referral_pages.insights_page": "counts only, small numbers suppressed (audited as the alliance's insights)",
    # A self-referral waits, unverified, until the code proves the contact route is the person's own. Its start
    # and a change of its address hold the person's details, so they are audited on the waiting record (below);
    # the code page shows none of them.
    "GET referral_pages.refer_yourself_code": "asks for the code; says only whether it went by email or phone, or "
                                              "(once used) that a referral was sent, nothing about it",
    # A new status link: the form asks for an address, and the page after says the same whatever it matched.
    "GET referral_pages.new_link": "the empty form that asks for the person's email address",
    "GET referral_pages.new_link_sent": "says the same whether or not the address matched a referral",
}

PERSON_ROUTES: dict[str, Callable] = {}


def route(key: str):
    def register(scenario):
        PERSON_ROUTES[key] = scenario
        return scenario
    return register


def referral(h, body=None) -> str:
    made = h.client.post("/referrals", json=body or with_updates(), headers=h.gp())
    assert made.status_code == 201, made.get_json()
    return made.get_json()["id"]


def version(h, rid) -> int:
    return h.client.get(f"/referrals/{rid}", headers=h.admin()).get_json()["version"]


def held(h) -> str:
    """A referral no service can take (its one service paused), and a second service to route it to."""
    paused = h.client.put(f"/adviser-services/{SERVICE}/intake", json={"accepting_referrals": False},
                          headers=h.token("org_admin", ADVISERS, "boss-1"))
    assert paused.status_code == 200, paused.get_json()
    rid = referral(h)
    h.add_service(OTHER_SERVICE, OTHER_ADVISERS)
    return rid


def person_token(h, rid) -> str:
    return h.person_link(rid).rsplit("/", 1)[1]


def newest_referral(h) -> str:
    with h.ctx.database.sessions() as session:
        return str(session.scalar(sa.select(Referral.id).order_by(Referral.submitted_at.desc()).limit(1)))


def of(rid, actor: str, action: str):
    return lambda response: Access(actor, action, "referral", rid)


def by_the_person(h, action: str):
    """The person's own access, through their link, to their newest referral: the actor is person-link:<its id>."""
    def expected(response):
        rid = newest_referral(h)
        return Access(f"person-link:{rid}", action, "referral", rid)
    return expected


def page(h, path, headers):
    return h.client.get(path, headers={**headers, **HTML})


# --- the API --------------------------------------------------------------------------------------


@route("POST referrals.Referrals")
def _(h):
    return Call(lambda: h.client.post("/referrals", json=with_updates(), headers=h.gp()),
                lambda response: Access("gp-1", "create", "referral", response.get_json()["id"]))


@route("GET referrals.Referrals")
def _(h):
    rid = referral(h)
    return Call(lambda: h.client.get("/referrals", headers=h.adviser()), of(rid, "adviser-1", "list"))


@route("GET referrals.OneReferral")
def _(h):
    rid = referral(h)
    return Call(lambda: h.client.get(f"/referrals/{rid}", headers=h.gp()), of(rid, "gp-1", "read"))


@route("POST referrals.Action")
def _(h):
    rid = referral(h)
    return Call(lambda: h.client.post(f"/referrals/{rid}/actions/acknowledge", json={"version": version(h, rid)},
                                      headers=h.adviser()), of(rid, "adviser-1", "update"))


@route("POST referrals.Notes")
def _(h):
    rid = referral(h)
    return Call(lambda: h.client.post(f"/referrals/{rid}/notes", json={"text": "Rang twice, no answer."},
                                      headers=h.adviser()), of(rid, "adviser-1", "update"))


@route("POST referrals.ConsentWithdrawal")
def _(h):
    rid = referral(h)
    return Call(lambda: h.client.post(f"/referrals/{rid}/consent-withdrawal", headers=h.gp()),
                of(rid, "gp-1", "update"))


@route("POST referrals.Route")
def _(h):
    rid = held(h)
    return Call(lambda: h.client.post(f"/referrals/{rid}/route", json={"service_id": str(OTHER_SERVICE)},
                                      headers=h.admin()), of(rid, "admin-1", "share"))


@route("GET referrals.SustainmentChecks")
def _(h):
    rid = referral(h)
    for action, data in (("accept", {"adviser_id": "adviser-1"}), ("make_first_contact", {}),
                         ("record_outcome", {"type": "job_start", "occurred_on": "2026-11-23",
                                             "hours_band": "30_plus"})):
        assert h.act(rid, action, **data).status_code == 200
    h.clock.advance(weeks=13)
    return Call(lambda: h.client.get("/sustainment-checks", headers=h.adviser()), of(rid, "adviser-1", "list"))


@route("POST self_service.Verification")
def _(h):
    pending = h.client.post("/self-referrals", json={
        "person": {"given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02", "postcode": "GL1 1AA",
                   "email": "sam@example.org"},
        "consent": {"explicit": True, "updates_by_email": True}, "employment_situation": "unemployed"}).get_json()
    return Call(lambda: h.client.post(f"/self-referrals/{pending['id']}/verification", json={"code": pending["code"]}),
                by_the_person(h, "create"))


SELF_REFERRAL = {"person": {"given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02",
                             "postcode": "GL1 1AA", "email": "sam@example.org"},
                 "consent": {"explicit": True, "updates_by_email": True}, "employment_situation": "unemployed"}
SELF_REFERRAL_FORM = {"given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02", "postcode": "GL1 1AA",
                      "email": "sam@example.org", "employment_situation": "unemployed", "updates_by_email": "no",
                      "consent": "yes"}


def waiting(pending_id: str, action: str, by: str | None = None) -> Access:
    """The anonymous resident's access to their waiting self-referral, known by its id (or the one they came from)."""
    return Access(f"self:{by or pending_id}", action, "pending_self_referral", pending_id)


def pending_in(response) -> str:
    return response.headers["Location"].split("/")[2]  # /refer-yourself/<id>/code


@route("POST self_service.SelfReferrals")
def _(h):
    return Call(lambda: h.client.post("/self-referrals", json=SELF_REFERRAL),
                lambda response: waiting(response.get_json()["id"], "create"))


@route("POST referral_pages.refer_yourself_send")
def _(h):
    return Call(lambda: post_form(h.client, "/refer-yourself", SELF_REFERRAL_FORM, {}),
                lambda response: waiting(pending_in(response), "create"))


@route("POST referral_pages.refer_yourself_new_email")
def _(h):
    # started on the form, in this client: only the browser that started it may change its address
    before = pending_in(post_form(h.client, "/refer-yourself", SELF_REFERRAL_FORM, {}))
    return Call(lambda: post_form(h.client, f"/refer-yourself/{before}/email", {"email": "sam.j@example.org"}, {}),
                lambda response: waiting(pending_in(response), "create", by=before))


@route("GET self_service.PersonStatus")
def _(h):
    token = person_token(h, referral(h))
    return Call(lambda: h.client.get(f"/status/{token}"), by_the_person(h, "read"))


@route("POST self_service.PersonCancel")
def _(h):
    token = person_token(h, referral(h))
    return Call(lambda: h.client.post(f"/status/{token}/cancel", json={}), by_the_person(h, "update"))


@route("POST self_service.PersonEmails")
def _(h):
    token = person_token(h, referral(h))
    return Call(lambda: h.client.post(f"/status/{token}/emails", json={"updates_by_email": False}),
                by_the_person(h, "update"))


@route("POST self_service.NewStatusLinks")
def _(h):
    referral(h)  # its person agreed to status emails at ada@example.org: their new link goes there
    return Call(then_new_links(h, lambda: h.client.post("/status-links", json={"email": "ada@example.org"})),
                by_the_person(h, "update"))


@route("POST referral_pages.new_link_send")
def _(h):
    referral(h)
    return Call(then_new_links(h, lambda: post_form(h.client, "/new-link", {"email": "ada@example.org"}, {})),
                by_the_person(h, "update"))


def then_new_links(h, ask):
    """The request only leaves one (the same whether or not it matches); the new-links job's pass renews the link and
    audits it as the person's update of the referral."""
    def call():
        response = ask()
        send_new_links(h.ctx.database, h.clock.now)
        return response
    return call


@route("POST people.SubjectAccess")
def _(h):
    rid = referral(h)
    return Call(lambda: h.client.post("/people/subject-access", json={"nhs_number": NHS_NUMBER}, headers=h.admin()),
                of(rid, "admin-1", "export"))


@route("POST people.Erasure")
def _(h):
    rid = referral(h)
    return Call(lambda: h.client.post("/people/erasure", json={"nhs_number": NHS_NUMBER,
                                                               "reason": "no_longer_necessary"}, headers=h.admin()),
                of(rid, "admin-1", "erase"))


# --- the pages ------------------------------------------------------------------------------------


@route("GET referral_pages.queue")
def _(h):
    rid = referral(h)
    return Call(lambda: page(h, "/queue", h.adviser()), of(rid, "adviser-1", "list"))


@route("GET referral_pages.sent")
def _(h):
    rid = referral(h)
    return Call(lambda: page(h, "/sent", h.gp()), of(rid, "gp-1", "list"))


@route("GET referral_pages.referral_page")
def _(h):
    rid = referral(h)
    return Call(lambda: page(h, f"/queue/{rid}", h.adviser()), of(rid, "adviser-1", "read"))


@route("POST referral_pages.referral_action")
def _(h):
    rid = referral(h)
    return Call(lambda: post_form(h.client, f"/queue/{rid}/act", {"action": "acknowledge", "version": version(h, rid)},
                                  h.adviser()), of(rid, "adviser-1", "update"))


@route("POST referral_pages.referral_note")
def _(h):
    rid = referral(h)
    return Call(lambda: post_form(h.client, f"/queue/{rid}/notes", {"text": "Rang twice, no answer."}, h.adviser()),
                of(rid, "adviser-1", "update"))


@route("POST referral_pages.referral_consent_withdrawal")
def _(h):
    rid = referral(h)
    return Call(lambda: post_form(h.client, f"/queue/{rid}/consent-withdrawal", {}, h.gp()),
                of(rid, "gp-1", "update"))


@route("POST referral_pages.referral_route")
def _(h):
    rid = held(h)
    return Call(lambda: post_form(h.client, f"/queue/{rid}/route", {"service_id": str(OTHER_SERVICE)}, h.admin()),
                of(rid, "admin-1", "share"))


@route("GET referral_pages.my_referral")
def _(h):
    rid = referral(h)
    return Call(lambda: page(h, h.person_link(rid), {}), by_the_person(h, "read"))


@route("GET referral_pages.my_referral_stop")
def _(h):
    rid = referral(h)
    return Call(lambda: page(h, h.person_link(rid) + "/stop", {}), by_the_person(h, "read"))


@route("GET referral_pages.my_referral_withdraw")
def _(h):
    rid = referral(h)
    h.act(rid, "reject", reason="out_of_area")  # ended: the page asks to confirm withdrawing consent
    return Call(lambda: page(h, h.person_link(rid) + "/withdraw", {}), by_the_person(h, "read"))


@route("POST referral_pages.my_referral_cancel")
def _(h):
    rid = referral(h)
    return Call(lambda: post_form(h.client, h.person_link(rid) + "/cancel", {}, {}), by_the_person(h, "update"))


@route("POST referral_pages.my_referral_emails")
def _(h):
    rid = referral(h)
    return Call(lambda: post_form(h.client, h.person_link(rid) + "/emails", {"updates_by_email": "no"}, {}),
                by_the_person(h, "update"))


@route("POST referral_pages.refer_yourself_verify")
def _(h):
    pending = h.client.post("/self-referrals", json={
        "person": {"given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02", "postcode": "GL1 1AA",
                   "email": "sam@example.org"},
        "consent": {"explicit": True, "updates_by_email": True}, "employment_situation": "unemployed"}).get_json()
    return Call(lambda: post_form(h.client, f"/refer-yourself/{pending['id']}/code", {"code": pending["code"]}, {}),
                by_the_person(h, "create"))


@route("POST referral_pages.people_found")
def _(h):
    rid = referral(h)
    return Call(lambda: post_form(h.client, "/people", {"nhs_number": NHS_NUMBER}, h.admin()),
                of(rid, "admin-1", "read"))


@route("POST referral_pages.people_download")
def _(h):
    rid = referral(h)
    return Call(lambda: post_form(h.client, "/people/download", {"nhs_number": NHS_NUMBER}, h.admin()),
                of(rid, "admin-1", "export"))


@route("POST referral_pages.people_erasure")
def _(h):
    rid = referral(h)
    return Call(lambda: post_form(h.client, "/people/erase", {"nhs_number": NHS_NUMBER, "step": "confirm",
                                                              "reason": "no_longer_necessary"}, h.admin()),
                of(rid, "admin-1", "erase"))


# --- the walk -------------------------------------------------------------------------------------


def test_every_route_is_sorted_into_person_records_or_not(harness):
    assert unsorted_routes(harness.app, PERSON_ROUTES, OTHER_ROUTES) == []
    assert unmarked_record_routes(harness.app, PERSON_ROUTES) == []


@pytest.mark.parametrize("key", sorted(PERSON_ROUTES))
def test_every_access_to_a_referral_is_audited(harness, key):
    h = harness
    call = PERSON_ROUTES[key](h)
    sent = recording(h.client)
    record = check_audited(h.ctx, call)
    if names_a_record(h.app, key):
        check_refused(h.ctx, h.client, sent, h.adviser("stranger-1", OTHER_ADVISERS), "stranger-1", record)
