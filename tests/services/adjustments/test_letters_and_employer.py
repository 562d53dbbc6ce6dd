"""Employer letter and patient summary (HTML and PDF), the single-use expiring employer link,
and the clinician seeing the employer's answer."""

from __future__ import annotations

import io
import json

import re
import uuid
import zlib
from datetime import timedelta

import sqlalchemy as sa
from pypdf import PdfReader

from worklink.db import utcnow
from worklink.events.contracts.adjustments import clinician_reference
from worklink_adjustments import services
from worklink_adjustments.domain import uk_today
from worklink_adjustments.models import PLATFORM, EmployerLink, Suggestion
from worklink_adjustments.services import Deps
from tests.services.adjustments.conftest import suggestion_body


def pdf_text(data: bytes) -> str:
    """The text drawn on a PDF's pages, read through each embedded font's ToUnicode map by pypdf;
    a line's wrap reads as one space."""
    assert data.startswith(b"%PDF-")
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages).split())


def pdf_unicode_text(data: bytes) -> str:
    """The text of a PDF drawn with embedded fonts: each font's 2-byte glyph codes read through its
    own ToUnicode map (a shaped glyph may stand for several characters; fpdf2 numbers each font's glyphs from 1, so the maps overlap). A glyph with
    no character in its font's map reads as '?'. Text blocks (BT..ET: a line, or with shaping
    one glyph run) are joined by spaces; the glyphs within one are joined as drawn."""
    objects = {}
    for number, body in re.findall(rb"(\d+) 0 obj(.*?)endobj", data, re.S):
        stream = re.search(rb"stream\r?\n(.*?)\r?\nendstream", body, re.S)
        if stream:
            try:
                body = body[:stream.start()] + zlib.decompress(stream.group(1))
            except zlib.error:
                pass
        objects[int(number)] = body.decode("latin-1")
    maps = {}
    for body in objects.values():
        for name, ref in re.findall(r"/(F\d+) (\d+) 0 R", body):
            cmap = re.search(r"/ToUnicode (\d+) 0 R", objects.get(int(ref), ""))
            if cmap:
                maps[name] = {int(code, 16): bytes.fromhex(chars).decode("utf-16-be") for code, chars in
                              re.findall(r"<([0-9A-F]{4})> <((?:[0-9A-F]{4})+)>", objects[int(cmap.group(1))])}
    blocks, font = [], {}
    for body in objects.values():
        for block in re.findall(r"BT(.*?)ET", body, re.S):
            glyphs = []
            for name, string in re.findall(r"/(F\d+) [\d.]+ Tf|\(((?:\\.|[^\\)])*)\)\s*Tj", block, re.S):
                if name:
                    font = maps.get(name, {})
                    continue
                raw = re.sub(r"\\([0-7]{1,3}|.)", _unescape, string, flags=re.S)
                glyphs += [font.get((ord(raw[i]) << 8) + ord(raw[i + 1]), "?") for i in range(0, len(raw) - 1, 2)]
            if glyphs:
                blocks.append("".join(glyphs))
    return " ".join(blocks)


def _unescape(match) -> str:
    """A PDF string escape: \\n \\r \\t \\b \\f, an octal code, or the character itself."""
    code = match.group(1)
    return chr(int(code, 8)) if code[0] in "01234567" else {"n": "\n", "r": "\r", "t": "\t", "b": "\b",
                                                           "f": "\f"}.get(code, code)


def issued(client, tokens, **overrides):
    created = client.post("/suggestions", json=suggestion_body(**overrides), headers=tokens.header()).get_json()
    response = client.post(f"/suggestions/{created['id']}/issue", json={"version": 1}, headers=tokens.header())
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def response_link(client, tokens, sid) -> str:
    html = client.get(f"/suggestions/{sid}/letter", headers=tokens.header()).get_data(as_text=True)
    found = re.search(r'href="http://localhost(/respond/[0-9a-f]{32}\.[0-9a-f]{32})"', html)
    assert found, "the letter carries the response link"
    return found.group(1)


