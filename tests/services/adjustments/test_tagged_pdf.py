"""The employer letter and the patient summary are tagged PDFs (towards PDF/UA-1, ISO 14289-1): a
screen reader gets the language, the title, headings, paragraphs, the changes as a list and each
week-by-week plan as a table, in reading order; page numbers are artifacts it skips. The PDFs are read
back with pypdf: the structure tree, and every page's content stream operator by operator."""

from __future__ import annotations

import io
import subprocess
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from pypdf import PdfReader
from pypdf.generic import BooleanObject, IndirectObject

from tests.services.adjustments.conftest import suggestion_body
from tests.services.adjustments.test_letters_and_employer import csrf, issued, response_link
from worklink.db import utcnow
from worklink.uktime import uk_today
from worklink_adjustments import letters
from worklink_adjustments.models import EmployerLink
from worklink_adjustments.tagged_pdf import TaggedPDF

VERAPDF = Path(__file__).resolve().parents[3] / "deploy" / "verapdf" / "verapdf.sh"
TEXT_OPERATORS = {b"Tj", b"TJ", b"'", b'"'}
TRUE = BooleanObject(True)
PAINT_OPERATORS = {b"S", b"s", b"f", b"F", b"f*", b"B", b"B*", b"b", b"b*", b"Do", b"sh"}


@dataclass
class Marked:
    """One marked-content sequence on a page: its tag, MCID (None for an artifact) and drawn text."""
    page: int
    tag: str
    mcid: int | None
    text: list[str] = field(default_factory=list)


def marked_content(reader: PdfReader) -> list[Marked]:
    """Every marked-content sequence in drawing order, with its text (pypdf decodes each font's codes);
    fails on text or painting outside one, or on nested sequences."""
    found: list[Marked] = []
    for number, page in enumerate(reader.pages):
        current: list[Marked] = []

        def operator(name: bytes, operands, *_):
            if name in (b"BDC", b"BMC"):
                assert not current, f"page {number + 1}: marked content nested in {current[-1].tag}"
                properties = operands[1] if name == b"BDC" else {}
                if isinstance(properties, IndirectObject):
                    properties = properties.get_object()
                current.append(Marked(number, str(operands[0]), properties.get("/MCID")))
                found.append(current[-1])
            elif name == b"EMC":
                current.pop()
            elif name in TEXT_OPERATORS | PAINT_OPERATORS:
                assert current, f"page {number + 1}: {name!r} {operands!r} outside marked content"

        def text(value: str, *_):
            if value.strip():
                assert current, f"page {number + 1}: {value!r} drawn outside marked content"
                current[-1].text.append(value)

        page.extract_text(visitor_operand_before=operator, visitor_text=text)
        assert not current, f"page {number + 1} ends inside marked content"
    return found


def texts_of(reader: PdfReader) -> dict[tuple[int, int], str]:
    """(page, MCID) -> the text drawn in that sequence."""
    return {(m.page, m.mcid): "".join(m.text).strip() for m in marked_content(reader) if m.mcid is not None}


@dataclass
class Element:
    kind: str
    attributes: dict
    children: list["Element"]
    content: list[tuple[int, int]]  # (page index, MCID) in order
    text: str = ""


def structure(reader: PdfReader) -> Element:
    """The structure tree from the catalog's /StructTreeRoot, each element's marked content resolved to
    its page (an MCID in /K is on the element's /Pg; a marked-content reference names its own page)."""
    pages = {page.indirect_reference.idnum: index for index, page in enumerate(reader.pages)}
    texts = texts_of(reader)

    def element(node) -> Element:
        node = node.get_object()
        kids = node.get("/K", [])
        kids = kids if isinstance(kids, list) else [kids]
        children, content = [], []
        for kid in kids:
            kid_object = kid.get_object() if isinstance(kid, IndirectObject) else kid
            if isinstance(kid_object, int):
                content.append((pages[node.raw_get("/Pg").idnum], kid_object))
            elif kid_object.get("/Type") == "/MCR":
                content.append((pages[kid_object.raw_get("/Pg").idnum], kid_object["/MCID"]))
            else:
                assert kid_object.raw_get("/P") == node.indirect_reference, "a child names its parent"
                children.append(element(kid))
        attributes = dict(node.get("/A", {}))
        found = Element(str(node["/S"]), attributes, children, content)
        found.text = " ".join(texts[c] for c in content if texts[c])
        return found

    root = reader.trailer["/Root"]["/StructTreeRoot"]
    return element(root["/K"])


