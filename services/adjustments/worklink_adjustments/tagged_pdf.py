"""Tagged PDF (ISO 32000-1 14.7-14.8, as PDF/UA-1 asks) drawn with fpdf2, which has no public API for it.

fpdf2 2.8 tags only images and links, each a child of one /Document element. `TaggedPDF` gives it a
nested structure tree: text is drawn inside `content(kind)` (a structure element whose marked content
is closed at a page break and reopened on the next page) or `artifact()` (page furniture), and grouped
with `group(kind)` (a list, a table). This module is the only place that uses fpdf2's internals:
`FPDF._out` (content stream operators), `PDFPage.struct_parents` and the `FPDF.struct_builder` that
fpdf2's output serialises (its root first, then every object; it sets /Pg on `doc_struct_elem.k`).
tests/services/adjustments/test_tagged_pdf.py breaks on an fpdf2 that changes them; pyproject.toml pins
the range.
"""

from __future__ import annotations

from contextlib import contextmanager
from html import escape
from typing import Iterator

from fpdf import FPDF
from fpdf.syntax import Name, PDFArray, PDFObject, Raw


class StructElem(PDFObject):
    """A structure element: its standard type (H1, P, L, TH...), parent, children and the page its
    marked content starts on."""

    def __init__(self, kind: str, parent: PDFObject, attributes: str | None = None):
        super().__init__()
        self.type = Name("StructElem")
        self.s = Name(kind)
        self.p = parent
        self.k = PDFArray()  # child elements, or the marked-content ids (MCIDs) of its text
        self.pg: PDFObject | None = None
        self.a = Raw(attributes) if attributes else None  # e.g. a table header's /Scope
        self._page_number = 1

    def page_number(self) -> int:  # read by fpdf2's output to set /Pg
        return self._page_number


class MarkedContentReference:
    """Marked content of an element on a page other than its /Pg: the rest of a paragraph after a page break."""

    def __init__(self, page: PDFObject, mcid: int):
        self.page, self.mcid = page, mcid

    def serialize(self, **_) -> str:
        return f"<</Type /MCR /Pg {self.page.ref} /MCID {self.mcid}>>"


class ParentTree(PDFObject):
    """The number tree from each page's /StructParents to its MCIDs' elements, in MCID order."""

    def __init__(self):
        super().__init__()
        self.parents: dict[int, list[StructElem]] = {}

    def serialize(self, obj_dict=None, _security_handler=None) -> str:
        nums = " ".join(f"{key} [{' '.join(e.ref for e in elements)}]" for key, elements in self.parents.items())
        return super().serialize({"/Nums": f"[{nums}]"})


class StructTreeRoot(PDFObject):
    def __init__(self, parent_tree: ParentTree):
        super().__init__()
        self.type = Name("StructTreeRoot")
        self.k: StructElem | None = None
        self.parent_tree = parent_tree
        self._pages = 0

    @property
    def parent_tree_next_key(self) -> int:
        return self._pages


class StructureTree:
    """Stands in for fpdf2's StructureTreeBuilder as `FPDF.struct_builder`."""

    def __init__(self):
        self.parent_tree = ParentTree()
        self.struct_tree_root = StructTreeRoot(self.parent_tree)
        self.doc_struct_elem = StructElem("Document", self.struct_tree_root)
        self.struct_tree_root.k = self.doc_struct_elem
        self.elements = [self.doc_struct_elem]

    def empty(self) -> bool:
        return False

    def __iter__(self) -> Iterator[PDFObject]:
        yield self.struct_tree_root
        yield self.parent_tree
        yield from self.elements

    def add_marked_content(self, *args, **kwargs):
        raise NotImplementedError("fpdf2's own tagging (an image, a link) is not wired into TaggedPDF's tree")


class TaggedPDF(FPDF):
    """An FPDF whose every piece of drawn text belongs to a structure element or an artifact."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.struct_builder = self.tree = StructureTree()
        self._open: list[StructElem] = [self.tree.doc_struct_elem]
        self._marking: StructElem | None = None  # its marked content is open on this page
        self._interrupted: StructElem | None = None  # closed by a page break, reopened on the next page

    @contextmanager
    def group(self, kind: str, attributes: str | None = None) -> Iterator[StructElem]:
        """An element that holds elements only (L, LI, LBody, Table, TR)."""
        element = self._element(kind, attributes)
        self._open.append(element)
        try:
            yield element
        finally:
            self._open.pop()

    @contextmanager
    def content(self, kind: str, attributes: str | None = None) -> Iterator[StructElem]:
        """An element whose text is drawn inside the block (H1, P, Lbl, TH, TD)."""
        if self._marking:
            raise ValueError(f"/{kind} inside /{self._marking.s}: content elements do not nest")
        element = self._element(kind, attributes)
        self._begin_marked(element)
        try:
            yield element
        finally:
            self._end_marked()

    @contextmanager
    def artifact(self, kind: str = "Layout", subtype: str | None = None) -> Iterator[None]:
        """Drawing that is no part of the content (page numbers, rules): screen readers skip it."""
        attributes = f"/Type /{kind}" + (f" /Subtype /{subtype}" if subtype else "")
        self._out(f"/Artifact <<{attributes}>> BDC")
        try:
            yield
        finally:
            self._out("EMC")

    def footer(self) -> None:
        self._interrupted = self._marking
        if self._marking:
            self._end_marked()
        with self.artifact("Pagination", "Footer"), self.local_context():  # the paragraph goes on as it was
            self.page_footer()

    def header(self) -> None:
        self.tree.struct_tree_root._pages = self.page
        if self._interrupted:
            self._begin_marked(self._interrupted)
            self._interrupted = None

    def page_footer(self) -> None:
        """Draws each page's footer (an artifact); nothing unless a subclass says."""

    def _element(self, kind: str, attributes: str | None) -> StructElem:
        parent = self._open[-1]
        element = StructElem(kind, parent, attributes)
        element._page_number = self.page
        element.pg = self.pages[self.page]
        parent.k.append(element)
        self.tree.elements.append(element)
        return element

    def _begin_marked(self, element: StructElem) -> None:
        page = self.pages[self.page]
        page.struct_parents = key = self.page - 1
        parents = self.tree.parent_tree.parents.setdefault(key, [])
        mcid = len(parents)
        parents.append(element)
        element.k.append(mcid if page is element.pg else MarkedContentReference(page, mcid))
        self._out(f"/{element.s} <</MCID {mcid}>> BDC")
        self._marking = element

    def _end_marked(self) -> None:
        self._out("EMC")
        self._marking = None


def xmp_metadata(title: str, lang: str) -> str:
    """The document's XMP metadata (`FPDF.set_xmp_metadata`): its title, its language and the claim
    that it conforms to PDF/UA-1 (pdfuaid:part), which veraPDF checks in the tests."""
    return f"""<x:xmpmeta xmlns:x="adobe:ns:meta/">
  <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
    <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
        xmlns:pdfuaid="http://www.aiim.org/pdfua/ns/id/">
      <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{escape(title)}</rdf:li></rdf:Alt></dc:title>
      <dc:language><rdf:Bag><rdf:li>{escape(lang)}</rdf:li></rdf:Bag></dc:language>
      <pdfuaid:part>1</pdfuaid:part>
    </rdf:Description>
  </rdf:RDF>
</x:xmpmeta>"""
