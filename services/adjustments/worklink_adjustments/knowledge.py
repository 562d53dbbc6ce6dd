"""The guidance knowledge base: loading the starter library, ranked search, versioned edits.

Keyed by functional limitation, not only diagnosis: a condition lists its usual limitations,
and guidance rules map a limitation (optionally narrowed to a condition or a work function)
to an adjustment with a priority. Search interprets what the clinician gave (condition,
limitations, job task, free text) into weighted limitations and ranks the adjustments their
rules reach. The index is built in memory once per guidance version, so a search costs a
single `max(version)` query plus dictionary work.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from worklink.db import utcnow
from worklink_adjustments.domain import ConditionLibrary
from worklink_adjustments.models import (Adjustment, Condition, GuidanceRule, GuidanceVersion, Limitation,
                                         PhraseTemplate, Source, WorkFunction)

STARTER_LIBRARY = "library_v1.json"
LIVE_STATUSES = ("published", "clinically_reviewed")
REVIEWED = "clinically_reviewed"  # set only through mark_reviewed (who and when are recorded)
_WORD = re.compile(r"[a-z0-9']+")
_STOPWORDS = {"a", "an", "and", "the", "of", "to", "for", "with", "in", "on", "at", "or", "is", "be", "my",
              "their", "they", "can", "not", "no", "after", "from", "work", "working"}


def starter_library() -> dict[str, Any]:
    text = resources.files("worklink_adjustments").joinpath("data", STARTER_LIBRARY).read_text("utf-8")
    return json.loads(text)


def load_library(session: Session, library: dict[str, Any], published_by: str = "starter-library") -> int:
    """Insert a whole library into an empty knowledge base; returns its guidance version."""
    if session.scalar(sa.select(sa.func.count()).select_from(GuidanceVersion)):
        raise ValueError("the knowledge base already has content; edit it instead of reloading")
    version = int(library["version"])
    _insert(session, Source, library["sources"])
    _insert(session, Limitation, library["limitations"])
    _insert(session, WorkFunction, library["work_functions"])
    _insert(session, Condition, library["conditions"])
    _insert(session, Adjustment, [{**item, "updated_in_version": version} for item in library["adjustments"]])
    _insert(session, GuidanceRule, library["guidance_rules"])
    _insert(session, PhraseTemplate, library["phrase_templates"])
    _insert(session, GuidanceVersion, [{"version": version, "published_by": published_by, "change": library["title"]}])
    return version


def _insert(session: Session, model, items: list[dict[str, Any]]) -> None:
    """Plain rows with the model's Python-side defaults, naming only the columns the database has:
    migration 0003 loads the library before later revisions add columns to these tables."""
    table = model.__table__
    present = {c["name"] for c in sa.inspect(session.connection()).get_columns(table.name)}
    columns = [c for c in table.columns if c.name in present
               and not (c.primary_key and c.autoincrement is True and all(c.name not in i for i in items))
               and not (c.default is None and c.server_default is not None and all(c.name not in i for i in items))]
    rows = []
    for item in items:
        row = {}
        for column in columns:
            if column.name in item:
                row[column.name] = item[column.name]
            elif column.default is not None:
                arg = column.default.arg
                row[column.name] = arg(None) if column.default.is_callable else arg
            else:
                row[column.name] = None
        rows.append(row)
    if rows:
        session.execute(table.insert(), rows)


def current_version(session: Session) -> int:
    return session.scalar(sa.select(sa.func.max(GuidanceVersion.version))) or 0


def bump_version(session: Session, by: str, change: str) -> int:
    """Record an edit: the knowledge base is now one version newer. Two admins editing at once both read the same
    newest version, and the second's insert failed on its key (a 500, its edit lost): each locks the newest version's
    row first and reads the number again, so the second waits for the first's commit and takes the version after it."""
    newest = current_version(session)
    session.execute(sa.select(GuidanceVersion.version).where(GuidanceVersion.version == newest).with_for_update())
    version = current_version(session) + 1
    session.add(GuidanceVersion(version=version, published_by=by, change=change[:255], published_at=utcnow()))
    return version