def walk(element: Element):
    yield element
    for child in element.children:
        yield from walk(child)


def of_kind(tree: Element, *kinds: str) -> list[Element]:
    return [e for e in walk(tree) if e.kind in {f"/{k}" for k in kinds}]


def squeezed(text: str) -> str:
    """Text without its spaces: pypdf drops some at a line's wrap or a change of font (fallback fonts)."""
    return "".join(text.split())


def read(data: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(data))


def test_the_letters_are_tagged_pdfs_with_headings_lists_and_tables_in_reading_order(client, tokens):
    s = issued(client, tokens)
    for kind, title, headings in (
            ("letter", "Advice about Sam Patel's work",
             ["About this letter", "Assessment", "How their health affects their work", "Changes that may help",
              "The job", "Further support", "Reassessment", "Please tell us what you agreed"]),
            ("summary", "Your advice about work, Sam Patel",
             ["About you", "Assessment", "How your health affects your work", "Changes that may help",
              "What you agreed", "Further support", "What happens next"])):
        reader = read(client.get(f"/suggestions/{s['id']}/{kind}.pdf", headers=tokens.header()).data)
        catalog = reader.trailer["/Root"]
        assert catalog["/Lang"] == "en-GB" and catalog["/MarkInfo"]["/Marked"] == TRUE
        assert catalog["/ViewerPreferences"]["/DisplayDocTitle"] == TRUE
        assert b"<dc:title><rdf:Alt><rdf:li xml:lang=\"x-default\">" in catalog["/Metadata"].get_data()
        tree = structure(reader)
        assert tree.kind == "/Document"
        assert [h.text for h in of_kind(tree, "H1")] == [title]
        assert [h.text for h in of_kind(tree, "H2")] == headings, kind
        assert [e.kind for e in tree.children][:2] == ["/H1", "/H2"]  # the title first, then the sections
        changes = of_kind(tree, "L")
        assert len(changes) == 1 and changes[0].attributes["/ListNumbering"] == "/Decimal"
        items = changes[0].children
        assert [[c.kind for c in item.children] for item in items] == [["/Lbl", "/LBody"]] * 3
        assert [item.children[0].text for item in items] == ["1.", "2.", "3."]
        assert [p.text for p in items[0].children[1].children][:2] == [
            "Phased return over four weeks", "Difficulty: Tiredness by mid-afternoon"]
        table = of_kind(items[0], "Table")[0]
        assert [[(cell.kind, cell.text) for cell in row.children] for row in table.children] == [
            [("/TH", "Week"), ("/TH", "Plan")], [("/TD", "1"), ("/TD", "4 hours a day, 3 days")],
            [("/TD", "2"), ("/TD", "5 hours a day, 4 days")]]
        assert all(th.attributes["/Scope"] == "/Column" for th in of_kind(tree, "TH"))
        assert of_kind(tree, "P")[-1].text == "Dr Ada Lovelace, doctor"
        assert_reading_order(reader, tree)
        assert_parent_tree(reader, tree)


def assert_reading_order(reader: PdfReader, tree: Element) -> None:
    """The tree visits every tagged sequence once, in the order they are drawn: the reading order."""
    drawn = [(m.page, m.mcid) for m in marked_content(reader) if m.mcid is not None]
    assert [c for e in walk(tree) for c in e.content] == drawn


def assert_parent_tree(reader: PdfReader, tree: Element) -> None:
    """What a reader uses to go from text on a page to its element: each page's /StructParents entry
    lists, at each MCID, the element holding it."""
    nums = reader.trailer["/Root"]["/StructTreeRoot"]["/ParentTree"]["/Nums"]
    parents = dict(zip(nums[::2], nums[1::2]))
    by_content = {c: e for e in walk(tree) for c in e.content}
    for index, page in enumerate(reader.pages):
        elements = parents[page["/StructParents"]]
        for mcid, element in enumerate(elements):
            assert str(element.get_object()["/S"]) == by_content[(index, mcid)].kind


def test_page_numbers_are_artifacts_and_all_other_text_is_tagged(client, tokens):
    s = issued(client, tokens)
    reader = read(client.get(f"/suggestions/{s['id']}/letter.pdf", headers=tokens.header()).data)
    sequences = marked_content(reader)  # fails on text or a rule outside marked content
    artifacts = [m for m in sequences if m.tag == "/Artifact"]
    pages = len(reader.pages)
    assert ["".join(m.text).strip() for m in artifacts if m.text] == [f"Page {n} of {pages}" for n in
                                                                        range(1, pages + 1)]
    assert all(m.mcid is not None for m in sequences if m.tag != "/Artifact")
    assert "Advice about Sam Patel's work" in "".join(t for m in sequences if m.tag == "/H1" for t in m.text)