def test_employer_letter_names_no_diagnosis_unless_disclosure_agreed(client, tokens):
    private = issued(client, tokens)
    letter = client.get(f"/suggestions/{private['id']}/letter", headers=tokens.header())
    html = letter.get_data(as_text=True)
    assert letter.status_code == 200 and letter.mimetype == "text/html"
    assert "Depression" not in html and "9434765919" not in html
    assert not re.search(r"\b(?:1985|12 April|12/04)\b", html)  # no birth date ("1985" alone may be in a link's hex)
    assert "Advice about Sam Patel&#39;s work" in html and "Phased return over four weeks" in html
    assert "Week 1" in html or "<td class=\"nhsuk-table__cell\">1</td>" in html
    assert "Access to Work" in html and "not binding" in html
    pdf = client.get(f"/suggestions/{private['id']}/letter.pdf", headers=tokens.header())
    assert pdf.mimetype == "application/pdf"
    text = pdf_text(pdf.data)
    assert "Advice about Sam Patel's work" in text and "Quieter workspace" in text
    assert "Depression" not in text and "9434765919" not in text

    shared = issued(client, tokens, conditions=[{"text": "Depression", "disclose": True},
                                                {"text": "Back pain", "disclose": False}])
    html = client.get(f"/suggestions/{shared['id']}/letter", headers=tokens.header()).get_data(as_text=True)
    assert "Depression" in html and "Back pain" not in html
    assert "Depression" in pdf_text(client.get(f"/suggestions/{shared['id']}/letter.pdf", headers=tokens.header()).data)


def test_a_condition_marked_to_disclose_is_not_named_without_the_consent_to_share(client, tokens):
    """Disclosure needs both the condition's flag and the patient's consent to share with their employer: a
    condition ticked to disclose, on a suggestion the patient did not agree to share, is in neither letter."""
    s = issued(client, tokens, conditions=[{"text": "Depression", "disclose": True}],
               **{"consent.share_with_employer": False})
    html = client.get(f"/suggestions/{s['id']}/letter", headers=tokens.header()).get_data(as_text=True)
    pdf = pdf_text(client.get(f"/suggestions/{s['id']}/letter.pdf", headers=tokens.header()).data)
    assert "Advice about Sam Patel" in html and "Advice about Sam Patel's work" in pdf
    assert "Depression" not in html and "Depression" not in pdf
    summary = client.get(f"/suggestions/{s['id']}/summary", headers=tokens.header()).get_data(as_text=True)
    assert "Your employer letter does not name your condition." in summary


def test_patient_summary_and_draft_preview(client, tokens):
    s = issued(client, tokens)
    summary = client.get(f"/suggestions/{s['id']}/summary", headers=tokens.header()).get_data(as_text=True)
    assert "943 476 5919" in summary and "Depression" in summary
    assert "Your employer letter does not name your condition." in summary
    text = pdf_text(client.get(f"/suggestions/{s['id']}/summary.pdf", headers=tokens.header()).data)
    assert "943 476 5919" in text
    draft = client.post("/suggestions", json=suggestion_body(), headers=tokens.header()).get_json()
    preview = client.get(f"/suggestions/{draft['id']}/letter", headers=tokens.header()).get_data(as_text=True)
    assert "Draft" in preview and "/respond/" not in preview
    assert "DRAFT" in pdf_text(client.get(f"/suggestions/{draft['id']}/letter.pdf", headers=tokens.header()).data)


def test_no_response_link_without_consent_to_share(client, tokens):
    s = issued(client, tokens, **{"consent.share_with_employer": False})
    html = client.get(f"/suggestions/{s['id']}/letter", headers=tokens.header()).get_data(as_text=True)
    assert "/respond/" not in html


