"""Full-text search over services: stemming, UK/US spelling, synonyms, near-misses, ranking.

The index is the database's own full-text engine: SQLite FTS5 (ranked with bm25)
or a PostgreSQL tsvector with a GIN index (ranked with ts_rank). Language handling
happens here, once, so both engines rank the same way: words are lower-cased, US
spellings mapped to UK ones, stop words dropped and the rest stemmed with the
Snowball English stemmer; the engines index those stems as given ("simple" text).
Fields weigh name 3, taxonomy labels 2, description and how-to-get-help 1; each field is ranked
on its own and the scores added, so a listing about the words throughout beats a shorter one.

A query becomes a list of groups, one per word (or known phrase); a service must
match every group (AND), and any token of a group counts for it: the word itself,
its synonyms (an abbreviation or set phrase's alternatives as whole phrases: PHRASE_SETS),
broader words a narrower one also finds, one way (BROADER), and - when the word is not in the
index at all - close spellings from the index's vocabulary. A word that no listing uses, nor anything close to it,
is left out rather than required ("money worries" searches for money), unless every
word is like that. The word itself counts double in the ranking, so a listing that
names it beats one that only mentions a synonym; and a listing whose name has the
words typed comes before one that matches them elsewhere or through synonyms only.
"""

from __future__ import annotations

import difflib
import functools
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Mapping, Sequence

import snowballstemmer
import sqlalchemy as sa
from sqlalchemy.orm import Session

from worklink_directory.models import LISTED, SearchDocument

_WORD = re.compile(r"[a-z0-9]+")
_STEMMER = snowballstemmer.stemmer("english")
_STEM_LOCK = threading.Lock()  # snowballstemmer objects are not thread-safe

STOP_WORDS = frozenset("""a an and are as at be by for from has have help i in is it its me my near of on or
our service services support the their this to we with you your""".split())

# US (and common variant) spellings -> UK spelling, applied before stemming.
UK_SPELLING = {
    "counseling": "counselling", "counselor": "counsellor", "behavior": "behaviour", "behavioral": "behavioural",
    "organization": "organisation", "organizations": "organisations", "program": "programme",
    "programs": "programmes", "center": "centre", "centers": "centres", "labor": "labour",
    "neighborhood": "neighbourhood", "favor": "favour", "color": "colour", "practicing": "practising",
    "license": "licence", "aging": "ageing", "disabled": "disability", "well-being": "wellbeing",
}

# Equivalent ideas: any of these words or phrases matches the others.
SYNONYM_SETS = [
    {"mental health", "wellbeing", "emotional health"},
    {"job", "employment", "work"},
    {"cv", "resume"},
    {"debt", "money", "arrears"},
    {"benefits", "universal credit"},
    {"skills", "training", "courses"},
    {"anxiety", "stress"},
    {"fit note", "sick note", "med3"},
    {"computer", "digital", "laptop", "internet"},
    {"autism", "autistic", "asperger", "aspergers"},
    {"neurodivergent", "neurodivergence", "neurodiverse", "neurodiversity"},  # two stems: neurodiverg, neurodivers
    {"housing", "homeless", "homelessness"},
]

# Abbreviations and set phrases: every alternative is matched as a whole phrase (its words in order),
# never through one of its words - "ESA" is Employment and Support Allowance, not anything with "employment",
# and the "therapy" of "occupational therapy" is not counselling.
PHRASE_SETS = [
    {"counselling", "therapy", "talking therapies"},  # not anything with "talking" ("talking to your employer")
    {"ips", "individual placement and support"},
    {"cbt", "cognitive behavioural therapy"},
    {"esa", "employment and support allowance"},
    {"pip", "personal independence payment"},
    {"ssp", "statutory sick pay"},
    {"jobcentre", "job centre", "jobcentre plus"},
    {"occupational therapy", "occupational therapist", "ot"},
    {"occupational health"},
    {"depression", "depressed", "low mood"},
    {"lonely", "loneliness", "isolated", "isolation", "befriending"},
    {"carers allowance"},
    {"long covid"},
    {"adhd", "attention deficit", "attention deficit hyperactivity disorder"},
    {"menopause", "menopausal", "perimenopause", "perimenopausal", "hot flushes", "hot flashes"},
    # Somerset's services treat both together, and residents and GPs name either ("drinking", "drugs").
    {"alcohol", "drinking", "drugs", "substance misuse", "substance use", "addiction", "addicted"},
    {"physio", "physiotherapy", "physiotherapist"},  # Snowball keeps all three apart
    {"msk", "musculoskeletal"},
]

