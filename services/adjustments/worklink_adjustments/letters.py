"""The employer letter and the patient summary: one plain-English content model, two renderings
(an HTML print view from a template, and a PDF drawn with fpdf2).

The employer letter names no diagnosis unless the patient agreed both to share with their
employer and to disclose that condition; it never shows the NHS number or date of birth.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from fontTools.ttLib import TTFont
from fpdf import FPDF, ViewerPreferences
from fpdf.enums import XPos, YPos

from worklink.uktime import uk_time
from worklink_adjustments.domain import uk_today
from worklink_adjustments.tagged_pdf import TaggedPDF, xmp_metadata

CATEGORY_LABELS = {"phased_return": "a phased return to work", "altered_hours": "altered hours",
                   "amended_duties": "amended duties", "workplace_adaptations": "workplace adaptations"}
PROFESSION_LABELS = {"doctor": "doctor", "nurse": "nurse", "occupational_therapist": "occupational therapist",
                     "pharmacist": "pharmacist", "physiotherapist": "physiotherapist"}
METHOD_LABELS = {"face_to_face": "a face-to-face consultation", "telephone": "a telephone consultation",
                 "video": "a video consultation", "written_report": "a written report"}


def long_date(day: date | None) -> str:
    return f"{day.day} {day:%B %Y}" if day else ""


@dataclass
class Section:
    heading: str
    paragraphs: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)  # recommendations


@dataclass
class Letter:
    kind: str  # employer | patient
    title: str
    draft: bool
    sections: list[Section]
    signature: str
    response_url: str | None = None
    # What browser history, tabs and PDF viewers show: names no one (the name is in `title`, the heading).
    document_title: str = "Advice about work"
    void: str | None = None  # a withdrawn or replaced suggestion's, shown on its review page only: why it is void


def _period(s: dict[str, Any]) -> str:
    start, end = s["period"]["start"], s["period"]["end"]
    if end is None:
        return f"from {long_date(start)}, with no fixed end date"
    return f"from {long_date(start)} to {long_date(end)}"


def disclosed_conditions(s: dict[str, Any]) -> list[str]:
    if not s["consent"]["share_with_employer"]:
        return []
    return [c["text"] for c in s["conditions"] if c.get("disclose")]


def _recommendation_rows(s: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"number": i + 1, "difficulty": r.get("difficulty") or "",
             "title": r.get("title") or "Recommended change",
             "advice": " ".join(t for t in (r.get("employer_text"), r.get("free_text")) if t),
             "schedule": r.get("schedule") or []} for i, r in enumerate(s["recommendations"])]


def _advice_sections(s: dict[str, Any], name: str, to_patient: bool = False) -> list[Section]:
    """The advice, about the patient to the employer, or to the patient in the second person."""
    who, be = ("You", "are") if to_patient else (name, "is")
    sections = []
    if s["decision"] == "not_fit":
        sections.append(Section("Assessment", [
            f"{who} {be} not fit for work {_period(s)}.",
            "There is no advice about changes at work during this period."]))
        return sections
    categories = [CATEGORY_LABELS[c] for c in s["categories"]]
    summary = f"{who} may be fit for work {_period(s)}, taking account of the advice below."
    if categories:
        summary += " The advice covers " + _join(categories) + "."
    sections.append(Section("Assessment", [summary]))
    if s["functional_effects"].strip():
        heading = "How your health affects your work" if to_patient else "How their health affects their work"
        sections.append(Section(heading, [s["functional_effects"].strip()]))
    if s["recommendations"]:
        sections.append(Section("Changes that may help", rows=_recommendation_rows(s)))
    return sections


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _referral_consent(s: dict) -> str:
    if s["consent"]["refer_to_employment_adviser"]:
        return "You agreed to be referred to an employment adviser; they will contact you."
    if s.get("referrals"):  # asked for, then the consent was withdrawn
        return ("You withdrew your agreement to be referred to an employment adviser, so the referral has been "
                "stopped and nothing more about you is shared with them.")
    return "You have not asked to be referred to an employment adviser."


def _signposting(s: dict[str, Any], to_patient: bool = False) -> list[str]:
    notes = []
    if s["signposting"]["occupational_health"]:
        notes.append("An occupational health assessment could give more detailed advice about the job.")
    if s["signposting"]["access_to_work"]:
        notes.append("Access to Work (from the Department for Work and Pensions) may pay for support beyond the "
                     "reasonable adjustments an employer makes, such as equipment, a support worker or help with "
                     "travel. " + ("You can apply at gov.uk/access-to-work." if to_patient else
                                   "The employee applies at gov.uk/access-to-work."))
    return notes


def _reassessment(s: dict[str, Any]) -> str:
    if s["reassessment_needed"]:
        return "I will need to assess their fitness for work again at the end of this period" + (
            f" (by {long_date(s['review_date'])})." if s["review_date"] else ".")
    return "I will not need to assess their fitness for work again at the end of this period."


def _signature(s: dict[str, Any]) -> str:
    issuer = s["issuer"]
    return f"{issuer['name']}, {PROFESSION_LABELS.get(issuer['profession'], issuer['profession'])}"


def employer_letter(s: dict[str, Any], response_url: str | None) -> Letter:
    name = f"{s['patient']['given_name']} {s['patient']['family_name']}"
    assessed = f"I assessed {name} on {long_date(s['assessment']['date'])} by {METHOD_LABELS[s['assessment']['method']]}."
    # A 'not fit' fit note gives the employer no advice about work (gov.uk fit note guidance: advice, and
    # the suggestion of an occupational health assessment, go with 'may be fit'), so its letter carries
    # none: no changes to consider, no job the advice was written for, no signposting for the employer.
    advice = s["decision"] != "not_fit"
    sections = [Section("About this letter", [assessed] + ([
        "This letter gives advice about work. The advice is not binding. If you cannot make the changes, please "
        "explain why to your employee; they should then be treated as not fit for work, and no new note is needed.",
    ] if advice else []))]
    share = s["consent"]["share_with_employer"]
    # Nothing to answer (a 'not fit' decision, or advice without recommendations), or answered: no reply link.
    # Nor once the period has ended (the link refuses answers to ended advice, before the sweep marks it expired).
    ended = s["period"]["end"] is not None and s["period"]["end"] < uk_today()
    answerable = share and s["status"] in ("issued", "amended") and s["recommendations"] and not ended
    if s["status"] == "amended":  # asked to answer only where this letter has a way to (a reply link)
        sections[0].paragraphs.append(
            "This letter replaces an earlier one: I amended my advice on "
            f"{long_date(uk_today(s.get('issued_this_time_at') or s['updated_at']))}."
            + (" Please answer this letter; the reply link in the earlier one no longer works."
               if answerable and response_url else ""))
    conditions = disclosed_conditions(s)
    if conditions:
        sections.append(Section("Condition", [f"{name} has agreed that I tell you about: {_join(conditions)}."]))
    sections += _advice_sections(s, name)
    job = s.get("job") or {}
    if advice and job.get("title"):
        sections.append(Section("The job", [f"This advice was written with their work as {as_occupation(job['title'])} "
                                            "in mind."]))
    if advice and (notes := _signposting(s)):
        sections.append(Section("Further support", notes))
    sections.append(Section("Reassessment", [_reassessment(s)]))
    answered = s.get("employer_response")  # the answer to this version: its single-use link is spent
    link = response_url if answerable else None
    if link and answered:
        link = None
        sections.append(Section("Your reply", [
            f"You told us on {long_date(uk_today(answered['recorded_at']))} which changes you agreed, partly "
            "agreed or could not make. Thank you: there is nothing more to send."]))
    if link and _expired(s.get("employer_link_expires_at")):
        link = None
        sections.append(Section("Please tell us what you agreed", [
            f"The link for answering online expired on {long_date(uk_today(s['employer_link_expires_at']))}. You "
            "can still tell us which changes you agreed, partly agreed or could not make, and why: give your answer "
            f"to {name} to pass on to me, or contact their GP practice."]))
    if link:
        last_day = _last_day_to_answer(s)
        sections.append(Section("Please tell us what you agreed", [
            "Use the link below, once" + (f", by {long_date(last_day)}," if last_day else "") + " to record which "
            "changes you agreed, partly agreed or could not make, and why. You do not need an account. It helps us "
            "support your employee.", link]))
    return Letter("employer", f"Advice about {name}'s work", s["status"] == "draft", sections, _signature(s), link,
                  document_title="Advice about work: letter for the employer")


# A job title typed with its own article ("a nurse") is taken as it is.
ARTICLES = ("a", "an", "the")
# Small words inside a job title: they end the run of capitalised words lower-cased ("Nurse at Tesco").
JOIN_WORDS = {"and", "at", "for", "in", "of", "on", "to", "with", "&"}
# Those of them that join the words of one name ("Office for Students", "Bank of England", "Nurse in Charge").
NAME_JOIN_WORDS = {"and", "for", "in", "of", "&"}
# Common words of job titles ("Staff", "Nurse"): a leading run of nothing else is a heading, lower-cased.
JOB_TITLE_WORDS = frozenset(json.loads(
    resources.files("worklink_adjustments").joinpath("data", "job_title_words.json").read_text("utf-8"))["words"])
# Letters whose names begin with a vowel sound: "an HGV driver", "an NHS nurse"; "a GP receptionist".
VOWEL_SOUND_LETTERS = set("AEFHILMNORSX")
# Words spelt with a vowel that begin with a consonant sound, and with an "h" not sounded.
SAID_WITH_Y_OR_W = re.compile(r"(uni|use|usu|ure|eu|one\b|once)", re.IGNORECASE)
SILENT_H = re.compile(r"(hour|honest|honou?r|heir)", re.IGNORECASE)


def as_occupation(title: str) -> str:
    """A typed job title as it reads after "their work as": "Nurse" -> "a nurse", "Staff Nurse" -> "a staff
    nurse", "Engineer" -> "an engineer", "HGV Driver" -> "an HGV driver", "Nurse at Tesco" -> "a nurse at Tesco".
    The leading run of capitalised words (up to a small joining word or a word typed in lower case) is a title
    typed as a heading, lower-cased, only when each of its words is a common job word (data/job_title_words.json)
    or an acronym, kept: "Tesco Cashier" holds a name and keeps the case typed, as does everything after the run
    (Tesco, IT, McDonald's). A title typed with its own article keeps it, lower-cased ("A Nurse")."""
    words = title.split()
    if not words:
        return title
    has_article = words[0].lower() in ARTICLES
    if has_article:
        words[0] = words[0].lower()
    run = _leading_capitalised(words, 1 if has_article else 0)
    if not _runs_on_as_a_name(words, run) and all(_is_acronym(words[i]) or _is_common_job_word(words[i]) for i in run):
        for i in run:
            if not _is_acronym(words[i]):
                words[i] = words[i].lower()
    phrase = " ".join(words)
    return phrase if has_article else f"{_article(words[0])} {phrase}"


def _leading_capitalised(words: list[str], start: int) -> list[int]:
    run = []
    for i in range(start, len(words)):
        if words[i].lower() in JOIN_WORDS or not words[i][:1].isupper():
            break
        run.append(i)
    return run


def _runs_on_as_a_name(words: list[str], run: list[int]) -> bool:
    """The capitals go on past a joining word that binds a name ("Office for Students Analyst", "Bank of England
    Clerk", "Health and Safety Officer"): the run is part of a name or a title in capitals, and lower-casing only
    its first words printed "an office for Students Analyst". An acronym after it ("Head of IT") or "at" before a
    place ("Nurse at Tesco") says nothing of the words before, which are still a heading."""
    if not run or run[-1] + 1 >= len(words) or words[run[-1] + 1].lower() not in NAME_JOIN_WORDS:
        return False
    after = [word for word in words[run[-1] + 2:] if word.lower() not in ARTICLES]
    return bool(after) and after[0][:1].isupper() and not _is_acronym(after[0])


def _is_acronym(word: str) -> bool:
    return len(word) > 1 and word.isupper()  # "NHS", "HGV", "A&E": said letter by letter, kept


def _is_common_job_word(word: str) -> bool:
    """A plain capitalised word (or hyphenated words: "Hour-paid") that only ever names a job, never a business,
    brand or place."""
    parts = re.split(r"[-/]", word.strip(".,;:()"))
    return all(part[1:] == part[1:].lower() and part.lower() in JOB_TITLE_WORDS for part in parts)


def _article(word: str) -> str:
    letters_only = re.sub(r"[^A-Za-z]", "", word)
    if not letters_only:
        return "a"
    if len(letters_only) > 1 and letters_only.isupper():  # an acronym, said letter by letter
        return "an" if letters_only[0] in VOWEL_SOUND_LETTERS else "a"
    if SILENT_H.match(letters_only):
        return "an"
    if SAID_WITH_Y_OR_W.match(letters_only):
        return "a"
    return "an" if letters_only[0].lower() in "aeiou" else "a"


def _last_day_to_answer(s: dict[str, Any]) -> date | None:
    """The last whole day (UK) the reply link takes an answer: the day before it expires, and not after the period
    ends (the link refuses answers to ended advice). Printed on the letter, read on paper weeks later: an answer
    sent after it was refused with no date to have known it by."""
    days = [uk_today(s["employer_link_expires_at"]) - timedelta(days=1)] if s.get("employer_link_expires_at") else []
    if s["period"]["end"] is not None:
        days.append(s["period"]["end"])
    return min(days, default=None)


def _expired(expires_at: datetime | None) -> bool:
    """The single-use link's time is up (uk_time reads a stored moment, naive from SQLite, as UTC)."""
    return expires_at is not None and uk_time(expires_at) <= datetime.now(timezone.utc)


def _employer_reply_consent(s: dict[str, Any]) -> str | None:
    """What the patient agreed about their employer's answer; nothing where there is nothing to answer (a 'not
    fit' note, or advice without changes to agree)."""
    if s["decision"] == "not_fit" or not s["recommendations"]:
        return None
    if s["consent"]["share_with_employer"]:
        return "You agreed that your employer can tell us what they decided."
    return "You did not agree to your employer sending us their decision, so their letter has no reply link."


def patient_summary(s: dict[str, Any]) -> Letter:
    name = f"{s['patient']['given_name']} {s['patient']['family_name']}"
    sections = [Section("About you", [
        f"{name}, born {long_date(s['patient']['birth_date'])}, NHS number {_nhs(s['patient']['nhs_number'])}.",
        f"Assessed on {long_date(s['assessment']['date'])} by {METHOD_LABELS[s['assessment']['method']]}.",
        "Conditions we talked about: " + _join([c["text"] for c in s["conditions"]]) + "."])]
    sections += _advice_sections(s, name, to_patient=True)
    shared = disclosed_conditions(s)
    consent = [
        "Your employer letter does not name your condition." if not shared else
        "Your employer letter names: " + _join(shared) + ", because you agreed.",
        _employer_reply_consent(s),
        _referral_consent(s),
    ]
    sections.append(Section("What you agreed", [line for line in consent if line]))
    if notes := _signposting(s, to_patient=True):
        sections.append(Section("Further support", notes))
    sections.append(Section("What happens next", [
        "Give the employer letter to your manager and talk through the changes together." if s["decision"] != "not_fit"
        else "Give the employer letter to your manager: it says you are not fit for work during this period.",
        _reassessment(s).replace("their", "your")]))
    return Letter("patient", f"Your advice about work, {name}", s["status"] == "draft", sections, _signature(s),
                  document_title="Your advice about work")


def _nhs(number: str) -> str:
    return f"{number[:3]} {number[3:6]} {number[6:]}"


# --- PDF -----------------------------------------------------------------------------------

FONTS = Path(__file__).parent / "fonts"  # licences: fonts/LICENSE*.txt
# DejaVu Sans (Latin, Greek, Cyrillic, Arabic, Hebrew...) in every letter; the others only when a
# letter needs them, for names and words in other scripts: a font per script DejaVu lacks, last the
# Chinese, Japanese and Korean one (4 MB, so it is read only for a letter that needs it).
EMBEDDED_FONT = "DejaVuSans"
LATIN_FONT = "DejaVuSans-Latin"  # its Latin-script subset (font_subsets.py), for a letter all in Latin script
FALLBACK_FONTS = tuple(f"NotoSans{script}-Regular" for script in (
    "Devanagari", "Bengali", "Gurmukhi", "Gujarati", "Tamil", "Sinhala", "Ethiopic", "Thai", "Armenian",
    "Georgian")) + ("DroidSansFallbackFull",)


class UnprintableText(Exception):
    """The letter has characters no bundled font can draw: the PDF would show blanks."""

    def __init__(self, characters: set[str]):
        self.characters = "".join(sorted(characters))
        super().__init__(f"no bundled font has {self.characters!r}")


@cache
def _coverage(font: str) -> frozenset[int]:
    """The code points a bundled font has glyphs for."""
    with TTFont(FONTS / f"{font}.ttf", lazy=True) as ttf:
        return frozenset(ttf.getBestCmap())


def _words(letter: Letter) -> str:
    rows = [" ".join([str(r["title"]), r["difficulty"], r["advice"], *(w["plan"] for w in r["schedule"])])
            for s in letter.sections for r in s.rows]
    return " ".join([letter.title, letter.signature, *rows,
                     *(t for s in letter.sections for t in (s.heading, *s.paragraphs))])


def _add_fonts(pdf: FPDF, letter: Letter) -> str:
    """DejaVu Sans, embedded in every letter: PDF/UA-1 wants every font embedded (the built-in
    Helvetica is not), and a name such as Łukasz, Nguyễn, محمد or 李小龍 prints as written instead of
    as '?' or blanks. The fallback fonts its characters need join it, and HarfBuzz shapes the text
    (joined Arabic letters, right to left; Indic vowel signs in place)."""
    used = {ord(c) for c in _words(letter) if c.isprintable() and not c.isspace()}
    if used <= _coverage(LATIN_FONT) & _coverage(f"{LATIN_FONT}-Bold"):  # most letters: the subset reads faster
        pdf.add_font("DejaVu", "", FONTS / f"{LATIN_FONT}.ttf")
        pdf.add_font("DejaVu", "B", FONTS / f"{LATIN_FONT}-Bold.ttf")
        return "DejaVu"
    missing = used - _coverage(EMBEDDED_FONT)
    fallbacks = []
    for font in FALLBACK_FONTS:
        if not missing:
            break
        if missing & _coverage(font):
            fallbacks.append(font)
            missing -= _coverage(font)
    if missing:
        raise UnprintableText({chr(c) for c in missing})
    pdf.add_font("DejaVu", "", FONTS / f"{EMBEDDED_FONT}.ttf")
    pdf.add_font("DejaVu", "B", FONTS / f"{EMBEDDED_FONT}-Bold.ttf")
    for font in fallbacks:
        pdf.add_font(font, "", FONTS / f"{font}.ttf")
    pdf.set_fallback_fonts(fallbacks, exact_match=False)  # their regular face serves bold text too
    return "DejaVu"


class UnlayableText(Exception):
    """fpdf2 cannot lay the text out (its bidi pass recurses once per symbol in a run: ~1,000 emoji)."""


# Scripts whose letters HarfBuzz must shape (joined, reordered, right to left): Hebrew to Mongolian,
# the Indic extensions, presentation forms, and the historic scripts beyond the BMP. Other text is
# drawn without shaping, and without fpdf2's bidi pass, which recurses once per emoji in a run.
NEEDS_SHAPING = re.compile("[\u0590-\u1cff\ua800-\uabff\ufb1d-\ufeff\U00010800-\U0001e8ff]")


class LetterPDF(TaggedPDF):
    """A letter's A4 pages, numbered in the footer (an artifact: a screen reader skips it)."""

    def page_footer(self) -> None:
        self.set_text_shaping(False)
        self.set_font(self.font_family, "", 9)
        self.set_y(-12)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="R")