def test_no_response_link_when_there_is_nothing_to_answer(client, tokens):
    # The employer answers recommendations one by one; a 'not fit' note has none, so no link it could never use.
    s = issued(client, tokens, decision="not_fit", categories=[], recommendations=[])
    html = client.get(f"/suggestions/{s['id']}/letter", headers=tokens.header()).get_data(as_text=True)
    assert "not fit for work" in html and "/respond/" not in html
    with_rows = issued(client, tokens)
    assert "/respond/" in client.get(f"/suggestions/{with_rows['id']}/letter", headers=tokens.header()).get_data(
        as_text=True)


def csrf(client, path) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    return page.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]


def test_employer_link_is_single_use_and_the_clinician_sees_the_answer(app, client, tokens):
    s = issued(client, tokens)
    link = response_link(client, tokens, s["id"])
    form = client.get(link).get_data(as_text=True)
    assert "Phased return over four weeks" in form and "Depression" not in form
    token = csrf(client, link)
    incomplete = client.post(link, data={"csrf_token": token, "items.0.outcome": "agreed",
                                         "items.1.outcome": "not_possible", "items.2.outcome": "agreed",
                                         "responder_name": "Jo Manager"})
    assert incomplete.status_code == 422 and "Say why" in incomplete.get_data(as_text=True)
    done = client.post(link, data={"csrf_token": token, "items.0.outcome": "agreed",
                                   "items.1.outcome": "not_possible", "items.1.reason": "Open-plan floor only",
                                   "items.2.outcome": "agreed", "responder_name": "Jo Manager",
                                   "responder_role": "Shift manager"})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"{link}/sent")  # post, redirect, get
    assert "Answer sent" in client.get(done.headers["Location"]).get_data(as_text=True)
    again = client.get(link)
    assert again.status_code == 410 and "already been recorded" in again.get_data(as_text=True)
    assert client.post(link, data={"csrf_token": token, "responder_name": "X"}).status_code == 410

    seen = client.get(f"/suggestions/{s['id']}", headers=tokens.header()).get_json()["employer_response"]
    assert seen["outcome"] == "partially_agreed" and seen["responder_name"] == "Jo Manager"
    assert [i["outcome"] for i in seen["items"]] == ["agreed", "not_possible", "agreed"]
    assert seen["items"][1]["reason"] == "Open-plan floor only"
    listing = client.get("/suggestions", headers=tokens.header()).get_json()
    assert listing["items"][0]["employer_outcome"] == "partially_agreed"
    with app.extensions["worklink"].database.engine.connect() as conn:
        actors = conn.execute(sa.select(PLATFORM.audit_log.c.actor_role, PLATFORM.audit_log.c.purpose)
                              .where(PLATFORM.audit_log.c.actor_role == "employer")).all()
    # The form was shown three times (two visits, and again with the missing reason), then answered and confirmed.
    assert sorted(actors) == [("employer", "employer_response")] + [("employer", "employer_response_form")] * 3 + [
        ("employer", "employer_response_sent")]
    with app.extensions["worklink"].database.engine.connect() as conn:
        staged = conn.execute(sa.select(PLATFORM.outbox.c.payload).where(
            PLATFORM.outbox.c.type == "adjustments.employer_response.recorded")).scalars().all()
    answer = json.loads(staged[-1])["data"]
    # The clinician who advised hears the answer (notifications routes on clinician_id, a pseudonymous
    # reference of their user id); no reasons text.
    assert answer["clinician_id"] == clinician_reference("dr-ada", app.config["CLINICIAN_REFERENCE_KEY"])
    assert answer["outcome"] == "partially_agreed" and "dr-ada" not in staged[-1]
    assert "Open-plan" not in staged[-1]