# Narrower -> broader, one way: a health condition also finds support for any long-term condition,
# while "condition" does not find every cancer service. Keys are any alternative of a set above, or a word.
BROADER = {
    **{condition: ["condition"] for condition in (
        "cancer", "long covid", "covid", "diabetes", "arthritis", "stroke", "multiple sclerosis", "ms", "copd",
        "asthma", "fibromyalgia", "chronic fatigue", "chronic pain", "heart disease", "epilepsy")},
    "jobcentre": ["employment"],
    "uc": ["universal credit", "benefits"],
    "carers allowance": ["benefits"],
    "lonely": ["peer support"],
    "occupational health": ["workplace health"],
    "classes": ["courses"], "lessons": ["courses"],
    "bereavement": ["counselling"], "bereaved": ["counselling"], "grief": ["counselling"],
    "redundancy": ["employment"], "redundant": ["employment"],
    "eviction": ["housing"], "evicted": ["housing"], "landlord": ["housing"],
    "hrt": ["menopause"],
    "dyslexia": ["neurodivergent"], "dyspraxia": ["neurodivergent"],
}


# Words the stemmer would fold into another they must stay apart from: Snowball makes "employer" and
# "employment" both "employ", so a person looking for work was shown employers' programmes first.
KEPT_APART = {"employer": "employer", "employers": "employer"}

_POSSESSIVE = re.compile(r"['\u2019]s\b")  # "carer's" is "carer", not "carer" and a word "s"


def stem(word: str) -> str:
    word = UK_SPELLING.get(word, word)
    if word in KEPT_APART:
        return KEPT_APART[word]
    with _STEM_LOCK:
        return _STEMMER.stemWord(word)


def words(text: str | None) -> list[str]:
    text = _POSSESSIVE.sub("", (text or "").lower()).replace("well-being", "wellbeing")
    return [w for w in _WORD.findall(text)]


def tokens(text: str | None) -> list[str]:
    return [stem(w) for w in words(text) if w not in STOP_WORDS]


FIELD_WEIGHTS = {"name": 3.0, "labels": 2.0, "body": 1.0}
# Per query word found as such in a listing's name: more than any full-text score reaches,
# so "Taunton counselling service" leads "Talking therapies" for "counselling".
NAME_BONUS = 1000.0


@dataclass(frozen=True)
class Document:
    """What the engine indexes for one service: each text field as space-separated stems, and
    `facets` - filter tokens that never count towards rank (its taxonomy terms and taxonomies) -
    so the common "words + category" query is answered by the engine alone: it intersects
    posting lists before it ranks anything. Only listed services are in the index at all (an
    unlisted one's entry is removed), so no query pays for a "listed" filter over every entry."""

    name: str
    labels: str
    body: str
    facets: str = ""
    listed: bool = True


def term_facet(term_id) -> str:
    return f"t{uuid.UUID(str(term_id)).hex}"


def taxonomy_facet(taxonomy_id) -> str:
    return f"x{uuid.UUID(str(taxonomy_id)).hex}"


def with_ancestors(term_ids, parents: Mapping) -> list:
    """The terms and every term above them (parents: term id -> parent id), each once, in order:
    a service tagged "counselling" is found under "mental health" too."""
    out: list = []
    for term in term_ids:
        while term is not None and term not in out:
            out.append(term)
            term = parents.get(term)
    return out


