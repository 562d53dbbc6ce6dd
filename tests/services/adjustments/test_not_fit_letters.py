"""A 'not fit for work' note gives the employer no advice about work (the fit note's advice, and the
suggestion of an occupational health assessment, go with 'may be fit'): its employer letter carries no
changes, no job the advice was written for and no signposting, while the patient summary still tells the
patient where help is."""

from __future__ import annotations

import html as markup

from tests.services.adjustments.conftest import suggestion_body
from tests.services.adjustments.test_letters_and_employer import issued, pdf_text

NOT_FIT = {"decision": "not_fit", "categories": [], "recommendations": []}
EMPLOYER_ADVICE = ("Access to Work", "gov.uk/access-to-work", "occupational health", "not binding",
                   "arehouse supervisor", "Further support", "Please answer this letter")  # the job: either case


def texts(client, tokens, sid: str, kind: str) -> tuple[str, str]:
    """The print view's text and the PDF's text of a suggestion's letter or summary."""
    page = client.get(f"/suggestions/{sid}/{kind}", headers=tokens.header())
    pdf = client.get(f"/suggestions/{sid}/{kind}.pdf", headers=tokens.header())
    assert page.status_code == 200 and pdf.status_code == 200
    return markup.unescape(page.get_data(as_text=True)), pdf_text(pdf.data)


def test_a_not_fit_employer_letter_gives_no_advice_or_signposting(client, tokens):
    s = issued(client, tokens, **NOT_FIT)  # signposting to both, and a job title, as the clinician ticked them
    for text in texts(client, tokens, s["id"], "letter"):
        assert "Sam Patel is not fit for work from" in text
        assert "There is no advice about changes at work during this period." in text
        assert [words for words in EMPLOYER_ADVICE if words in text] == []


def test_a_may_be_fit_employer_letter_keeps_its_advice_and_signposting(client, tokens):
    s = issued(client, tokens)
    for text in texts(client, tokens, s["id"], "letter"):
        assert "may be fit for work" in text
        for words in ("The employee applies at gov.uk/access-to-work.", "An occupational health assessment could "
                      "give more detailed advice about the job.", "not binding",
                      "written with their work as a warehouse supervisor in mind"):
            assert words in text


def test_a_not_fit_patient_summary_still_says_where_help_is(client, tokens):
    s = issued(client, tokens, **NOT_FIT)
    for text in texts(client, tokens, s["id"], "summary"):
        assert "You are not fit for work from" in text
        assert "You can apply at gov.uk/access-to-work." in text
        assert "An occupational health assessment could give more detailed advice about the job." in text
        assert "talk through the changes" not in text
        assert "it says you are not fit for work during this period" in text


def test_advice_amended_to_not_fit_asks_the_employer_for_no_answer(client, tokens):
    s = issued(client, tokens)
    amended = client.post(f"/suggestions/{s['id']}/amend", headers=tokens.header(),
                          json={**suggestion_body(**NOT_FIT), "version": s["version"]})
    assert amended.status_code == 200, amended.get_data(as_text=True)
    for text in texts(client, tokens, s["id"], "letter"):
        assert "This letter replaces an earlier one" in text
        assert [words for words in EMPLOYER_ADVICE if words in text] == []
        assert "/respond/" not in text


def test_a_not_fit_patient_summary_says_nothing_of_an_employer_answer(client, tokens):
    s = issued(client, tokens, **NOT_FIT)  # with the patient's consent to share, as the clinician ticked it
    for text in texts(client, tokens, s["id"], "summary"):
        assert "tell us what they decided" not in text and "reply link" not in text
        assert "You have not asked to be referred to an employment adviser." in text  # the section stays


def test_an_amended_letter_without_a_reply_link_asks_for_no_answer(client, tokens):
    no_sharing = {"consent": {"share_with_employer": False, "refer_to_employment_adviser": False}}
    s = issued(client, tokens, **no_sharing)
    body = {**suggestion_body(**no_sharing), "version": s["version"], "functional_effects": "Tires by mid-morning."}
    amended = client.post(f"/suggestions/{s['id']}/amend", headers=tokens.header(), json=body)
    assert amended.status_code == 200, amended.get_data(as_text=True)
    for text in texts(client, tokens, s["id"], "letter"):
        assert "This letter replaces an earlier one" in text and "may be fit for work" in text
        assert "Please answer this letter" not in text and "/respond/" not in text
    for text in texts(client, tokens, s["id"], "summary"):  # the patient is told why there is no reply link
        assert "so their letter has no reply link" in text


def test_an_amended_letter_with_a_reply_link_asks_for_an_answer(client, tokens):
    s = issued(client, tokens)
    amended = client.post(f"/suggestions/{s['id']}/amend", headers=tokens.header(),
                          json={**suggestion_body(), "version": s["version"], "functional_effects": "Tires early."})
    assert amended.status_code == 200, amended.get_data(as_text=True)
    page, pdf = texts(client, tokens, s["id"], "letter")
    for text in (page, pdf):
        assert "Please answer this letter; the reply link in the earlier one no longer works." in text
    assert "/respond/" in page