# --- words that would reveal a condition or health need ----------------------------------
# Two kinds of library text leave this service beside a person: an adjustment's id goes into
# broadcast events (`adjustment_ids`, `adjustment_id`) that any consumer reads next to a suggestion
# id, and its title and employer wording, and the phrase templates clinicians copy into the fit
# note, are printed for the employer (the letter, the PDF, the employer page and API), for any
# patient it is chosen for, most of whom keep their diagnosis from their employer. Neither may say
# what the person has or goes through: both name what the employer provides or does. One set of
# terms decides it (`need_terms`): every condition name, synonym and plural of the library, each
# condition's id read as words ('cancer', 'long covid'), and a maintained vocabulary of clinical
# words the library need not list (data/need_revealing_id_words.json: its "rule" says which words
# reveal a need and which only describe the adjustment, and why; its "employer wording" section
# applies the same rule to text).

NEED_WORDS = "need_revealing_id_words.json"


def condition_terms(conditions: Iterable[tuple[str, Iterable[str]]]) -> set[str]:
    """Every name and synonym of the given (name, synonyms) pairs, lower case, with its plural and,
    for a plural of a long word, its singular ('seizures' -> 'seizure')."""
    terms = set()
    for name, synonyms in conditions:
        for term in (name, *synonyms):
            term = term.strip().lower().replace("\u2019", "'")
            if not term:
                continue
            terms |= {term, term + "s"}
            if term.endswith("s") and len(term.split()[-1]) >= 6:
                terms.add(term[:-1])
    return terms


def terms_pattern(terms: Iterable[str]) -> re.Pattern[str]:
    """Matches any of `terms` as whole words (not 'ms' inside 'items'), longest first; a term ending
    in '*' is a stem and matches the whole word it starts ('epilep*' -> 'epileptic')."""
    alternatives = "|".join(re.escape(t[:-1]) + r"[\w']*" if t.endswith("*") else re.escape(t)
                            for t in sorted(terms, key=len, reverse=True))
    return re.compile(rf"(?<![\w'])(?:{alternatives})(?![\w'])", re.IGNORECASE)


def named_conditions(text: str, pattern: re.Pattern[str]) -> list[str]:
    """The terms of `pattern` that `text` contains, lower case (a hyphen or '_' separates words)."""
    return sorted({m.group(0).lower() for m in pattern.finditer(text.replace("\u2019", "'"))})


def data_file(name: str) -> dict[str, Any]:
    """A JSON file shipped under worklink_adjustments/data (the library's change files and word lists)."""
    return json.loads(resources.files("worklink_adjustments").joinpath("data", name).read_text("utf-8"))


def _need_words_file() -> dict[str, Any]:
    return data_file(NEED_WORDS)


def need_revealing_words() -> set[str]:
    """The vocabulary's terms; one ending in '*' is a stem (any word starting with it)."""
    return {term for group in _need_words_file()["terms"].values() for term in group}


NEED_VOCABULARY = frozenset(need_revealing_words())


def need_terms(conditions: Iterable[tuple[str, str, Iterable[str]]]) -> set[str]:
    """Terms no id and no employer-facing wording may contain, from (id, name, synonyms) of the
    library's conditions plus the vocabulary."""
    words_ = {t for t in NEED_VOCABULARY if not t.endswith("*")}
    return (condition_terms((name, [*synonyms, id_words(cid)]) for cid, name, synonyms in conditions)
            | words_ | {w + "s" for w in words_} | {t for t in NEED_VOCABULARY if t.endswith("*")})


def id_words(code: str) -> str:
    return re.sub(r"[_\-.:|]+", " ", code)


def named_in_id(code: str, pattern: re.Pattern[str]) -> list[str]:
    return named_conditions(id_words(code), pattern)