def term_parents(bind) -> dict:
    """term id -> parent id, for every term (a small table, read whole)."""
    return {_as_uuid(t): _as_uuid(p) for t, p in bind.execute(sa.text("SELECT id, parent_id FROM taxonomy_term"))}


def _as_uuid(value) -> uuid.UUID | None:
    return value if value is None or isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def document(*, name: str, description: str | None, how_to: str | None, labels: list[str],
             listed: bool = True, term_ids=(), taxonomy_ids=(), parents: Mapping | None = None) -> Document:
    """The entry for a service; with `parents`, its terms' ancestors are facets too."""
    terms = with_ancestors([_as_uuid(t) for t in term_ids], parents) if parents else list(term_ids)
    facets = [term_facet(t) for t in terms] + sorted({taxonomy_facet(t) for t in taxonomy_ids})
    return Document(" ".join(tokens(name)), " ".join(tokens(" ".join(labels))),
                    " ".join(tokens(f"{description or ''} {how_to or ''}")), " ".join(facets), listed)


def _phrase_tokens(phrase: str) -> tuple[str, ...]:
    return tuple(tokens(phrase))


_SYNONYMS: list[set[tuple[str, ...]]] = [{_phrase_tokens(p) for p in group} for group in SYNONYM_SETS]
_PHRASES: list[set[tuple[str, ...]]] = [{_phrase_tokens(p) for p in group} for group in PHRASE_SETS]
_BROADER: dict[tuple[str, ...], set[str]] = {
    _phrase_tokens(narrow): {" ".join(_phrase_tokens(b)) for b in broader} for narrow, broader in BROADER.items()}


@dataclass(frozen=True)
class QueryGroup:
    """One required part of a query, matched by the word itself, a synonym or, for a word
    the index does not know, a close spelling. A token with spaces is a phrase (its stems in
    order). `factors` says how much each counts; the engines approximate it (the word itself
    counts double, see SearchIndex)."""

    word: str
    exact: frozenset[str]
    synonyms: frozenset[str] = frozenset()
    fuzzy: frozenset[str] = frozenset()

    def factors(self) -> dict[str, float]:
        out = {t: 0.5 for t in self.fuzzy}
        out.update({t: 0.7 for t in self.synonyms})
        out.update({t: 1.0 for t in self.exact})
        return out

    def alternatives(self) -> list[str]:
        """Every token that satisfies the group, the word itself first."""
        return sorted(self.exact) + sorted(self.synonyms - self.exact) + sorted(self.fuzzy - self.exact - self.synonyms)


def _known_phrase(stems: list[str], i: int) -> tuple[tuple[str, ...], set[tuple[str, ...]], bool] | None:
    """The set phrase or synonym starting at stems[i]: (what was typed, its set, whether the set's
    alternatives match as whole phrases). Set phrases are looked for first: they are the more specific."""
    for sets, as_phrases in ((_PHRASES, True), (_SYNONYMS, False)):
        for synonym_set in sets:
            for phrase in sorted(synonym_set, key=len, reverse=True):
                if phrase and tuple(stems[i:i + len(phrase)]) == phrase:
                    return phrase, synonym_set, as_phrases
    return None


def _group(stems: list[str], i: int) -> tuple[QueryGroup, int]:
    """The group starting at stems[i], and how many stems it takes."""
    known = _known_phrase(stems, i)
    if known is None:
        typed, members = (stems[i],), [(stems[i],)]
        exact, synonyms = {stems[i]}, set()
    else:
        typed, members, as_phrases = known
        # A synonym's multi-word alternative counts through its first, most specific word; a set phrase as a whole.
        spell = " ".join if as_phrases else (lambda phrase: phrase[0])
        exact, synonyms = {spell(typed)}, {spell(p) for p in members if p}
    synonyms |= {b for member in members for b in _BROADER.get(member, ())}
    return QueryGroup(" ".join(typed), frozenset(exact), frozenset(synonyms - exact)), len(typed)