LONG = "Tires quickly and finds it hard to concentrate for long; mornings are hardest. " * 60


def two_page_letter() -> bytes:
    sections = [letters.Section("About you", ["Hello."]), letters.Section("How your health affects your work", [LONG])]
    return letters.render_pdf(letters.Letter("patient", "Your advice", False, sections, "Dr A"))


def test_a_paragraph_broken_by_a_page_goes_on_in_the_same_element():
    """The text after a page break is marked again on the next page (a marked-content reference in the
    same P), after the footer artifact: not a second paragraph, and no text left untagged."""
    reader = read(two_page_letter())
    tree = structure(reader)
    spanning = [e for e in of_kind(tree, "P") if len({page for page, _ in e.content}) > 1]
    assert len(spanning) == 1
    assert squeezed(spanning[0].text) == squeezed(LONG)
    assert_reading_order(reader, tree)
    assert_parent_tree(reader, tree)


def test_names_in_other_scripts_are_tagged_as_well(client, tokens):
    for given, family, drawn in (("Łukasz", "Nguyễn", "Łukasz Nguyễn"), ("小龍", "李", "小龍 李")):
        s = issued(client, tokens, **{"patient.given_name": given, "patient.family_name": family})
        tree = structure(read(client.get(f"/suggestions/{s['id']}/summary.pdf", headers=tokens.header()).data))
        assert [squeezed(h.text) for h in of_kind(tree, "H1")] == [squeezed(f"Your advice about work, {drawn}")]
        assert squeezed(of_kind(tree, "P")[0].text).startswith(squeezed(f"{drawn}, born 12 April 1985"))


def test_a_draft_says_so_first(client, tokens):
    created = client.post("/suggestions", json=suggestion_body(), headers=tokens.header()).get_json()
    tree = structure(read(client.get(f"/suggestions/{created['id']}/letter.pdf", headers=tokens.header()).data))
    assert [(e.kind, e.text) for e in tree.children[:2]] == [("/P", "DRAFT - not issued"),
                                                             ("/H1", "Advice about Sam Patel's work")]


def test_fpdf2_internals_the_tagging_relies_on_still_hold():
    """tagged_pdf.py writes marked content with FPDF._out, sets PDFPage.struct_parents and hands fpdf2's
    output its own `struct_builder`. An fpdf2 release that changes any of them fails here, by name."""
    pdf = TaggedPDF(format="A4")
    assert hasattr(pdf, "_out") and hasattr(pdf, "struct_builder"), "fpdf2 renamed what tagged_pdf.py uses"
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    assert hasattr(pdf.pages[1], "struct_parents"), "fpdf2's PDFPage lost struct_parents"
    with pdf.content("H1"):
        pdf.cell(0, 10, "Heading")
    reader = read(bytes(pdf.output()))
    assert reader.pages[0]["/StructParents"] == 0, "fpdf2 no longer writes the page's /StructParents"
    tree = structure(reader)  # fpdf2's output serialised our tree and set /Pg
    assert [(e.kind, e.text) for e in tree.children] == [("/H1", "Heading")]
    assert reader.trailer["/Root"]["/MarkInfo"]["/Marked"] == TRUE


def test_letters_render_without_the_web_app():
    """render_pdf's own contract (the routes above use it): a Letter in, a tagged PDF out."""
    letter = letters.Letter("patient", "Your advice", False, [letters.Section("About you", ["Hello."])], "Dr A")
    tree = structure(read(letters.render_pdf(letter)))
    assert [(e.kind, e.text) for e in tree.children] == [("/H1", "Your advice"), ("/H2", "About you"),
                                                         ("/P", "Hello."), ("/P", "Dr A")]


