"""A person's rights as pages, for the alliance's data protection officer: find a person by NHS number or a
referral id (posted, never in the address), see what is held, download the subject access export (the API's
body and audit), and erase on request after choosing the Article 17 reason and confirming (SQLite and
PostgreSQL where the data path differs)."""

from __future__ import annotations

import json
import re
import uuid

import pytest
import sqlalchemy as sa

from tests.people_rights import HTML, counts, hidden, post_form, summary_links, text
from tests.services.referrals.conftest import ADVISERS, nhs_number
from tests.services.referrals.test_people_rights import ADA, ada_history, audits, outbox, someone_else
from worklink_referrals.models import Referral


def post(h, path, data, headers=None, csrf=True):
    return post_form(h.client, path, data, h.admin() if headers is None else headers, csrf)


def erased_ids(h) -> set[str]:
    with h.ctx.database.engine.connect() as conn:
        return {str(i) for i in conn.execute(sa.select(Referral.id).where(Referral.erased_at.is_not(None))).scalars()}


def test_the_admin_finds_a_person_and_sees_what_is_held_without_their_free_text(both):
    h = both
    first, second = ada_history(h)
    someone_else(h)
    nav = h.client.get("/", headers={**h.admin(), **HTML}).get_data(as_text=True)
    assert 'href="/people"' in nav and "A person&#39;s rights" in nav

    found = post(h, "/people", {"nhs_number": ADA["nhs_number"][:3] + " " + ADA["nhs_number"][3:]})
    assert found.status_code == 200, text(found)
    page = text(found)
    assert "Ada Lovelace" in page and "10 December 1985" in page  # enough to tell it is her
    held = counts(found)
    assert (held["Referrals"], held["Case notes"], held["Attempts to contact them"], held["Outcomes"]) == (2, 1, 1, 0)
    assert held["Steps in their referrals' history"] == 5 and held["Recorded accesses to their referrals"] > 0
    for private in ("Prefers mornings", "Moved to Leeds", "Back pain", "ada@example.org", "GL1 2AB", "Somerville"):
        assert private not in page  # the download holds those; the page shows what is held, not what it says
    assert "Submit GP" in page and "Record contact attempt Adviser" in page  # steps, in words
    assert hidden(found) == {"nhs_number": ADA["nhs_number"]}
    assert found.headers["Cache-Control"] == "no-store"
    assert audits(h, "read")[-2:] == [(first, "subject access request"), (second, "subject access request")]

    by_referral = post(h, "/people", {"referral_id": second})
    assert by_referral.status_code == 200 and counts(by_referral)["Referrals"] == 2
    assert hidden(by_referral) == {"referral_id": second}


def test_the_download_is_the_api_body_as_an_attachment_audited_as_an_export(both):
    h = both
    first, second = ada_history(h)
    api = h.client.post("/people/subject-access", json={"nhs_number": ADA["nhs_number"]}, headers=h.admin())
    download = post(h, "/people/download", {"nhs_number": ADA["nhs_number"]})
    assert download.status_code == 200 and download.mimetype == "application/json"
    assert download.headers["Content-Disposition"].startswith('attachment; filename="subject-access-referrals-')
    assert ADA["nhs_number"] not in download.headers["Content-Disposition"]
    assert download.headers["Cache-Control"] == "no-store"

    def without_accesses(body):  # the API's own export is an access the download then shows
        return [{k: v for k, v in r.items() if k != "accessed"} for r in body["referrals"]]

    body = json.loads(download.get_data())
    assert without_accesses(body) == without_accesses(api.get_json()) and body["referrals"][0]["notes"]
    assert set(body) == set(api.get_json())
    assert audits(h, "export") == [(first, "subject access request"), (second, "subject access request")] * 2


@pytest.mark.parametrize("form, field, message", [
    ({}, "#nhs_number", "Enter their NHS number, or the id of one of their referrals"),
    ({"nhs_number": "12345"}, "#nhs_number", "Enter the NHS number as 10 digits, like 943 476 5919"),
    ({"nhs_number": "9434765918"}, "#nhs_number", "Enter a real NHS number: check the digits"),
    ({"referral_id": "WL-123"}, "#referral_id", "Enter the referral id as it appears in the referral's address"),
    ({"nhs_number": "9434765919", "referral_id": str(uuid.UUID(int=1))}, "#referral_id",
     "Enter an NHS number or a referral id, not both"),
])
def test_a_lookup_the_page_cannot_use_is_named_in_the_error_summary_with_a_link_to_its_field(harness, form, field,
                                                                                            message):
    for path in ("/people", "/people/download", "/people/erase"):
        refused = post(harness, path, form)
        assert refused.status_code == 422 and refused.mimetype == "text/html"
        [(href, words)] = summary_links(refused)
        assert href == field and words.startswith(message)
        assert f'id="{field[1:]}-error"' in refused.get_data(as_text=True)