@functools.lru_cache(maxsize=4096)  # residents repeat searches; stemming each time costs more than the lookup
def parse_query(text: str) -> tuple[QueryGroup, ...]:
    """Split a query into AND-ed groups, folding known phrases and synonyms together."""
    stems = tokens(text)
    groups: list[QueryGroup] = []
    i = 0
    while i < len(stems):
        group, taken = _group(stems, i)
        groups.append(group)
        i += taken
    return tuple(groups)


class SearchIndex:
    """The full-text engine behind `service_search`, per dialect. Rows are keyed by
    SearchDocument.key; `hits` gives (key, rank) for a query, higher rank first."""

    def replace(self, session: Session, key: int, doc: Document) -> None:
        """Index `doc` under `key`, or remove the entry if the service is not listed."""
        raise NotImplementedError

    def hits(self, groups: list[QueryGroup], facets: list[str] = (), *, materialized: bool = True) -> sa.CTE:
        """Services matching every group and carrying every facet token. Materialised: matched
        once by the engine, never probed row by row from the service side of a join."""
        raise NotImplementedError

    def count(self, session: Session, groups: list[QueryGroup], facets: list[str] = ()) -> int:
        """How many services `hits` would give, without ranking them."""
        raise NotImplementedError

    def vocabulary(self, session: Session) -> list[str]:
        raise NotImplementedError

    @staticmethod
    def for_session(session: Session) -> "SearchIndex":
        return _POSTGRES if session.get_bind().dialect.name == "postgresql" else _SQLITE


def _bm25_per_field() -> str:
    """FTS5's bm25 of each weighted field on its own, added up (negated: FTS5 ranks lower = better).
    One bm25 over the whole row saturates the weighted count of a word's hits, scaled by the row's
    length, so a short listing with the word in its name and labels ("Carers' employment
    support") beat one with it in its name, labels and description ("Working Well employment
    advice") for "employment". Scored field by field, each field where the word is found counts,
    as in PostgreSQL's ts_rank. The engine computes it: no row's text is read in Python."""
    columns = [*FIELD_WEIGHTS, "facets"]  # facets weigh 0 in every call
    return "-(" + " + ".join(
        "bm25(service_search, " + ", ".join(str(FIELD_WEIGHTS[c] if c == field else 0.0) for c in columns) + ")"
        for field in FIELD_WEIGHTS) + ")"


class SqliteIndex(SearchIndex):
    """FTS5: rowid = key; ranked by bm25 field by field (_bm25_per_field)."""

    RELEVANCE = _bm25_per_field()

    CREATE = "CREATE VIRTUAL TABLE service_search USING fts5(name, labels, body, facets, tokenize = 'unicode61')"
    DROP = "DROP TABLE IF EXISTS service_search"

    def replace(self, session: Session, key: int, doc: Document) -> None:
        session.execute(sa.text("DELETE FROM service_search WHERE rowid = :key"), {"key": key})
        if doc.listed:
            session.execute(sa.text("INSERT INTO service_search (rowid, name, labels, body, facets) "
                                    "VALUES (:key, :name, :labels, :body, :facets)"),
                            {"key": key, "name": doc.name, "labels": doc.labels, "body": doc.body,
                             "facets": doc.facets})

    @staticmethod
    def _expression(groups: list[QueryGroup], facets: list[str]) -> str:
        # Repeating a phrase in an FTS5 query adds its bm25 term again: the word itself counts double.
        return " AND ".join(
            ["(" + " OR ".join(f'"{t}"' for t in [*sorted(g.exact), *g.alternatives()]) + ")" for g in groups]
            + [f'facets : "{facet}"' for facet in facets])

    def hits(self, groups: list[QueryGroup], facets: list[str] = (), *, materialized: bool = True) -> sa.CTE:
        expression = self._expression(groups, facets)
        # Each word itself in the name: the index answers `name : "word"` from its posting lists (set
        # once per query), without reading any row's text.
        named = {f"named{i}": "name : (" + " OR ".join(f'"{t}"' for t in sorted(g.exact)) + ")"
                 for i, g in enumerate(groups)}
        in_name = " + ".join(f"(rowid IN (SELECT rowid FROM service_search WHERE service_search MATCH :named{i}))"
                             for i in range(len(groups))) or "0"
        query = (sa.text(f"SELECT rowid AS key, {NAME_BONUS} * ({in_name}) + {self.RELEVANCE} AS rank "
                         "FROM service_search WHERE service_search MATCH :expression")
                 .bindparams(expression=expression, **named).columns(key=sa.Integer, rank=sa.Float))
        return _cte(query, materialized)

    def count(self, session: Session, groups: list[QueryGroup], facets: list[str] = ()) -> int:
        return session.scalar(sa.text("SELECT count(*) FROM service_search WHERE service_search MATCH :expression"),
                              {"expression": self._expression(groups, facets)})

    def vocabulary(self, session: Session) -> list[str]:
        session.execute(sa.text("CREATE VIRTUAL TABLE IF NOT EXISTS temp.service_search_terms "
                                "USING fts5vocab(main, service_search, 'row')"))
        return list(session.scalars(sa.text("SELECT term FROM temp.service_search_terms")))