LINE = {"new_x": XPos.LMARGIN, "new_y": YPos.NEXT}
LABEL_WIDTH = 8  # mm: a change's number hangs left of its text
WEEK_WIDTH = 20  # mm: the week column of a week-by-week plan
NUMBERED = "<</O /List /ListNumbering /Decimal>>"
COLUMN_HEADER = "<</O /Table /Scope /Column>>"  # a screen reader names each cell's column


def render_pdf(letter: Letter, compress: bool = True) -> bytes:
    """The letter as a tagged PDF, in reading order: the title an H1, each section an H2 with P
    paragraphs, the changes a numbered list (L, LI, Lbl, LBody), a week-by-week plan a table."""
    pdf = LetterPDF(format="A4")
    pdf.set_compression(compress)
    font = _add_fonts(pdf, letter)
    pdf.set_title(letter.document_title)
    pdf.set_lang("en-GB")  # a screen reader reads it in English, not in a guessed language
    pdf.set_xmp_metadata(xmp_metadata(letter.document_title, "en-GB"))  # claims PDF/UA-1: veraPDF checks it
    pdf.viewer_preferences = ViewerPreferences(display_doc_title=True)  # viewers show the title, not the file name
    pdf.set_author("WorkLink")
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_page()

    def write(kind: str, height: float, value: str, style: str = "", size: int = 11, width: float = 0,
              attributes: str | None = None, **position) -> None:
        pdf.set_font(font, style, size)
        pdf.set_text_shaping(bool(NEEDS_SHAPING.search(value)))
        if pdf.will_page_break(height):
            pdf.add_page()  # here, not inside multi_cell: no empty marked content at the foot of the page
        try:
            with pdf.content(kind, attributes):
                pdf.multi_cell(width, height, value, **(position or LINE))
        except RecursionError:
            raise UnlayableText() from None

    if letter.draft:
        pdf.set_text_color(180, 0, 0)
        write("P", 8, "DRAFT - not issued", "B", 12)
        pdf.set_text_color(0, 0, 0)
    write("H1", 9, letter.title, "B", 18)
    pdf.ln(2)
    for section in letter.sections:
        pdf.start_section(section.heading)  # the outline (bookmarks): a way to move between sections
        write("H2", 8, section.heading, "B", 13)
        for paragraph in section.paragraphs:
            write("P", 6, paragraph)
            pdf.ln(1)
        if section.rows:
            with pdf.group("L", NUMBERED):
                for row in section.rows:
                    _recommendation(pdf, write, row)
        pdf.ln(2)
    write("P", 6, letter.signature)
    return bytes(pdf.output())