def library_need_pattern(session: Session) -> re.Pattern[str]:
    """The pattern of `need_terms` for the library's conditions as they are now."""
    return terms_pattern(need_terms(session.execute(sa.select(Condition.id, Condition.name, Condition.synonyms)).all()))


# What the employer reads of a library adjustment (the letter, PDF, employer page and API print
# these, from the suggestion's snapshot); phrase templates are scanned as well (their `text`).
EMPLOYER_FIELDS = ("title", "employer_text")


# --- renamed adjustments ----------------------------------------------------------------
# A published id is never edited in place: suggestions, employer answers and events already sent
# keep it. A rename is a new guidance version in which the old adjustment is retired (not offered,
# not searchable) and a new one with the new id carries the same content and review state, with
# the old one's rules and phrase templates re-pointed to it. Anything written from now on (a new
# suggestion, an amendment, an event) uses the new id: see `current_adjustment_id`.

# Each published rename, in the order its migration applied it (0007, 0008): one file each, so a
# migration keeps applying exactly what it applied when it was written.
RENAME_FILES = ("neutral_adjustment_ids.json", "need_neutral_adjustment_ids.json")
RENAMES = RENAME_FILES[0]


def _load_renames(name: str = RENAMES) -> dict[str, Any]:
    return data_file(name)


RENAMED_ADJUSTMENTS: dict[str, str] = {item["from"]: item["to"]
                                       for name in RENAME_FILES for item in _load_renames(name)["adjustments"]}


def current_adjustment_id(adjustment_id: str | None) -> str | None:
    """The id a library adjustment has now (a retired, renamed id reads as its replacement)."""
    seen = set()
    while adjustment_id in RENAMED_ADJUSTMENTS and adjustment_id not in seen:
        seen.add(adjustment_id)
        adjustment_id = RENAMED_ADJUSTMENTS[adjustment_id]
    return adjustment_id


def rename_adjustments(session: Session, change: dict[str, Any], published_by: str) -> int | None:
    """Apply a published rename ({"title", "adjustments": [{"from", "to"}]}) as one new guidance version.

    Each old adjustment that is still live and whose new id is free is copied under the new id
    (same content and review state; revision 1), its rules and phrase templates are re-pointed, and
    it is retired. Returns the new version, or None when nothing was due (already applied).
    Core statements over the columns the database has: a migration runs this before later revisions."""
    table = Adjustment.__table__
    present = {c["name"] for c in sa.inspect(session.connection()).get_columns(table.name)}
    columns = [c for c in table.columns if c.name in present]
    due = []
    for item in change["adjustments"]:
        old = session.execute(sa.select(*columns).where(table.c.id == item["from"])).first()
        taken = session.scalar(sa.select(sa.func.count()).where(table.c.id == item["to"]))
        if old is not None and old.review_status in LIVE_STATUSES and not taken:
            due.append((item, old._asdict()))
    if not due:
        return None
    version = current_version(session) + 1
    session.execute(sa.insert(GuidanceVersion.__table__).values(
        version=version, published_by=published_by, change=change["title"][:255], published_at=utcnow()))
    rules, phrases = GuidanceRule.__table__, PhraseTemplate.__table__
    for item, old in due:
        session.execute(table.insert().values(**{**old, "id": item["to"], "revision": 1,
                                                 "updated_in_version": version}))
        session.execute(sa.update(rules).where(rules.c.adjustment_id == item["from"])
                        .values(adjustment_id=item["to"]))
        session.execute(sa.update(phrases).where(phrases.c.adjustment_id == item["from"])
                        .values(adjustment_id=item["to"]))
        session.execute(sa.update(table).where(table.c.id == item["from"]).values(
            review_status="retired", revision=table.c.revision + 1, updated_in_version=version))
    return version