class PostgresIndex(SearchIndex):
    """tsvector of the stems ('simple' configuration: no further stemming), weighted A/B/C
    for name/labels/body and D for facets; ts_rank of the whole query plus of the words themselves."""

    CREATE = ("CREATE TABLE service_search (key integer PRIMARY KEY REFERENCES search_document (key) "
              "ON DELETE CASCADE, document tsvector NOT NULL)",
              "CREATE INDEX ix_service_search_document ON service_search USING gin (document)")
    DROP = "DROP TABLE IF EXISTS service_search"
    _VECTOR = ("setweight(to_tsvector('simple', :name), 'A') || setweight(to_tsvector('simple', :labels), 'B') "
               "|| setweight(to_tsvector('simple', :body), 'C') || setweight(to_tsvector('simple', :facets), 'D')")
    _RANK_WEIGHTS = "'{0, %s, %s, 1}'" % (FIELD_WEIGHTS["body"] / FIELD_WEIGHTS["name"],
                                           FIELD_WEIGHTS["labels"] / FIELD_WEIGHTS["name"])

    def replace(self, session: Session, key: int, doc: Document) -> None:
        if not doc.listed:
            session.execute(sa.text("DELETE FROM service_search WHERE key = :key"), {"key": key})
            return
        session.execute(sa.text(f"INSERT INTO service_search (key, document) VALUES (:key, {self._VECTOR}) "
                                "ON CONFLICT (key) DO UPDATE SET document = excluded.document"),
                        {"key": key, "name": doc.name, "labels": doc.labels, "body": doc.body, "facets": doc.facets})

    @staticmethod
    def _every(groups: list[QueryGroup]) -> str:
        return " & ".join("(" + " | ".join(map(_tsquery, g.alternatives())) + ")" for g in groups)

    def _matches(self, groups: list[QueryGroup], facets: list[str]) -> str:
        # Facets are the D-weighted lexemes (rank weight 0); `:D` matches them only there.
        return " & ".join([f"({self._every(groups)})", *(f"{facet}:D" for facet in facets)])

    def hits(self, groups: list[QueryGroup], facets: list[str] = (), *, materialized: bool = True) -> sa.CTE:
        every, matches = self._every(groups), self._matches(groups, facets)
        words = " & ".join("(" + " | ".join(map(_tsquery, sorted(g.exact))) + ")" for g in groups)
        # The name is the A-weighted part of the document: `word:A` is the word in the name.
        named = {f"named{i}": " | ".join(_tsquery(t, ":A") for t in sorted(g.exact)) for i, g in enumerate(groups)}
        in_name = " + ".join(f"(document @@ to_tsquery('simple', :named{i}))::int" for i in range(len(groups))) or "0"
        query = (sa.text(f"SELECT key, {NAME_BONUS} * ({in_name}) "
                         f"+ ts_rank({self._RANK_WEIGHTS}, document, to_tsquery('simple', :every)) "
                         f"+ ts_rank({self._RANK_WEIGHTS}, document, to_tsquery('simple', :words)) AS rank "
                         "FROM service_search WHERE document @@ to_tsquery('simple', :matches)")
                 .bindparams(every=every, words=words, matches=matches, **named).columns(key=sa.Integer, rank=sa.Float))
        return _cte(query, materialized)

    def count(self, session: Session, groups: list[QueryGroup], facets: list[str] = ()) -> int:
        return session.scalar(sa.text("SELECT count(*) FROM service_search WHERE document @@ to_tsquery('simple', :matches)"),
                              {"matches": self._matches(groups, facets)})

    def vocabulary(self, session: Session) -> list[str]:
        return list(session.scalars(sa.text("SELECT word FROM ts_stat('SELECT document FROM service_search')")))