def _recommendation(pdf: LetterPDF, write, row: dict[str, Any]) -> None:
    """One numbered change: its number (Lbl), then its title, difficulty, advice and plan (LBody)."""
    with pdf.group("LI"):
        write("Lbl", 6, f"{row['number']}.", "B", width=LABEL_WIDTH, new_x=XPos.RIGHT, new_y=YPos.TOP)
        margin = pdf.l_margin
        pdf.set_left_margin(margin + LABEL_WIDTH)  # wrapped lines, and lines after a page break, keep the indent
        try:
            with pdf.group("LBody"):
                write("P", 6, row["title"], "B")
                if row["difficulty"]:
                    write("P", 6, f"Difficulty: {row['difficulty']}")
                if row["advice"]:
                    write("P", 6, row["advice"])
                if row["schedule"]:
                    _schedule(pdf, write, row["schedule"])
        finally:
            pdf.set_left_margin(margin)
        pdf.ln(1)


def _schedule(pdf: LetterPDF, write, weeks: list[dict[str, Any]]) -> None:
    """A week-by-week plan: a two-column table, Week and Plan, its headers scoped to their columns."""
    with pdf.group("Table"):
        _table_row(pdf, write, "TH", "Week", "Plan", "B", COLUMN_HEADER)
        with pdf.artifact():  # a rule under the headers
            pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + pdf.epw, pdf.get_y())
        for week in weeks:
            _table_row(pdf, write, "TD", str(week["week"]), week["plan"])


def _table_row(pdf: LetterPDF, write, kind: str, first: str, second: str, style: str = "",
               attributes: str | None = None) -> None:
    with pdf.group("TR"):
        write(kind, 6, first, style, width=WEEK_WIDTH, attributes=attributes, new_x=XPos.RIGHT, new_y=YPos.TOP)
        write(kind, 6, second, style, attributes=attributes)