def test_nothing_held_says_so_and_audits_nothing(both):
    h = both
    someone_else(h)
    for path in ("/people", "/people/download"):
        nothing = post(h, path, {"nhs_number": nhs_number(7)})
        assert nothing.status_code == 404 and nothing.mimetype == "text/html"
        assert summary_links(nothing) == [("#nhs_number", "This service holds nothing about that person.")]
    assert post(h, "/people", {"referral_id": str(uuid.uuid4())}).status_code == 404
    assert audits(h, "read") == [] and audits(h, "export") == []


def test_only_an_alliance_admin_reaches_the_pages(harness):
    h = harness
    h.refer()
    for who in (h.gp(), h.adviser(), h.token("org_admin", ADVISERS, "lead-1")):
        assert h.client.get("/people", headers={**who, **HTML}).status_code == 403
        for path in ("/people", "/people/download", "/people/erase"):
            assert post(h, path, {"nhs_number": "9434765919", "reason": "objection", "step": "confirm"},
                        headers=who).status_code == 403
        assert 'href="/people"' not in h.client.get("/", headers={**who, **HTML}).get_data(as_text=True)
    anonymous = h.client.get("/people", headers=HTML)
    assert anonymous.status_code == 302 and anonymous.headers["Location"] == "/signin?next=%2Fpeople"
    assert post(h, "/people", {"nhs_number": "9434765919"}, headers={}).headers["Location"].startswith("/signin")
    assert h.client.get("/people", headers=h.admin() | HTML).status_code == 200
    assert erased_ids(h) == set() and audits(h, "read") == []


def test_a_form_without_its_csrf_token_is_refused(harness):
    h = harness
    rid = h.refer().get_json()["id"]
    for path in ("/people", "/people/download", "/people/erase"):
        refused = post(h, path, {"nhs_number": "9434765919", "reason": "objection", "step": "confirm"}, csrf=False)
        assert refused.status_code == 400 and "did not come from this site" in text(refused)
    assert erased_ids(h) == set() and audits(h, "export") == [] and audits(h, "read") == []
    assert h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()["status"] == "submitted"


def test_erasure_asks_why_then_says_what_will_happen_and_erases_only_once_confirmed(both):
    h = both
    first, second = ada_history(h)
    other = someone_else(h)
    lookup = {"nhs_number": ADA["nhs_number"]}

    asked = post(h, "/people/erase", lookup)  # from the summary page's button
    assert asked.status_code == 200 and "Why are their details to be erased?" in text(asked)
    assert re.findall(r'name="reason" type="radio" value="(\w+)"', asked.get_data(as_text=True)) == [
        "no_longer_necessary", "consent_withdrawn", "objection", "unlawful_processing", "legal_obligation"]
    assert hidden(asked) == {**lookup, "step": "reason"}

    no_reason = post(h, "/people/erase", {**lookup, "step": "reason"})
    assert no_reason.status_code == 422
    assert summary_links(no_reason) == [("#reason", "Select why they asked for their details to be erased")]
    made_up = post(h, "/people/erase", {**lookup, "step": "confirm", "reason": "because"})
    assert made_up.status_code == 422 and summary_links(made_up)[0][0] == "#reason"

    confirm = post(h, "/people/erase", {**lookup, "step": "reason", "reason": "objection"})
    assert confirm.status_code == 200
    page = text(confirm)
    assert "This cannot be undone" in page and "1 open referral is cancelled first, with consent withdrawn" in page
    assert "They object to the processing" in page
    assert hidden(confirm) == {**lookup, "reason": "objection", "step": "confirm"}
    # Neither the reason step, nor a post that skips the steps, erases anything.
    for skipped in ({**lookup, "reason": "objection"}, {**lookup, "reason": "objection", "step": "reason"},
                    {**lookup, "reason": "objection", "step": "yes"}):
        assert post(h, "/people/erase", skipped).status_code == 200
    assert erased_ids(h) == set() and audits(h, "erase") == []
    assert h.client.get(f"/referrals/{second}", headers=h.admin()).get_json()["status"] != "cancelled"

    done = post(h, "/people/erase", hidden(confirm))
    assert done.status_code == 200, text(done)
    page = text(done)
    assert "Their details were erased" in page and "Cancelled with consent withdrawn, then erased" in page
    assert erased_ids(h) == {first, second} and other not in erased_ids(h)
    assert audits(h, "erase") == [(first, "erasure request: objection"), (second, "erasure request: objection")]
    assert [e["data"]["referral_id"] for e in outbox(h) if e["type"] == "referrals.referral.cancelled"] == [
        first, second]
    again = post(h, "/people/erase", {"referral_id": first, "reason": "objection", "step": "confirm"})
    assert again.status_code == 200 and "Already erased" in text(again)
    assert post(h, "/people", lookup).status_code == 404  # nothing held by her NHS number now