def undo_renames(connection: sa.Connection, change: dict[str, Any]) -> None:
    """Downgrade of a rename migration: bring each old adjustment back with its replacement's review
    state, re-point the rules and phrases to it, drop the replacement and the version. Suggestions
    written since keep the new ids they recorded."""
    table, rules, phrases = Adjustment.__table__, GuidanceRule.__table__, PhraseTemplate.__table__
    for item in change["adjustments"]:
        new = connection.execute(sa.select(table.c.review_status, table.c.reviewed_by, table.c.reviewed_at)
                                 .where(table.c.id == item["to"])).first()
        if new is None:
            continue
        connection.execute(sa.update(table).where(table.c.id == item["from"]).values(
            review_status=new.review_status, reviewed_by=new.reviewed_by, reviewed_at=new.reviewed_at,
            revision=table.c.revision + 1))
        for refs in (rules, phrases):
            connection.execute(sa.update(refs).where(refs.c.adjustment_id == item["to"])
                               .values(adjustment_id=item["from"]))
        connection.execute(sa.delete(table).where(table.c.id == item["to"]))
    versions = GuidanceVersion.__table__
    connection.execute(sa.delete(versions).where(versions.c.change == change["title"][:255]))


# --- published wording changes --------------------------------------------------------


def update_wording(session: Session, change: dict[str, Any], published_by: str) -> int | None:
    """Apply a published change of library wording as one new guidance version.

    `change` = {"title", "adjustments": [{"id", "from": {...}, "to": {...}}], "phrase_templates":
    [{"from", "to"}], "rationales": [{"adjustment_id", "from", "to"}]} (a rationale: the clinician-facing
    "why" of that adjustment's rules). An item changes only while it still reads as `from` (an admin's
    own edit since is kept); changed wording is no longer clinically reviewed. Suggestions keep the
    version and the wording they were written with. Returns the new version, or None when nothing
    changed. Core statements naming only the columns used: a migration runs this before later revisions."""
    adjustments, phrases, rules = Adjustment.__table__.c, PhraseTemplate.__table__.c, GuidanceRule.__table__.c
    due = []
    for item in change.get("adjustments", []):
        row = session.execute(sa.select(*(adjustments[k] for k in item["from"]))
                              .where(adjustments.id == item["id"])).first()
        if row is not None and row._asdict() == item["from"]:
            due.append(item)
    due_phrases = [item for item in change.get("phrase_templates", []) if session.scalar(
        sa.select(sa.func.count()).where(phrases.text == item["from"]))]
    due_rationales = [item for item in change.get("rationales", []) if session.scalar(
        sa.select(sa.func.count()).where(*_rationale_is(item, "from")))]
    if not due and not due_phrases and not due_rationales:
        return None
    version = current_version(session) + 1
    session.execute(sa.insert(GuidanceVersion.__table__).values(
        version=version, published_by=published_by, change=change["title"][:255], published_at=utcnow()))
    for item in due:
        session.execute(sa.update(Adjustment.__table__).where(adjustments.id == item["id"]).values(
            **item["to"], revision=adjustments.revision + 1, updated_in_version=version,
            review_status=sa.case((adjustments.review_status == REVIEWED, "published"),
                                  else_=adjustments.review_status),
            reviewed_by=None, reviewed_at=None))
    # A phrase's revision (migration 0019) and a rule's (0018) move on with their words, so an edit or a review of the
    # old ones is refused; a change applied by a migration before those finds no such column.
    reworded = {"revision": phrases.revision + 1} if due_phrases and _has_revision(session, "phrase_templates") else {}
    for item in due_phrases:
        session.execute(sa.update(PhraseTemplate.__table__).where(phrases.text == item["from"]).values(
            text=item["to"], **reworded))
    moved_on = {"revision": rules.revision + 1} if due_rationales and _has_revision(session, "guidance_rules") else {}
    for item in due_rationales:
        session.execute(sa.update(GuidanceRule.__table__).where(*_rationale_is(item, "from")).values(
            rationale=item["to"], reviewed_by=None, reviewed_at=None, **moved_on,
            review_status=sa.case((rules.review_status == REVIEWED, "published"), else_=rules.review_status)))
    return version


