"""A person's rights as pages, for the alliance's data protection officer (every practice) and a practice's
organisation admin (its own): find a patient by NHS number (posted, never in the address), see what is held,
download the subject access export (the API's body and audit), and erase on request after choosing the
Article 17 reason and confirming (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from tests.people_rights import HTML, counts, hidden, post_form as post, summary_links, text
from tests.services.adjustments.conftest import OTHER_PRACTICE, PRACTICE, VALID_NHS, patient_reference
from tests.services.adjustments.test_people_rights import SPACED, admin, audits, outbox, sam
from tests.services.adjustments.test_retention import PERSONAL, row


def erased(app, *ids) -> list[bool]:
    return [row(app, sid)["erased_at"] is not None for sid in ids]


def test_an_admin_lands_on_the_rights_page_and_sees_what_is_held_without_the_clinical_detail(svc):
    app, client, tokens = svc
    first, second, other = sam(app, client, tokens)
    home = client.get("/", headers={**admin(tokens), **HTML})
    assert home.status_code == 303 and home.headers["Location"] == "/people"
    find = client.get("/people", headers={**admin(tokens), **HTML})
    assert find.status_code == 200 and 'href="/people"' in find.get_data(as_text=True)
    assert client.get("/", headers={**tokens.header(), **HTML}).status_code == 200  # a clinician's home stays

    found = post(client, "/people", {"nhs_number": SPACED}, admin(tokens))
    assert found.status_code == 200, text(found)
    page = text(found)
    assert "Sam Patel" in page and "12 April 1985" in page
    assert " GP create " in page and " Employer update " in page  # who accessed it, in words
    assert counts(found) == {"Suggestions": 2, "Employer reply links": 1, "Employer answers": 1,
                             "Referral requests": 1, "Recorded accesses to their suggestions": counts(found)[
                                 "Recorded accesses to their suggestions"]}
    for private in set(PERSONAL) - {"Sam", "Patel", VALID_NHS}:
        assert private not in page, private
    assert hidden(found) == {"nhs_number": VALID_NHS} and found.headers["Cache-Control"] == "no-store"
    read = [a for a in audits(app, "read") if a[2] == "subject access request"]
    patient = patient_reference(app)
    assert read == [(first, patient, "subject access request"), (second, patient, "subject access request")]

    # A practice's organisation admin answers for their own practice's suggestions only.
    own = post(client, "/people", {"nhs_number": VALID_NHS}, admin(tokens, "org_admin", OTHER_PRACTICE))
    assert own.status_code == 200 and counts(own)["Suggestions"] == 1
    elsewhere = post(client, "/people", {"nhs_number": VALID_NHS}, admin(tokens, "org_admin", uuid.uuid4()))
    assert elsewhere.status_code == 404


def test_the_download_is_the_api_body_as_an_attachment_audited_as_an_export(svc):
    app, client, tokens = svc
    first, second, _ = sam(app, client, tokens)
    api = client.post("/people/subject-access", json={"nhs_number": VALID_NHS}, headers=admin(tokens))
    download = post(client, "/people/download", {"nhs_number": VALID_NHS}, admin(tokens))
    assert download.status_code == 200 and download.mimetype == "application/json"
    assert download.headers["Content-Disposition"].startswith('attachment; filename="subject-access-adjustments-')
    assert VALID_NHS not in download.headers["Content-Disposition"] and download.headers["Cache-Control"] == "no-store"

    def without_accesses(body):  # the API's own export is an access the download then shows
        return [{k: v for k, v in s.items() if k != "accessed"} for s in body["suggestions"]]

    body = json.loads(download.get_data())
    assert without_accesses(body) == without_accesses(api.get_json()) and set(body) == set(api.get_json())
    assert body["suggestions"][0]["functional_effects"].startswith("Tires")
    exports = [a for a in audits(app, "export") if a[2] == "subject access request"]
    patient = patient_reference(app)
    assert exports == [(first, patient, "subject access request"), (second, patient, "subject access request")] * 2


@pytest.mark.parametrize("form, message", [
    ({}, "Enter their NHS number"),
    ({"nhs_number": "12345"}, "Enter the NHS number as 10 digits, like 943 476 5919"),
    ({"nhs_number": VALID_NHS[:-1] + "8"}, "Enter a real NHS number: check the digits"),
])
def test_an_nhs_number_the_page_cannot_use_is_named_in_the_error_summary_with_a_link_to_its_field(client, tokens,
                                                                                                 form, message):
    for path in ("/people", "/people/download", "/people/erase"):
        refused = post(client, path, form, admin(tokens))
        assert refused.status_code == 422 and refused.mimetype == "text/html"
        [(href, words)] = summary_links(refused)
        assert href == "#nhs_number" and words.startswith(message)
        assert 'id="nhs_number-error"' in refused.get_data(as_text=True)


def test_nothing_held_says_so_and_audits_nothing(client, tokens):
    for path in ("/people", "/people/download"):
        nothing = post(client, path, {"nhs_number": VALID_NHS}, admin(tokens))
        assert nothing.status_code == 404 and nothing.mimetype == "text/html"
        assert summary_links(nothing) == [("#nhs_number", "This service holds no suggestion about that person that "
                                                          "you answer for.")]
    assert audits(client.application, "read") == [] and audits(client.application, "export") == []


def test_only_admins_reach_the_pages(svc):
    app, client, tokens = svc
    first, _, _ = sam(app, client, tokens)
    for who in (tokens.header(), admin(tokens, "adviser", PRACTICE), admin(tokens, "resident", None)):
        assert client.get("/people", headers={**who, **HTML}).status_code == 403
        for path in ("/people", "/people/download", "/people/erase"):
            assert post(client, path, {"nhs_number": VALID_NHS, "reason": "objection", "step": "confirm"},
                        who).status_code == 403
    anonymous = client.get("/people", headers=HTML)
    assert anonymous.status_code == 302 and anonymous.headers["Location"] == "/signin?next=%2Fpeople"
    assert post(client, "/people/erase", {"nhs_number": VALID_NHS}, {}).headers["Location"].startswith("/signin")
    assert erased(app, first) == [False] and [a for a in audits(app, "read") if a[2]] == []


def test_a_form_without_its_csrf_token_is_refused(svc):
    app, client, tokens = svc
    first, second, _ = sam(app, client, tokens)
    for path in ("/people", "/people/download", "/people/erase"):
        refused = post(client, path, {"nhs_number": VALID_NHS, "reason": "objection", "step": "confirm"},
                       admin(tokens), csrf=False)
        assert refused.status_code == 400 and "did not come from this site" in text(refused)
    assert erased(app, first, second) == [False, False] and audits(app, "erase") == []
    assert [a for a in audits(app, "export") if a[2] == "subject access request"] == []


def test_erasure_asks_why_then_says_what_will_happen_and_erases_only_once_confirmed(svc):
    app, client, tokens = svc
    first, second, other = sam(app, client, tokens)
    who = admin(tokens)
    lookup = {"nhs_number": VALID_NHS}

    asked = post(client, "/people/erase", lookup, who)
    assert asked.status_code == 200 and "Why are their details to be erased?" in text(asked)
    assert re.findall(r'name="reason" type="radio" value="(\w+)"', asked.get_data(as_text=True)) == [
        "no_longer_necessary", "consent_withdrawn", "objection", "unlawful_processing", "legal_obligation"]
    no_reason = post(client, "/people/erase", {**lookup, "step": "reason"}, who)
    assert no_reason.status_code == 422
    assert summary_links(no_reason) == [("#reason", "Select why they asked for their details to be erased")]

    confirm = post(client, "/people/erase", {**lookup, "step": "reason", "reason": "consent_withdrawn"}, who)
    assert confirm.status_code == 200
    page = text(confirm)
    assert "This cannot be undone" in page and "2 suggestions about them" in page
    assert "1 suggestion is still their current advice: withdrawn first" in page
    assert "1 referral to an employment adviser is still open: their consent is withdrawn" in page
    assert hidden(confirm) == {**lookup, "reason": "consent_withdrawn", "step": "confirm"}
    for skipped in ({**lookup, "reason": "objection"}, {**lookup, "reason": "objection", "step": "reason"}):
        assert post(client, "/people/erase", skipped, who).status_code == 200
    assert erased(app, first, second) == [False, False] and audits(app, "erase") == []
    assert not [e for e in outbox(app) if e["type"] == "adjustments.referral.consent_withdrawn"]

    done = post(client, "/people/erase", hidden(confirm), who)
    assert done.status_code == 200, text(done)
    assert "Withdrawn, then erased; consent to the open referral withdrawn" in text(done)
    assert erased(app, first, second, other) == [True, True, False]
    purpose = "erasure request: consent_withdrawn"
    assert audits(app, "erase") == [(first, first, purpose), (second, second, purpose)]
    assert [e["data"]["suggestion_id"] for e in outbox(app) if e["type"] == "adjustments.referral.consent_withdrawn"
            ] == [first]
    assert post(client, "/people", lookup, who).status_code == 404  # nothing held by that NHS number now