def test_employer_link_expires_and_dies_with_withdrawal(app, client, tokens):
    s = issued(client, tokens)
    link = response_link(client, tokens, s["id"])
    with app.extensions["worklink"].database.transaction() as session:
        session.execute(sa.update(EmployerLink).values(expires_at=utcnow() - timedelta(minutes=1)))
    expired = client.get(link)
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)

    other = issued(client, tokens)
    other_link = response_link(client, tokens, other["id"])
    assert client.get(other_link).status_code == 200
    client.post(f"/suggestions/{other['id']}/withdraw", json={"version": 2, "reason": "issued_in_error"},
                headers=tokens.header())
    assert client.get(other_link).status_code == 410
    forged = other_link[:-4] + ("0000" if not other_link.endswith("0000") else "1111")
    assert client.get(forged).status_code == 404
    assert client.get("/respond/not-a-token").status_code == 404


def test_a_rule_broken_at_issue_is_shown_on_the_page_not_put_in_its_address(app, client, tokens):
    # A draft written before a rule tightened: its wording now names the private condition.
    draft = client.post("/suggestions", json=suggestion_body(), headers=tokens.header()).get_json()
    from worklink_adjustments.models import Suggestion
    with app.extensions["worklink"].database.transaction() as session:
        session.execute(sa.update(Suggestion).values(functional_effects="Her depression means she tires quickly."))
    review = f"/review/{draft['id']}"
    page = client.get(review, headers=tokens.header()).get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    refused = client.post(f"{review}/issue", data={"csrf_token": token, "version": "1"}, headers=tokens.header())
    assert refused.status_code == 422 and "Location" not in refused.headers
    assert "has not agreed to disclose" in refused.get_data(as_text=True)
    assert client.get(f"/suggestions/{draft['id']}", headers=tokens.header()).get_json()["status"] == "draft"


def test_a_name_beyond_latin_1_prints_as_written_in_the_pdfs(client, tokens):
    s = issued(client, tokens, **{"patient.given_name": "Łukasz", "patient.family_name": "Nguyễn"})
    letter = client.get(f"/suggestions/{s['id']}/letter.pdf", headers=tokens.header()).data
    assert b"DejaVu" in letter  # the embedded font (the built-in Helvetica would print '?ukasz Nguy?n')
    assert "Advice about Łukasz Nguyễn's work" in pdf_unicode_text(letter)
    summary = client.get(f"/suggestions/{s['id']}/summary.pdf", headers=tokens.header()).data
    assert "Łukasz Nguyễn, born 12 April 1985" in pdf_unicode_text(summary)
    # Latin-1 letters embed it too (PDF/UA-1 wants every font embedded; the built-in Helvetica is not).
    plain = issued(client, tokens)
    assert b"/FontFile2" in client.get(f"/suggestions/{plain['id']}/letter.pdf", headers=tokens.header()).data
    assert b"/Helvetica" not in client.get(f"/suggestions/{plain['id']}/letter.pdf", headers=tokens.header()).data


def test_a_program_fetching_a_letter_gets_problems_not_pages(client, tokens):
    """The print views and PDFs are page routes a program may fetch too: asked with problem+json
    acceptable, errors come back as problems (a browser still gets the HTML page and sign-in)."""
    s = issued(client, tokens)
    wants = {"Accept": "application/pdf, application/problem+json"}
    pdf = client.get(f"/suggestions/{s['id']}/letter.pdf", headers={**tokens.header(), **wants})
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    other = tokens.header(org="9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f", subject="dr-other")
    for path in ("letter.pdf", "summary.pdf", "letter", "summary"):
        refused = client.get(f"/suggestions/{s['id']}/{path}", headers={**other, **wants})
        assert refused.status_code == 404 and refused.mimetype == "application/problem+json", path
    anonymous = client.get(f"/suggestions/{s['id']}/letter.pdf", headers={"Accept": "application/problem+json"})
    assert anonymous.status_code == 401 and anonymous.mimetype == "application/problem+json"
    adviser = client.get(f"/suggestions/{s['id']}/letter", headers={**tokens.header(role="adviser"), **wants})
    assert adviser.status_code == 403 and adviser.mimetype == "application/problem+json"
    # A browser: the sign-in page and HTML errors, as before
    assert client.get(f"/suggestions/{s['id']}/letter.pdf", headers={"Accept": "text/html"}).status_code == 302
    assert client.get(f"/suggestions/{s['id']}/letter", headers=other).mimetype == "text/html"
    paths = client.get("/openapi.json").get_json()["paths"]
    responses = paths["/suggestions/{suggestion_id}/letter.pdf"]["get"]["responses"]
    assert {"302", "401", "403", "404"} <= set(responses)
    # ... and says what an error is to a client not asking for problems: a page (as it got, above).
    assert set(responses["404"]["content"]) == {"application/problem+json", "text/html"}