def _tsquery(token: str, weight: str = "") -> str:
    """A token for to_tsquery: a phrase's stems must follow one another (`<->`), as FTS5's "a b" does."""
    if " " not in token:
        return token + weight
    return "(" + " <-> ".join(word + weight for word in token.split()) + ")"


def _cte(query: sa.TextClause, materialized: bool) -> sa.CTE:
    cte = query.cte("hits")
    return cte.prefix_with("MATERIALIZED") if materialized else cte


_SQLITE, _POSTGRES = SqliteIndex(), PostgresIndex()


class Vocabulary:
    """Distinct indexed tokens, cached briefly per process, for near-miss suggestions."""

    TTL_SECONDS = 60.0

    def __init__(self):
        self._by_initial: dict[str, list[str]] = {}
        self._set: frozenset[str] = frozenset()
        self._loaded_at = -1e9
        self._lock = threading.Lock()

    def load(self, session: Session) -> frozenset[str]:
        with self._lock:
            if time.monotonic() - self._loaded_at > self.TTL_SECONDS:
                tokens = SearchIndex.for_session(session).vocabulary(session)
                self._set = frozenset(tokens)
                self._by_initial = _by_initial(tokens)
                self._loaded_at = time.monotonic()
            return self._set

    def invalidate(self) -> None:
        with self._lock:
            self._loaded_at = -1e9

    def close_matches(self, token: str) -> list[str]:
        """Indexed words spelt nearly like `token`, starting with the same letter (people rarely
        mistype the first one; "lonely" is not "one") and at least as long as a near miss is
        looked for: only the words under its initial are compared, never the whole vocabulary."""
        if len(token) < NEAR_MISS_LENGTH:
            return []
        return difflib.get_close_matches(token, self._by_initial.get(token[0], []), n=3, cutoff=0.8)


NEAR_MISS_LENGTH = 4  # shorter words (abbreviations: "ot", "uc") are too close to too many others
_FACET = re.compile(r"[tx][0-9a-f]{32}")


def _by_initial(tokens: Sequence[str]) -> dict[str, list[str]]:
    """The words a near miss may be, by first letter (facet tokens are not words)."""
    out: dict[str, list[str]] = {}
    for token in tokens:
        if len(token) >= NEAR_MISS_LENGTH and not _FACET.fullmatch(token):
            out.setdefault(token[0], []).append(token)
    return out


def _is_known(token: str, known: frozenset[str]) -> bool:
    return all(word in known for word in token.split())


VOCABULARY = Vocabulary()


def with_near_misses(session: Session, groups: Sequence[QueryGroup]) -> tuple[list[QueryGroup], list[str]]:
    """The groups widened with close spellings, and the words left out: a word no listing uses,
    nor anything close to it, could only empty the results, so it is dropped - unless every
    word is like that, when nothing matches (rather than everything)."""
    known = VOCABULARY.load(session)
    widened, unknown = [], []
    for group in groups:
        if any(_is_known(token, known) for token in group.exact | group.synonyms):
            widened.append(group)
            continue
        near = {m for token in group.exact if " " not in token for m in VOCABULARY.close_matches(token)}
        group = QueryGroup(group.word, group.exact, group.synonyms, frozenset(near))
        (widened if near else unknown).append(group)
    if not widened:
        return unknown, []
    return widened, [g.word for g in unknown]


