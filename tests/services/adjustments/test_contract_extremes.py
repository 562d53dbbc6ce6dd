"""Whatever the API accepts can be published: the extremes of every field that travels in an event
(the restricted referral hand-over, its withdrawal, the broadcast employer answer) are issued,
referred, withdrawn and answered - the outbox validates each event against its contract, so a
value the API lets in but a contract refuses would be a 500 here."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa

from worklink.events.contracts import CATALOGUE
from worklink.events.contracts.adjustments import clinician_reference
from tests.services.adjustments.conftest import suggestion_body
from tests.services.adjustments.test_employer_api_and_rounds import letter_token

LONGEST_EMAIL = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 58 + ".uk"  # 254 characters


def published(app) -> dict[str, list[dict]]:
    ctx = app.extensions["worklink"]
    with ctx.database.engine.connect() as conn:
        rows = conn.execute(sa.select(ctx.tables.outbox.c.type, ctx.tables.outbox.c.payload))
        found: dict[str, list[dict]] = {}
        for type_, payload in rows:
            found.setdefault(type_, []).append(json.loads(payload)["data"])
    return found


def publish_everything(client, tokens, subject: str, **patient) -> None:
    header = tokens.header(subject=subject)
    body = suggestion_body(**{f"patient.{k}": v for k, v in patient.items()},
                           **{"consent.refer_to_employment_adviser": True, "consent.outcomes_to_gp": True})
    created = client.post("/suggestions", json=body, headers=header)
    assert created.status_code == 201, created.get_json()
    sid = created.get_json()["id"]
    issued = client.post(f"/suggestions/{sid}/issue", json={"version": 1}, headers=header)
    assert issued.status_code == 200, issued.get_json()
    answer = {"items": [{"index": i, "outcome": "agreed"} for i in range(3)], "responder_name": "Jo Manager"}
    answered = client.post(f"/employer-links/{letter_token(client, tokens, sid)}/response", json=answer)
    assert answered.status_code == 201, answered.get_json()
    withdrawn = client.post(f"/suggestions/{sid}/referral-consent-withdrawal", json={"version": 2}, headers=header)
    assert withdrawn.status_code == 200, withdrawn.get_json()


@pytest.mark.parametrize("patient", [
    {"given_name": "G" * 100, "family_name": "F" * 100, "email": LONGEST_EMAIL, "phone": "+44 (0) 7700-900.12",
     "postcode": "SW1A 1AA"},
    {"given_name": "G", "family_name": "F", "email": "a@b.co", "phone": "      123456", "postcode": "m11ae"},
    {"phone": "+44 7700 900 123 456"},  # 15 digits, 20 characters as typed
])
def test_the_extremes_the_api_accepts_are_published(app, client, tokens, patient):
    publish_everything(client, tokens, "dr-ada", **patient)
    events = published(app)
    for type_ in ("adjustments.referral.requested", "adjustments.referral.consent_withdrawn",
                  "adjustments.employer_response.recorded"):
        assert len(events[type_]) == 1
        assert CATALOGUE.latest(type_).validator.validate(events[type_][0]) == {}
    phone = events["adjustments.referral.requested"][0]["person"]["phone"]
    assert phone == "".join(c for c in patient.get("phone", "07700 900123") if c.isdigit() or c == "+")


@pytest.mark.parametrize("phone", ["+44 7700 900 123 4567", "12345", "07700 90012345678", "0770O 900123"])
def test_a_phone_no_contract_would_take_is_refused_where_it_is_typed(client, tokens, phone):
    response = client.post("/suggestions", json=suggestion_body(**{"patient.phone": phone}), headers=tokens.header())
    assert response.status_code == 422
    assert [e["pointer"] for e in response.get_json()["errors"]] == ["/patient/phone"]


def test_an_email_longer_than_its_column_is_refused(client, tokens):
    response = client.post("/suggestions", json=suggestion_body(**{"patient.email": "a" + LONGEST_EMAIL}),
                           headers=tokens.header())
    assert response.status_code == 422
    assert [e["pointer"] for e in response.get_json()["errors"]] == ["/patient/email"]


@pytest.mark.parametrize("subject", ["ada.lovelace@practice.nhs.uk", "auth0|abc123", "x" * 128,
                                     "CN=Ada Lovelace,OU=GP,O=NHS"])
def test_any_clinician_user_id_is_published_as_a_pseudonymous_reference(app, client, tokens, subject):
    """The employer's answer names who advised by a reference of their id, never the id (an e-mail is personal data)."""
    publish_everything(client, tokens, subject)
    events = published(app)
    answered = events["adjustments.employer_response.recorded"][0]
    assert answered["clinician_id"] == clinician_reference(subject, app.config["CLINICIAN_REFERENCE_KEY"])
    assert re.fullmatch(r"[0-9a-f]{64}", answered["clinician_id"])
    assert subject not in json.dumps(events["adjustments.employer_response.recorded"])
    # The restricted hand-over keeps the user id the referrals service records consent against.
    assert events["adjustments.referral.requested"][0]["clinician_id"] == subject