def test_the_pdfs_pass_verapdf_as_pdf_ua_1(client, tokens, tmp_path):
    """veraPDF (deploy/verapdf/verapdf.sh, from Maven Central) checks what they claim in their XMP
    metadata: PDF/UA-1, every font embedded, for names in every bundled script, a draft and two pages."""
    files = {"two-pages": two_page_letter()}
    draft = client.post("/suggestions", json=suggestion_body(), headers=tokens.header()).get_json()
    files["draft"] = client.get(f"/suggestions/{draft['id']}/letter.pdf", headers=tokens.header()).data
    for given, family in (("Sam", "Patel"), ("Łukasz", "Nguyễn"), ("محمد", "علي"), ("राहुल", "पटेल"), ("小龍", "李")):
        s = issued(client, tokens, **{"patient.given_name": given, "patient.family_name": family})
        for kind in ("letter", "summary"):
            files[f"{kind}-{given}"] = client.get(f"/suggestions/{s['id']}/{kind}.pdf", headers=tokens.header()).data
    paths = []
    for name, data in files.items():
        assert b"<pdfuaid:part>1</pdfuaid:part>" in data, name
        paths.append(tmp_path / f"{name}.pdf")
        paths[-1].write_bytes(data)
    checked = subprocess.run(["bash", str(VERAPDF), "-f", "ua1", "--format", "text", "-v", *map(str, paths)],
                             capture_output=True, text=True, timeout=900)
    verdicts = sorted(line for line in checked.stdout.splitlines() if line.startswith(("PASS ", "FAIL ")))
    assert verdicts == sorted(f"PASS {path}" for path in paths), checked.stdout + checked.stderr[-2000:]


def test_the_checks_catch_text_or_a_rule_outside_marked_content():
    """The reader above must be able to fail: text drawn as fpdf2 draws it untagged, and a bare rule."""
    for draw in (lambda pdf: pdf.cell(0, 10, "Untagged"), lambda pdf: pdf.line(10, 10, 100, 10)):
        pdf = TaggedPDF(format="A4")
        pdf.set_font("Helvetica", size=11)
        pdf.add_page()
        with pdf.content("P"):
            pdf.cell(0, 10, "Tagged")
        draw(pdf)
        with pytest.raises(AssertionError, match="outside marked content"):
            marked_content(read(bytes(pdf.output())))


def test_a_letter_reprinted_after_the_employers_answer_says_they_replied_instead_of_offering_the_spent_link(
        client, tokens):
    s = issued(client, tokens)
    link = response_link(client, tokens, s["id"])
    answered = client.post(link, data={"csrf_token": csrf(client, link), "responder_name": "Jo Manager",
                                       **{f"items.{i}.outcome": "agreed" for i in range(3)}})
    assert answered.status_code == 303, answered.get_data(as_text=True)  # to the answer's confirmation
    replied = f"You told us on {letters.long_date(uk_today())} which changes you agreed"
    html = client.get(f"/suggestions/{s['id']}/letter", headers=tokens.header()).get_data(as_text=True)
    assert replied in html and "/respond/" not in html and "Use the link below" not in html
    reader = read(client.get(f"/suggestions/{s['id']}/letter.pdf", headers=tokens.header()).data)
    tree = structure(reader)
    assert [h.text for h in of_kind(tree, "H2")][-2:] == ["Reassessment", "Your reply"]
    assert squeezed(replied) in squeezed(" ".join(p.text for p in of_kind(tree, "P")))
    assert "respond" not in squeezed(" ".join(e.text for e in walk(tree)))
    assert_reading_order(reader, tree)
    assert_parent_tree(reader, tree)


def test_a_letter_reprinted_after_the_link_expired_says_how_to_answer_instead_of_offering_the_dead_link(
        app, client, tokens):
    s = issued(client, tokens)
    response_link(client, tokens, s["id"])  # the letter offered the link while it worked
    expired_at = utcnow() - timedelta(minutes=1)
    with app.extensions["worklink"].database.transaction() as session:
        session.execute(sa.update(EmployerLink).values(expires_at=expired_at))
    expired = f"The link for answering online expired on {letters.long_date(uk_today(expired_at))}."
    how = "give your answer to Sam Patel to pass on to me, or contact their GP practice."
    html = client.get(f"/suggestions/{s['id']}/letter", headers=tokens.header()).get_data(as_text=True)
    assert expired in html and how in html
    assert "/respond/" not in html and "Use the link below" not in html
    reader = read(client.get(f"/suggestions/{s['id']}/letter.pdf", headers=tokens.header()).data)
    tree = structure(reader)
    assert [h.text for h in of_kind(tree, "H2")][-2:] == ["Reassessment", "Please tell us what you agreed"]
    paragraphs = squeezed(" ".join(p.text for p in of_kind(tree, "P")))
    assert squeezed(expired) in paragraphs and squeezed(how) in paragraphs
    assert "respond" not in squeezed(" ".join(e.text for e in walk(tree)))
    assert_reading_order(reader, tree)
    assert_parent_tree(reader, tree)