def test_names_in_other_scripts_print_in_the_pdfs_with_a_font_that_has_them(client, tokens):
    """Chinese, Devanagari and Arabic names get the bundled font for their script: drawn with real
    glyphs (DejaVu Sans alone would leave blanks where 李 is), Arabic shaped right to left."""
    for given, family, font in (("小龍", "李", b"DroidSansFallback"), ("राहुल", "पटेल", b"NotoSansDevanagari"),
                                ("محمد", "علي", b"DejaVu")):
        s = issued(client, tokens, **{"patient.given_name": given, "patient.family_name": family})
        for kind in ("letter", "summary"):
            pdf = client.get(f"/suggestions/{s['id']}/{kind}.pdf", headers=tokens.header())
            assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and font in pdf.data
            text = pdf_unicode_text(pdf.data)
            if given == "محمد":  # drawn in visual order, right to left
                assert "".join(reversed(f"{given} {family}")) in text
            else:
                assert f"{given} {family}" in text


def test_a_pdf_that_would_print_blanks_is_refused_with_the_print_view_offered(client, tokens):
    s = issued(client, tokens, **{"patient.given_name": "ᠪᠠᠲᠤ", "patient.family_name": "Smith"})  # Mongolian
    wants = {"Accept": "application/pdf, application/problem+json"}
    refused = client.get(f"/suggestions/{s['id']}/letter.pdf", headers={**tokens.header(), **wants})
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    assert refused.get_json()["type"].endswith("/unprintable-characters")
    assert "print view" in refused.get_json()["detail"]
    page = client.get(f"/suggestions/{s['id']}/letter.pdf", headers=tokens.header())
    assert page.status_code == 422 and "print view" in page.get_data(as_text=True)
    view = client.get(f"/suggestions/{s['id']}/letter", headers=tokens.header())
    assert view.status_code == 200 and "ᠪᠠᠲᠤ Smith" in view.get_data(as_text=True)


def test_no_page_or_pdf_title_names_the_patient(client, tokens):
    """Titles are what browser history, tab strips and PDF viewers keep after sign-out (privacy audit 2, #6):
    the review page is titled by its assessment date and reference, the printed documents neutrally; the name stays in the page."""
    s = issued(client, tokens)
    h = tokens.header()
    titles = {}
    for path in (f"/review/{s['id']}", f"/suggestions/{s['id']}/letter", f"/suggestions/{s['id']}/summary"):
        html = client.get(path, headers=h).get_data(as_text=True)
        titles[path] = re.search(r"<title>(.*?)</title>", html, re.S).group(1).strip()
        assert "Sam Patel" in html.replace("&#39;", "'")  # still on the page itself
    assert not any("Sam" in t or "Patel" in t for t in titles.values()), titles
    assert re.match(rf"Suggestion from the assessment on \d+ \w+ \d{{4}} \(Issued\), reference {s['id'][:8].upper()} ",
                    titles[f"/review/{s['id']}"]), titles
    for kind, title in (("letter", "Advice about work: letter for the employer"), ("summary", "Your advice about work")):
        data = client.get(f"/suggestions/{s['id']}/{kind}.pdf", headers=h).data
        assert f"/Title ({title})".encode() in data
        assert b"Patel" not in re.sub(rb"stream\r?\n.*?\r?\nendstream", b"", data, flags=re.S)  # nor any metadata


