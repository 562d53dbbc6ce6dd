"""A withdrawn or replaced suggestion's artefacts say so everywhere: its letter and summary (print view and PDF)
are 410 - a page saying when and why for the clinician, a problem for a program - and nothing offers them; its
employer link says when the advice ended and that it no longer stands, never why; the review page shows the record
marked ended, with why and when, and offers no letter, amendment, replacement or referral. A replaced one points to
its replacement where the reader may see it (the practice's clinicians; not the employer).

Found on a walk through every route of a withdrawn suggestion: its letter and summary, HTML and PDF, were still
printed as if valid, the review page showed the letter under "Employer letter" with no word that it was withdrawn
(nor when, nor why: only a red "Withdrawn" tag), the API still offered `links.letter`, `links.letter_pdf`... and
an `employer_link_expires_at` weeks away, and the employer's link said only "This advice is no longer current (it
was withdrawn)", or, once used or after an amendment, nothing of the withdrawal at all."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.browser import assert_accessible, live_server, sign_in
from tests.services.adjustments.conftest import patient_reference, suggestion_body
from tests.services.adjustments.test_letters_and_employer import issued, response_link
from worklink_adjustments.domain import long_date, uk_today
from worklink_adjustments.models import PLATFORM

pytestmark = pytest.mark.timeout(180)
PROGRAM = {"Accept": "application/pdf, application/problem+json"}
DOCUMENTS = ("letter", "letter.pdf", "summary", "summary.pdf")


def withdrawn(client, tokens, reason: str = "issued_in_error", **overrides) -> dict:
    s = issued(client, tokens, **overrides)
    done = client.post(f"/suggestions/{s['id']}/withdraw", json={"version": s["version"], "reason": reason},
                       headers=tokens.header())
    assert done.status_code == 200, done.get_data(as_text=True)
    return done.get_json()


def replaced(client, tokens) -> tuple[dict, dict]:
    old = issued(client, tokens)
    newer = client.post("/suggestions", json=suggestion_body(supersedes_id=old["id"]), headers=tokens.header())
    issued_newer = client.post(f"/suggestions/{newer.get_json()['id']}/issue", json={"version": 1},
                               headers=tokens.header())
    assert issued_newer.status_code == 200, issued_newer.get_data(as_text=True)
    return old, issued_newer.get_json()


def today_in_words() -> str:
    return long_date(uk_today())


def test_a_withdrawn_suggestions_letter_and_summary_are_gone_saying_when_and_why(client, tokens):
    s = withdrawn(client, tokens, "condition_changed")
    for document in DOCUMENTS:
        path = f"/suggestions/{s['id']}/{document}"
        program = client.get(path, headers={**tokens.header(), **PROGRAM})
        assert program.status_code == 410 and program.mimetype == "application/problem+json", document
        problem = program.get_json()
        assert problem["reason"] == "withdrawn" and problem["ended_at"].startswith(s["ended_at"][:19])
        assert problem["detail"].startswith(f"This suggestion was withdrawn by the GP practice on {today_in_words()} "
                                            "(the condition changed): its ")
        assert problem["detail"].endswith("is no longer valid.") and "superseded_by_id" not in problem
        page = client.get(path, headers=tokens.header())
        assert page.status_code == 410 and page.mimetype == "text/html", document
        text = " ".join(re.sub(r"<[^>]+>", " ", page.get_data(as_text=True)).split())
        assert (f"The suggestion for Sam Patel, assessed on {today_in_words()}, was withdrawn by the GP practice on "
                f"{today_in_words()} (the condition changed). Do not print or give out its") in text
        assert "Tires quickly" not in text and "Changes that may help" not in text  # no letter in it
        assert f'href="/review/{s["id"]}"' in page.get_data(as_text=True)


def test_a_replaced_suggestions_letter_is_gone_and_points_to_its_replacement(client, tokens):
    old, newer = replaced(client, tokens)
    program = client.get(f"/suggestions/{old['id']}/letter.pdf", headers={**tokens.header(), **PROGRAM})
    assert program.status_code == 410 and program.get_json()["reason"] == "superseded"
    assert program.get_json()["superseded_by_id"] == newer["id"]
    page = client.get(f"/suggestions/{old['id']}/letter", headers=tokens.header()).get_data(as_text=True)
    assert "This employer letter is no longer valid" in page
    assert re.search(rf'Print the employer letter of <a href="/review/{newer["id"]}">the suggestion of '
                     rf'{today_in_words()}</a>, which replaced it', page)
    # The replacement's own letter prints as ever
    assert client.get(f"/suggestions/{newer['id']}/letter.pdf", headers=tokens.header()).status_code == 200


def accesses(app, sid: str) -> list[tuple]:
    audit = PLATFORM.audit_log
    with app.extensions["worklink"].database.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(audit.c.action, audit.c.purpose, audit.c.person_id)
                                               .where(audit.c.resource_id == sid, audit.c.actor == "dr-ada")
                                               .order_by(audit.c.id))]


def test_asking_for_an_ended_suggestions_documents_is_audited_as_a_read_not_an_export(app, client, tokens):
    """The 410 notice was audited as an `export` of the person's record (purpose print_letter), as if the letter
    had been given out. It is still an access to the record (the notice names the patient): a `read`, saying the
    document was refused and why."""
    s = withdrawn(client, tokens)
    old, newer = replaced(client, tokens)
    admin = tokens.header(role="alliance_admin", org=None, subject="dpo-1")
    erased = issued(client, tokens, **{"patient.nhs_number": "9434765870"})
    assert client.post("/people/erasure", json={"nhs_number": "9434765870", "reason": "objection"},
                       headers=admin).status_code == 200
    for sid, why, person in ((s["id"], "withdrawn", patient_reference(app)),
                             (old["id"], "superseded", patient_reference(app)), (erased["id"], "erased", erased["id"])):
        before = len(accesses(app, sid))
        for document in DOCUMENTS:
            assert client.get(f"/suggestions/{sid}/{document}", headers=tokens.header()).status_code == 410
        kind = lambda document: document.split(".")[0]  # noqa: E731
        assert accesses(app, sid)[before:] == [("read", f"print_{kind(d)}_refused_{why}", person) for d in DOCUMENTS]
    # The replacement's documents are printed, and exported as ever
    for document in DOCUMENTS:
        assert client.get(f"/suggestions/{newer['id']}/{document}", headers=tokens.header()).status_code == 200
    assert [a[:2] for a in accesses(app, newer["id"])[-4:]] == [("export", f"print_{d.split('.')[0]}")
                                                                for d in DOCUMENTS]


def test_the_api_offers_no_letter_and_no_live_link_for_ended_advice(client, tokens):
    s = withdrawn(client, tokens)
    assert s["links"] == {"self": f"/suggestions/{s['id']}"} and s["employer_link_expires_at"] is None
    read = client.get(f"/suggestions/{s['id']}", headers=tokens.header()).get_json()
    assert read["links"] == {"self": f"/suggestions/{s['id']}"}
    assert read["employer_link_expires_at"] is None
    assert read["status"] == "withdrawn" and read["withdrawn_reason"] == "issued_in_error" and read["ended_at"]
    old, newer = replaced(client, tokens)
    old_read = client.get(f"/suggestions/{old['id']}", headers=tokens.header()).get_json()
    assert old_read["links"] == {"self": f"/suggestions/{old['id']}"}
    assert old_read["superseded_by_id"] == newer["id"] and old_read["withdrawn_reason"] == "replaced"
    current = client.get(f"/suggestions/{newer['id']}", headers=tokens.header()).get_json()
    assert set(current["links"]) == {"self", "letter", "letter_pdf", "summary", "summary_pdf"}
    assert current["employer_link_expires_at"]
    paths = client.get("/openapi.json").get_json()["paths"]
    for document in DOCUMENTS:
        assert "410" in paths[f"/suggestions/{{suggestion_id}}/{document}"]["get"]["responses"], document
    refer = client.post(f"/suggestions/{s['id']}/referral-requests", json={"version": read["version"]},
                        headers=tokens.header())
    assert refer.status_code == 409 and refer.mimetype == "application/problem+json"


def test_the_employers_link_says_when_the_advice_was_withdrawn_and_never_why(client, tokens):
    s = issued(client, tokens)
    link = response_link(client, tokens, s["id"])
    client.post(f"/suggestions/{s['id']}/withdraw", json={"version": s["version"], "reason": "condition_changed"},
                headers=tokens.header())
    said = (f"The advice in this letter was withdrawn by the GP practice on {today_in_words()} and is no longer "
            "valid. Please do not act on it.")
    api = client.get("/employer-links/" + link.rsplit("/", 1)[1])
    assert api.status_code == 410 and api.get_json()["reason"] == "withdrawn" and api.get_json()["detail"] == said
    page = client.get(link)
    assert page.status_code == 410 and said in page.get_data(as_text=True)
    assert "condition" not in page.get_data(as_text=True).lower()


def test_a_used_or_amended_letters_link_says_the_advice_was_withdrawn(app, client, tokens):
    """An employer who answered, or holds the letter an amendment replaced, was told only 'A response has already
    been recorded' or 'amended since': not that the advice itself was withdrawn."""
    s = issued(client, tokens)
    token = response_link(client, tokens, s["id"]).rsplit("/", 1)[1]
    answer = {"items": [{"index": i, "outcome": "agreed"} for i in range(3)], "responder_name": "Jo Manager"}
    assert client.post(f"/employer-links/{token}/response", json=answer).status_code == 201
    other = issued(client, tokens)
    old_token = response_link(client, tokens, other["id"]).rsplit("/", 1)[1]
    amended = client.post(f"/suggestions/{other['id']}/amend", json={**suggestion_body(), "version": other["version"]},
                          headers=tokens.header()).get_json()
    for sid, version in ((s["id"], s["version"]), (other["id"], amended["version"])):
        assert client.post(f"/suggestions/{sid}/withdraw", json={"version": version, "reason": "other"},
                           headers=tokens.header()).status_code == 200
    for gone in (token, old_token):
        problem = client.get(f"/employer-links/{gone}").get_json()
        assert problem["reason"] == "withdrawn" and "withdrawn by the GP practice on" in problem["detail"]