def _has_revision(session: Session, table: str) -> bool:
    return "revision" in {c["name"] for c in sa.inspect(session.connection()).get_columns(table)}


def _rationale_is(item: dict[str, str], side: str) -> list:
    rules = GuidanceRule.__table__.c
    return [rules.adjustment_id == item["adjustment_id"], rules.rationale == item[side]]


def undo_wording(connection: sa.Connection, change: dict[str, Any]) -> None:
    """Downgrade of a wording migration: put the earlier wording back where the change is still in
    place (an admin's edit since is kept) and drop its version. The review state is not restored."""
    adjustments, phrases = Adjustment.__table__, PhraseTemplate.__table__
    for item in change.get("adjustments", []):
        still = [adjustments.c[k] == v for k, v in item["to"].items()]
        connection.execute(sa.update(adjustments).where(adjustments.c.id == item["id"], *still).values(**item["from"]))
    for item in change.get("phrase_templates", []):
        connection.execute(sa.update(phrases).where(phrases.c.text == item["to"]).values(text=item["from"]))
    for item in change.get("rationales", []):
        connection.execute(sa.update(GuidanceRule.__table__).where(*_rationale_is(item, "to"))
                           .values(rationale=item["from"]))
    versions = GuidanceVersion.__table__
    connection.execute(sa.delete(versions).where(versions.c.change == change["title"][:255]))


# --- clinical review ---------------------------------------------------------------
# The starter library is NOT clinically reviewed. An alliance admin records each review (who,
# when) item by item; editing a reviewed adjustment's wording makes it unreviewed again.

REVIEW_CONTENT = ("title", "employer_text", "fit_note_category", "equality_act_requirement", "adjustment_area",
                  "cost_band", "access_to_work", "access_to_work_element", "duration_type",
                  "home_working_compatible")


def mark_reviewed(session: Session, item: Adjustment | GuidanceRule, reviewer: str) -> int:
    """Record that `reviewer` clinically reviewed an adjustment or rule; a new guidance version."""
    kind = "adjustment" if isinstance(item, Adjustment) else "rule"
    version = bump_version(session, reviewer, f"clinical review of {kind} {item.id}")
    item.review_status, item.reviewed_by, item.reviewed_at = REVIEWED, reviewer, utcnow()
    item.revision += 1
    if isinstance(item, Adjustment):
        item.updated_in_version = version
    return version


def clear_review(item: Adjustment | GuidanceRule) -> None:
    item.reviewed_by = item.reviewed_at = None


def review_report(session: Session) -> dict[str, Any]:
    """What is not yet clinically reviewed (live content only: retired items are not used)."""
    adjustments = session.execute(sa.select(Adjustment.id, Adjustment.title, Adjustment.review_status)
                                  .where(Adjustment.review_status != "retired").order_by(Adjustment.id)).all()
    rules = session.execute(sa.select(GuidanceRule.id, GuidanceRule.limitation_id, GuidanceRule.condition_id,
                                      GuidanceRule.work_function_id, GuidanceRule.adjustment_id,
                                      GuidanceRule.priority, GuidanceRule.rationale, GuidanceRule.revision,
                                      GuidanceRule.review_status)
                            .where(GuidanceRule.review_status != "retired").order_by(GuidanceRule.id)).all()
    last = session.execute(sa.select(Adjustment.reviewed_by, Adjustment.reviewed_at)
                           .where(Adjustment.reviewed_at.is_not(None))
                           .order_by(Adjustment.reviewed_at.desc()).limit(1)).first()
    unreviewed_adjustments = [a._asdict() for a in adjustments if a.review_status != REVIEWED]
    unreviewed_rules = [r._asdict() for r in rules if r.review_status != REVIEWED]
    return {
        "guidance_version": current_version(session),
        "clinically_reviewed": not unreviewed_adjustments and not unreviewed_rules,
        "adjustments": {"total": len(adjustments), "unreviewed": len(unreviewed_adjustments)},
        "rules": {"total": len(rules), "unreviewed": len(unreviewed_rules)},
        "last_review": {"by": last.reviewed_by, "at": last.reviewed_at} if last else None,
        "unreviewed_adjustments": unreviewed_adjustments,
        "unreviewed_rules": unreviewed_rules,
    }