def test_each_why_box_on_the_employers_page_names_its_change(client, tokens):
    """Pages audit 2, #9: every reason box was labelled "Why (needed if not fully agreed)"."""
    s = issued(client, tokens)
    html = client.get(response_link(client, tokens, s["id"])).get_data(as_text=True).replace("&#39;", "'")
    labels = [re.sub(r"\s+", " ", label).strip() for label in
              re.findall(r'<label class="nhsuk-label" for="items-\d+-reason">(.*?)</label>', html, re.S)]
    assert labels == [f"Why '{n}. {title}' could not be agreed in full (needed unless agreed)" for n, title in (
        (1, "Phased return over four weeks"), (2, "Quieter workspace"), (3, "Recommended change"))]


def test_the_patient_summary_speaks_to_the_patient(client, tokens):
    """Pages audit 2, #11: the patient's own summary said "How their health affects their work" and
    "The employee applies", as the employer letter does."""
    h = tokens.header()
    s = issued(client, tokens)
    html = client.get(f"/suggestions/{s['id']}/summary", headers=h).get_data(as_text=True)
    pdf = pdf_text(client.get(f"/suggestions/{s['id']}/summary.pdf", headers=h).data)
    for text in (html, pdf):
        assert "How your health affects your work" in text and "You can apply at gov.uk/access-to-work." in text
        assert "You may be fit for work from" in text
        assert "their" not in text and "The employee" not in text
    letter = client.get(f"/suggestions/{s['id']}/letter", headers=h).get_data(as_text=True)
    assert "How their health affects their work" in letter and "The employee applies at gov.uk" in letter
    not_fit = issued(client, tokens, decision="not_fit", categories=[], recommendations=[])
    assert "You are not fit for work from" in client.get(f"/suggestions/{not_fit['id']}/summary",
                                                         headers=h).get_data(as_text=True)


def test_the_pdfs_declare_their_language_and_have_an_outline_of_their_sections(client, tokens):
    """Pages audit 2, #12: no /Lang, no outline. (The tagging is tested in test_tagged_pdf.py.)"""
    s = issued(client, tokens)
    for kind, first, last in (("letter", "About this letter", "Reassessment"),
                              ("summary", "About you", "What happens next")):
        data = client.get(f"/suggestions/{s['id']}/{kind}.pdf", headers=tokens.header()).data
        assert b"/Lang (en-GB)" in data and b"/Outlines" in data
        assert f"/Title ({first})".encode() in data and f"/Title ({last})".encode() in data


def test_the_link_dies_when_the_period_ends_before_the_sweep_marks_it_expired(app, client, tokens):
    """The hourly sweep expires ended advice; until it ran, the link took an answer to advice already over."""
    s = issued(client, tokens)
    link = response_link(client, tokens, s["id"])
    with app.extensions["worklink"].database.transaction() as session:
        session.execute(sa.update(Suggestion).where(Suggestion.id == uuid.UUID(s["id"])).values(
            period_start=uk_today() - timedelta(days=20), period_end=uk_today() - timedelta(days=1)))
    for gone in (client.get(link), client.get("/employer-links/" + link.rsplit("/", 1)[1])):
        assert gone.status_code == 410 and "no longer current" in gone.get_data(as_text=True)
    letter = client.get(f"/suggestions/{s['id']}/letter", headers=tokens.header()).get_data(as_text=True)
    assert "/respond/" not in letter  # a reprint offers no link that would refuse the answer
    with app.extensions["worklink"].database.transaction() as session:
        session.execute(sa.update(Suggestion).where(Suggestion.id == uuid.UUID(s["id"]))
                        .values(period_end=uk_today()))  # its last day: still current
    assert client.get(link).status_code == 200