def test_a_user_id_too_long_to_record_is_refused_before_anything_is_written(app, client, tokens):
    response = client.post("/suggestions", json=suggestion_body(), headers=tokens.header(subject="x" * 129))
    assert response.status_code == 403 and response.mimetype == "application/problem+json"
    assert "128" in response.get_json()["detail"]
    assert published(app) == {}


def issue_amend_withdraw(client, header, body: dict) -> None:
    created = client.post("/suggestions", json=body, headers=header)
    assert created.status_code == 201, created.get_json()
    sid = created.get_json()["id"]
    issued = client.post(f"/suggestions/{sid}/issue", json={"version": 1}, headers=header)
    assert issued.status_code == 200, issued.get_json()
    amended = client.post(f"/suggestions/{sid}/amend", json={**body, "version": 2}, headers=header)
    assert amended.status_code == 200, amended.get_json()
    withdrawn = client.post(f"/suggestions/{sid}/withdraw", json={"version": 3, "reason": "other"}, headers=header)
    assert withdrawn.status_code == 200, withdrawn.get_json()


# The fewest and the most of what the broadcast suggestion events carry, each profession once.
SUGGESTION_EXTREMES = [
    {"issuer.profession": "nurse", "decision": "not_fit", "categories": [], "recommendations": [],
     "reassessment_needed": False, "job": ..., "signposting": ..., "functional_effects": ...},
    {"issuer.profession": "occupational_therapist", "categories": ["phased_return", "altered_hours",
     "amended_duties", "workplace_adaptations"],
     "recommendations": [{"free_text": "Start later " + "x" * 980}] * 20, "period.end": ...,
     "period.duration_days": 3650, "assessment.condition_started_on": "2000-01-01"},
    {"issuer.profession": "pharmacist", "issuer.name": "Jo", "recommendations": [{"adjustment_id": "quiet_workspace"}]},
    {"issuer.profession": "physiotherapist", "reassessment_needed": True, "review_date": ...},
]


@pytest.mark.parametrize("overrides", SUGGESTION_EXTREMES)
def test_the_suggestion_extremes_the_api_accepts_are_published(app, client, tokens, overrides):
    issue_amend_withdraw(client, tokens.header(), suggestion_body(**overrides))
    events = published(app)
    for type_ in ("adjustments.suggestion.issued", "adjustments.suggestion.amended", "adjustments.suggestion.withdrawn"):
        assert len(events[type_]) == 1, type_
        assert CATALOGUE.latest(type_).validator.validate(events[type_][0]) == {}
    assert events["adjustments.suggestion.issued"][0]["issuer_profession"] == overrides["issuer.profession"]


@pytest.mark.parametrize("profession", ["", "  ", "Doctor", "paramedic", None])
def test_a_profession_no_contract_takes_is_refused_where_it_is_typed(app, client, tokens, profession):
    """An empty profession was let in and then made every attempt to issue a 500 (fuzz audit 2, #2)."""
    response = client.post("/suggestions", json=suggestion_body(**{"issuer.profession": profession}),
                           headers=tokens.header())
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert [e["pointer"] for e in errors] == ["/issuer/profession"]
    assert published(app) == {}


def test_the_documented_professions_are_an_enforced_enum(client):
    issuer = client.get("/openapi.json").get_json()["components"]["schemas"]["Issuer"]
    assert issuer["properties"]["profession"]["enum"] == ["doctor", "nurse", "occupational_therapist", "pharmacist",
                                                          "physiotherapist"]


def test_the_longest_run_of_emoji_the_api_accepts_prints_in_both_pdfs(client, tokens):
    """Fuzz audit 2, #9: ~1,000 emoji made fpdf2's bidi pass recurse too deep, so both PDFs were a 500."""
    from tests.services.adjustments.test_letters_and_employer import pdf_unicode_text

    h = tokens.header()
    created = client.post("/suggestions", json=suggestion_body(functional_effects="😀" * 2000), headers=h)
    assert created.status_code == 201, created.get_json()
    sid = created.get_json()["id"]
    assert client.post(f"/suggestions/{sid}/issue", json={"version": 1}, headers=h).status_code == 200
    for kind in ("letter", "summary"):
        pdf = client.get(f"/suggestions/{sid}/{kind}.pdf", headers=h)
        assert pdf.status_code == 200 and pdf.mimetype == "application/pdf", kind
        assert "😀" * 100 in pdf_unicode_text(pdf.data).replace(" ", "")


def test_emoji_beside_right_to_left_words_too_long_to_lay_out_is_a_422_offering_the_print_view(client, tokens):
    h = tokens.header()
    body = suggestion_body(functional_effects="يتعب بسرعة " + "😀" * 1500)  # in one paragraph
    sid = client.post("/suggestions", json=body, headers=h).get_json()["id"]
    assert client.post(f"/suggestions/{sid}/issue", json={"version": 1}, headers=h).status_code == 200
    wants = {"Accept": "application/pdf, application/problem+json"}
    refused = client.get(f"/suggestions/{sid}/letter.pdf", headers={**h, **wants})
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    assert refused.get_json()["type"].endswith("/unprintable-text") and "print view" in refused.get_json()["detail"]
    assert client.get(f"/suggestions/{sid}/letter", headers=h).status_code == 200