# --- search -------------------------------------------------------------------------


def words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower().replace("’", "'")) if w not in _STOPWORDS]


@dataclass
class Hit:
    adjustment: dict[str, Any]
    score: float
    limitations: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    work_functions: list[str] = field(default_factory=list)
    rationale: str = ""
    text_match: bool = False
    # True only when the adjustment and every rule that brought it up were clinically reviewed.
    clinically_reviewed: bool = False


@dataclass
class SearchResult:
    guidance_version: int
    conditions: list[dict[str, Any]]       # what the query was read as
    limitations: list[dict[str, Any]]
    work_functions: list[dict[str, Any]]
    hits: list[Hit]
    total: int
    review: dict[str, Any] = field(default_factory=dict)


class GuidanceIndex:
    """An immutable, in-memory view of one guidance version."""

    def __init__(self, version: int, conditions, limitations, work_functions, adjustments, rules, phrases):
        self.version = version
        self.conditions = {c["id"]: c for c in conditions}
        # What a suggestion is checked against when written or issued (its disclosure rule).
        self.condition_library = ConditionLibrary({c["id"]: (c["name"], c["synonyms"] or []) for c in conditions})
        self.limitations = {item["id"]: item for item in limitations}
        self.work_functions = {w["id"]: w for w in work_functions}
        self.adjustments = {a["id"]: a for a in adjustments}
        self.phrases = phrases
        live_rules = [r for r in rules if r["adjustment_id"] in self.adjustments]
        self.review = {  # the library's clinical review, shown to clinicians beside the guidance
            "adjustments": len(self.adjustments),
            "adjustments_reviewed": sum(a["review_status"] == REVIEWED for a in adjustments),
            "rules": len(live_rules), "rules_reviewed": sum(r["review_status"] == REVIEWED for r in live_rules)}
        self.review["complete"] = (self.review["adjustments"] == self.review["adjustments_reviewed"]
                                   and self.review["rules"] == self.review["rules_reviewed"])
        self.rules_by_limitation: dict[str, list[dict]] = {}
        self.rules_by_work_function: dict[str, list[dict]] = {}
        for rule in rules:
            if rule["adjustment_id"] not in self.adjustments:
                continue  # rule for a retired adjustment
            self.rules_by_limitation.setdefault(rule["limitation_id"], []).append(rule)
            if rule["work_function_id"]:
                self.rules_by_work_function.setdefault(rule["work_function_id"], []).append(rule)
        # Inverted index: every word and each of its 3+ letter prefixes -> adjustments using it. Besides
        # the title and employer wording, the rationale of the adjustment's rules: clinician-facing text
        # that may use the clinical words employer wording must not ('hypo', 'flare-ups', 'glucose').
        self._title_index: dict[str, set[str]] = {}
        self._body_index: dict[str, set[str]] = {}
        self._rationale_index: dict[str, set[str]] = {}
        self._rationales: dict[str, list[str]] = {}
        for rule in live_rules:
            texts = self._rationales.setdefault(rule["adjustment_id"], [])
            if rule["rationale"] not in texts:
                texts.append(rule["rationale"])
        rationale_words = {aid: set(words(" ".join(texts))) for aid, texts in self._rationales.items()}
        for a in adjustments:
            title = set(words(a["title"]))
            body = set(words(a["employer_text"])) - title
            for target, vocabulary in ((self._title_index, title), (self._body_index, body),
                                       (self._rationale_index, rationale_words.get(a["id"], set()) - title - body)):
                for word in vocabulary:
                    for key in {word, *(word[:k] for k in range(3, len(word)))}:
                        target.setdefault(key, set()).add(a["id"])
        self._condition_words = {c["id"]: [set(words(t)) for t in [c["name"], *c["synonyms"]]] for c in conditions}
        self._limitation_words = {item["id"]: set(words(item["name"])) for item in limitations}
        self._work_function_words = {w["id"]: [set(words(t)) for t in [w["name"], *w["examples"]]]
                                     for w in work_functions}

    @classmethod
    def build(cls, session: Session) -> "GuidanceIndex":
        def rows(model, *where):
            return [{c.key: getattr(obj, c.key) for c in model.__table__.columns}
                    for obj in session.scalars(sa.select(model).where(*where))]

        return cls(current_version(session), rows(Condition), rows(Limitation), rows(WorkFunction),
                   rows(Adjustment, Adjustment.review_status.in_(LIVE_STATUSES)),
                   rows(GuidanceRule, GuidanceRule.review_status.in_(LIVE_STATUSES)), rows(PhraseTemplate))

    # -- reading the query --------------------------------------------------------

    @staticmethod
    def _matches(query: list[str], candidate: set[str]) -> int:
        """How many query words start a word of the candidate (prefix match, 3+ letters)."""
        return sum(1 for q in query if any(w == q or (len(q) >= 3 and w.startswith(q)) for w in candidate))

    def _read_text(self, query: list[str]):
        conditions, limitations, work_functions = {}, {}, {}
        for cid, variants in self._condition_words.items():
            best = max((self._matches(query, v) / len(v) for v in variants if v), default=0)
            if best >= 0.5:
                conditions[cid] = 0.8 * best
        for lid, name in self._limitation_words.items():
            if name and self._matches(query, name):
                limitations[lid] = 0.8 * self._matches(query, name) / len(name)
        for wid, variants in self._work_function_words.items():
            best = max((self._matches(query, v) / len(v) for v in variants if v), default=0)
            if best >= 0.5:
                work_functions[wid] = 0.7 * best
        return conditions, limitations, work_functions

    def search(self, *, condition: str | None = None, limitations: Iterable[str] = (), task: str | None = None,
               text: str | None = None, limit: int = 20, offset: int = 0) -> SearchResult:
        query = words(text or "")
        if task in self.work_functions and not self.rules_by_work_function.get(task):
            # A job task no rule names yet (3 of the starter library's 15) found nothing on its own, a dead end on the
            # find page: its name and examples are searched as the words a clinician would otherwise type.
            query += words(" ".join([self.work_functions[task]["name"], *self.work_functions[task]["examples"]]))
        conds, lims, tasks = self._read_text(query) if query else ({}, {}, {})
        if condition:
            conds[condition] = 1.0
        for lid in limitations:
            lims[lid] = 1.0
        if task:
            tasks[task] = 1.0
        for cid, weight in list(conds.items()):
            for position, lid in enumerate(self.conditions.get(cid, {}).get("limitation_ids", [])):
                lims[lid] = max(lims.get(lid, 0), weight * max(1.0 - 0.08 * position, 0.5))

        hits: dict[str, Hit] = {}
        for lid, weight in lims.items():
            for rule in self.rules_by_limitation.get(lid, ()):
                self._score_rule(hits, rule, weight, conds, tasks)
        if not lims:  # a job task on its own
            for wid, weight in tasks.items():
                for rule in self.rules_by_work_function.get(wid, ()):
                    self._score_rule(hits, rule, weight, conds, tasks)
        if query:
            self._score_text(hits, query)
        for hit in hits.values():  # covering several of the person's limitations ranks higher
            hit.score += 0.3 * max(len(hit.limitations) - 1, 0)
        ranked = sorted(hits.values(), key=lambda h: (-h.score, h.adjustment["title"]))
        return SearchResult(
            guidance_version=self.version,
            conditions=[self.conditions[c] for c in sorted(conds, key=lambda c: -conds[c]) if c in self.conditions],
            limitations=[self.limitations[item] for item in sorted(lims, key=lambda x: -lims[x])
                         if item in self.limitations],
            work_functions=[self.work_functions[w] for w in sorted(tasks, key=lambda w: -tasks[w])
                            if w in self.work_functions],
            hits=ranked[offset:offset + limit], total=len(ranked), review=self.review)

    def _score_rule(self, hits: dict[str, Hit], rule: dict, weight: float, conds: dict, tasks: dict) -> None:
        if rule["condition_id"] and rule["condition_id"] not in conds:
            return
        if rule["work_function_id"] and rule["work_function_id"] not in tasks:
            return
        score = weight * (4 - rule["priority"])
        if rule["condition_id"]:
            score += 1.5 * conds[rule["condition_id"]]
        if rule["work_function_id"]:
            score += 1.5 * tasks[rule["work_function_id"]]
        hit = hits.get(rule["adjustment_id"])
        if hit is None:
            adjustment = self.adjustments[rule["adjustment_id"]]
            hit = hits[rule["adjustment_id"]] = Hit(adjustment, 0.0, rationale=rule["rationale"],
                                                    clinically_reviewed=adjustment["review_status"] == REVIEWED)
        hit.clinically_reviewed = hit.clinically_reviewed and rule["review_status"] == REVIEWED
        hit.score = max(hit.score, score)
        for bucket, value in ((hit.limitations, rule["limitation_id"]), (hit.conditions, rule["condition_id"]),
                              (hit.work_functions, rule["work_function_id"])):
            if value and value not in bucket:
                bucket.append(value)

    def _score_text(self, hits: dict[str, Hit], query: list[str]) -> None:
        scores: dict[str, float] = {}
        for token in set(query):
            for weight, index in ((1.0, self._title_index), (0.4, self._body_index), (0.4, self._rationale_index)):
                for aid in index.get(token, ()):  # short tokens only match whole words
                    scores[aid] = scores.get(aid, 0.0) + weight
        for aid, score in scores.items():
            hit = hits.get(aid)
            if hit is None:
                hit = hits[aid] = Hit(self.adjustments[aid], 0.0, rationale=self._rationale_for(aid, query),
                                      clinically_reviewed=self.adjustments[aid]["review_status"] == REVIEWED)
            hit.score += score
            hit.text_match = True

    def _rationale_for(self, adjustment_id: str, query: list[str]) -> str:
        """A rationale of the adjustment's rules that the query's words match (why a text hit was found)."""
        return next((text for text in self._rationales.get(adjustment_id, ())
                     if self._matches(query, set(words(text)))), "")

    def phrases_for(self, limitation_ids: Iterable[str], adjustment_ids: Iterable[str]) -> list[dict]:
        lims, adjs = set(limitation_ids), set(adjustment_ids)
        return [p for p in self.phrases if p["limitation_id"] in lims or p["adjustment_id"] in adjs]


# The newest version as a Core statement built once: asked on every write and issue, the ORM select built per
# call cost 150 us against 35 us. It reads guidance_versions alone, which no caller has pending (bump_version
# reads before it adds), so skipping the ORM's autoflush changes no answer.
_NEWEST_VERSION = sa.select(sa.func.max(GuidanceVersion.__table__.c.version))


class IndexCache:
    """One GuidanceIndex per database, rebuilt when the guidance version moves on."""

    def __init__(self):
        self._lock = threading.Lock()
        self._index: GuidanceIndex | None = None

    def get(self, session: Session) -> GuidanceIndex:
        version = session.connection().execute(_NEWEST_VERSION).scalar() or 0
        index = self._index
        if index is not None and index.version == version:
            return index
        with self._lock:
            if self._index is None or self._index.version != version:
                self._index = GuidanceIndex.build(session)
            return self._index