@dataclass(frozen=True)
class Search:
    """A parsed query and the facets it must carry, against one session's engine."""

    groups: tuple[QueryGroup, ...]
    facets: tuple[str, ...]
    index: SearchIndex
    ignored: tuple[str, ...] = ()  # words of the query no listing uses (stems), left out

    def hits(self, *, materialized: bool = True) -> sa.CTE:
        """(key, rank) of services matching every group and facet; join through SearchDocument.key."""
        return self.index.hits(list(self.groups), list(self.facets), materialized=materialized)

    def count(self, session: Session) -> int:
        return self.index.count(session, list(self.groups), list(self.facets))


def words_left_out(text: str, ignored: Sequence[str]) -> list[str]:
    """The words of `text` as typed whose stems the search left out (Search.ignored), each once."""
    stems = {s for phrase in ignored for s in phrase.split()}
    return list(dict.fromkeys(w for w in words(text) if w not in STOP_WORDS and stem(w) in stems))


def prepare(session: Session, text: str, facets: list[str] = ()) -> Search | None:
    """The search for `text` (near misses widened), or None when it has no searchable words."""
    groups, ignored = with_near_misses(session, parse_query(text))
    return Search(tuple(groups), tuple(facets), SearchIndex.for_session(session), tuple(ignored)) if groups else None


def index_every_service(bind) -> None:
    """(Re)build the entry of every service, reading with plain SQL (for migrations, which run
    against the schema of their revision, not the app's models): a key for each service that
    lacks one, then each entry replaced - listed services indexed, the others left out."""
    index = _POSTGRES if bind.dialect.name == "postgresql" else _SQLITE
    terms: dict = {}
    for service_id, name, term_id, taxonomy_id in bind.execute(sa.text(
            "SELECT st.service_id, tt.name, tt.id, tt.taxonomy_id "
            "FROM service_term st JOIN taxonomy_term tt ON tt.id = st.taxonomy_term_id")):
        terms.setdefault(service_id, []).append((name, term_id, taxonomy_id))
    bind.execute(sa.text("INSERT INTO search_document (service_id) SELECT id FROM service s "
                         "WHERE NOT EXISTS (SELECT 1 FROM search_document d WHERE d.service_id = s.id)"))
    session, parents = Session(bind=bind), term_parents(bind)
    for key, service_id, name, description, how_to, status in bind.execute(sa.text(
            "SELECT d.key, s.id, s.name, s.description, s.application_process, s.status "
            "FROM search_document d JOIN service s ON s.id = d.service_id")).all():
        mine = terms.get(service_id, [])
        index.replace(session, key, document(
            name=name, description=description, how_to=how_to, labels=[t[0] for t in mine],
            listed=status in LISTED, term_ids=[t[1] for t in mine], taxonomy_ids=[t[2] for t in mine],
            parents=parents))


def reindex(session: Session, service) -> None:
    """Replace a service's index entry (call after any change to its text or terms)."""
    key = session.scalar(sa.select(SearchDocument.key).where(SearchDocument.service_id == service.id))
    if key is None:
        key = session.scalar(sa.insert(SearchDocument).values(service_id=service.id).returning(SearchDocument.key))
    doc = document(name=service.name, description=service.description, how_to=service.application_process,
                   labels=[a.term.name for a in service.attributes], listed=service.status in LISTED,
                   term_ids=[a.taxonomy_term_id for a in service.attributes],
                   taxonomy_ids=[a.term.taxonomy_id for a in service.attributes],
                   parents=term_parents(session) if service.attributes else None)
    SearchIndex.for_session(session).replace(session, key, doc)
    VOCABULARY.invalidate()