def test_no_answer_is_taken_through_a_link_the_patient_did_not_agree_to(app, client, tokens):
    """Without consent to share, the letter prints no link, but its round's link opened all the same: whoever had
    its token saw the advice and could send an answer about the patient."""
    s = issued(client, tokens, **{"consent.share_with_employer": False})
    with app.extensions["worklink"].database.transaction() as session:
        token = services.link_for(session, Deps(None, None, person_key="k" * 32,
                                                link_secret=app.config["EMPLOYER_LINK_SECRET"]),
                                  session.get(Suggestion, uuid.UUID(s["id"])))
    assert token, "a link round is still opened (it counts the issues)"
    assert client.get(f"/respond/{token}").status_code == 404
    assert client.get(f"/employer-links/{token}").status_code == 404
    refused = client.post(f"/employer-links/{token}/response", json={
        "items": [{"index": i, "outcome": "agreed"} for i in range(3)], "responder_name": "Jo Manager"})
    assert refused.status_code == 404


def test_the_pdfs_metadata_outline_and_file_names_name_no_patient_or_condition(client, tokens):
    """What a PDF says about itself outside its pages - the Info dictionary (title, subject, keywords, author), the
    XMP metadata, the outline and the file name - is what viewers, file lists and search indexes show: none names the
    patient, their NHS number or any condition, disclosed or not. Holds; only the /Title and the Info dictionary
    outside streams were checked."""
    s = issued(client, tokens, conditions=[{"text": "Depression", "condition_id": "depression", "disclose": True},
                                           {"text": "Crohn's disease", "disclose": False}])
    for kind in ("letter", "summary"):
        response = client.get(f"/suggestions/{s['id']}/{kind}.pdf", headers=tokens.header())
        reader = PdfReader(io.BytesIO(response.data))
        about = [str(value) for value in (reader.metadata or {}).values()]
        about += [reader.xmp_metadata.stream.get_data().decode()] if reader.xmp_metadata else []
        about += [item.title for item in reader.outline if not isinstance(item, list)]
        about += [response.headers["Content-Disposition"]]
        said = " ".join(about)
        assert "Advice about work" in said or "Your advice about work" in said
        assert not re.search(r"Sam|Patel|9434765919|943 476 5919|Depression|Crohn", said, re.I), (kind, said)
    letter = pdf_text(client.get(f"/suggestions/{s['id']}/letter.pdf", headers=tokens.header()).data)
    assert "Depression" in letter and "Crohn" not in letter  # the disclosed one is in the letter itself


def test_a_replaced_suggestions_link_is_gone_and_says_no_more_than_that(client, tokens):
    """Superseding ends the older advice's link (410, reason superseded), and the refusal names no one and
    nothing of the advice. Holds today; withdrawal, expiry and amendment were tested, replacement was not."""
    old = issued(client, tokens)
    link = response_link(client, tokens, old["id"])
    newer = client.post("/suggestions", json=suggestion_body(supersedes_id=old["id"]), headers=tokens.header())
    assert client.post(f"/suggestions/{newer.get_json()['id']}/issue", json={"version": 1},
                       headers=tokens.header()).status_code == 200
    page, api = client.get(link), client.get("/employer-links/" + link.rsplit("/", 1)[1])
    assert page.status_code == api.status_code == 410
    assert api.mimetype == "application/problem+json" and api.get_json()["reason"] == "superseded"
    for gone in (page, api):
        assert not re.search(r"Sam|Patel|Depression|Quieter|Dr Ada", gone.get_data(as_text=True)), gone.get_data(
            as_text=True)
    answer = {"items": [{"index": i, "outcome": "agreed"} for i in range(3)], "responder_name": "Jo Manager"}
    assert client.post("/employer-links/" + link.rsplit("/", 1)[1] + "/response", json=answer).status_code == 410