def test_the_employers_link_of_replaced_advice_says_so_and_not_where_the_new_one_is(client, tokens):
    old = issued(client, tokens)
    link = response_link(client, tokens, old["id"])
    replaced_by = client.post("/suggestions", json=suggestion_body(supersedes_id=old["id"]), headers=tokens.header())
    client.post(f"/suggestions/{replaced_by.get_json()['id']}/issue", json={"version": 1}, headers=tokens.header())
    newer_link = response_link(client, tokens, replaced_by.get_json()["id"])
    page = client.get(link).get_data(as_text=True)
    assert (f"The advice in this letter was replaced by newer advice from the GP practice on {today_in_words()} and "
            "is no longer valid. Please do not act on it: your employee can give you the newer letter.") in page
    assert newer_link.rsplit("/", 1)[1] not in page and replaced_by.get_json()["id"] not in page


def test_the_review_page_of_a_withdrawn_suggestion_in_chromium(app, tokens, page):
    client = app.test_client()
    s = withdrawn(client, tokens, "issued_in_error")
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), f"/review/{s['id']}")
        assert page.locator("#status .nhsuk-tag").inner_text() == "Withdrawn"
        assert page.locator("#ended").inner_text() == (f"Withdrawn by the GP practice on {today_in_words()} (issued "
                                                       "in error)")
        assert page.locator("#letter-void").inner_text() == "Withdrawn – no longer valid"
        assert page.get_by_role("heading", name="Employer letter as issued (no longer valid: do not print or give "
                                                "it out)").count() == 1
        for offer in ("Print the employer letter", "PDF", "Print the patient summary", "Amend the suggestion",
                      "Write a new suggestion to replace this one", "Withdraw the suggestion",
                      "Refer to an employment adviser"):
            assert page.get_by_role("link", name=offer, exact=True).count() == 0, offer
            assert page.get_by_role("button", name=offer, exact=True).count() == 0, offer
        assert page.locator("a[href^='/respond/'], a[href*='/respond/']").count() == 0
        assert_accessible(page)
        page.goto(f"{base}/suggestions/{s['id']}/letter")
        assert page.get_by_role("heading", level=1).inner_text() == "This employer letter is no longer valid"
        assert_accessible(page)
        page.get_by_role("link", name="See the withdrawn suggestion").click()
        page.wait_for_url(f"{base}/review/{s['id']}")


def test_the_review_page_of_a_replaced_suggestion_in_chromium(app, tokens, page):
    client = app.test_client()
    old, newer = replaced(client, tokens)
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), f"/review/{old['id']}")
        assert page.locator("#ended").inner_text() == f"Replaced by a newer suggestion on {today_in_words()}"
        assert page.locator("#letter-void").inner_text() == "Replaced – no longer valid"
        assert page.get_by_role("link", name="Print the employer letter").count() == 0
        assert_accessible(page)
        page.goto(f"{base}/suggestions/{old['id']}/summary")
        assert page.get_by_role("heading", level=1).inner_text() == "This patient summary is no longer valid"
        page.get_by_role("link", name=f"the suggestion of {today_in_words()}").click()
        page.wait_for_url(f"{base}/review/{newer['id']}")
        assert page.get_by_role("link", name="Print the employer letter").count() == 1


def test_the_record_says_the_ending_closed_the_employer_link(client, tokens):
    """The subject access export (and the audit, reading the tables) showed a withdrawn or replaced suggestion's
    link neither used, revoked nor expired, as if it still took answers; its schema says an ending closes it."""
    s = withdrawn(client, tokens)
    old, _ = replaced(client, tokens)
    export = client.post("/people/subject-access", json={"nhs_number": suggestion_body()["patient"]["nhs_number"]},
                         headers=tokens.header(role="alliance_admin", org=None, subject="alliance_admin-1"))
    assert export.status_code == 200, export.get_data(as_text=True)
    by_id = {advice["id"]: advice for advice in export.get_json()["suggestions"]}
    for ended in (s, old):
        [link] = by_id[ended["id"]]["employer_links"]
        assert link["revoked_at"] and link["used_at"] is None, link
        assert link["revoked_at"][:19] == by_id[ended["id"]]["ended_at"][:19]


def test_a_withdrawn_suggestion_is_not_asked_to_be_withdrawn_again(client, tokens):
    """Its confirmation page (a second tab, a bookmark) asked 'Withdraw this suggestion?' with the button; only the
    refusal after it said it could not be. It goes to the review page, which says why."""
    s = withdrawn(client, tokens)
    old, _ = replaced(client, tokens)
    for sid in (s["id"], old["id"]):
        asked = client.get(f"/review/{sid}/withdraw", headers=tokens.header())
        assert asked.status_code == 303 and asked.headers["Location"].endswith(f"/review/{sid}?error=status")
        review = client.get(asked.headers["Location"], headers=tokens.header()).get_data(as_text=True)
        assert "The suggestion&#39;s status no longer allows that" in review and 'id="ended"' in review
    current = issued(client, tokens)
    assert client.get(f"/review/{current['id']}/withdraw", headers=tokens.header()).status_code == 200
