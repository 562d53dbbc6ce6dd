"""Full-text search over services: stemming, UK/US spelling, synonyms, near-misses, ranking.

The index is an ordinary table (`search_token`: token, service_id, weight) rather
than SQLite FTS5 or a PostgreSQL tsvector, so one implementation ranks the same way
on both databases and the schema stays plain tables that migrations fully describe.
Words are lower-cased, US spellings mapped to UK ones, stop words dropped and the
rest stemmed with the Snowball English stemmer. A service's weight for a token is
the sum over fields: name 3, taxonomy labels 2, description and how-to-get-help 1.

A query becomes a list of groups, one per word (or known phrase); a service must
match every group (AND), and any token of a group counts for it: the word itself,
its synonyms, and - when the word is not in the index at all - close spellings
from the index's vocabulary at half weight.
"""

from __future__ import annotations

import difflib
import re
import threading
import time
from dataclasses import dataclass

import snowballstemmer
import sqlalchemy as sa
from sqlalchemy.orm import Session

from worklink_directory.models import SearchToken

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
    {"counselling", "therapy", "talking therapies"},
    {"job", "employment", "work"},
    {"cv", "resume"},
    {"debt", "money", "arrears"},
    {"benefits", "universal credit"},
    {"skills", "training", "courses"},
    {"anxiety", "stress"},
]


def stem(word: str) -> str:
    word = UK_SPELLING.get(word, word)
    with _STEM_LOCK:
        return _STEMMER.stemWord(word)


def words(text: str | None) -> list[str]:
    return [w for w in _WORD.findall((text or "").lower().replace("well-being", "wellbeing"))]


def tokens(text: str | None) -> list[str]:
    return [stem(w) for w in words(text) if w not in STOP_WORDS]


def document_weights(*, name: str, description: str | None, how_to: str | None,
                     labels: list[str]) -> dict[str, float]:
    """The index rows of one service: token -> summed field weight."""
    weights: dict[str, float] = {}
    for text, weight in ((name, 3.0), (" ".join(labels), 2.0), (description, 1.0), (how_to, 1.0)):
        for token in tokens(text):
            weights[token[:64]] = weights.get(token[:64], 0.0) + weight
    return weights


def _phrase_tokens(phrase: str) -> tuple[str, ...]:
    return tuple(tokens(phrase))


_SYNONYMS: list[set[tuple[str, ...]]] = [{_phrase_tokens(p) for p in group} for group in SYNONYM_SETS]


@dataclass(frozen=True)
class QueryGroup:
    """One required part of a query, matched by the word itself (full weight), a synonym
    (0.7) or, for a word the index does not know, a close spelling (0.5)."""

    word: str
    exact: frozenset[str]
    synonyms: frozenset[str] = frozenset()
    fuzzy: frozenset[str] = frozenset()

    def factors(self) -> dict[str, float]:
        out = {t: 0.5 for t in self.fuzzy}
        out.update({t: 0.7 for t in self.synonyms})
        out.update({t: 1.0 for t in self.exact})
        return out


def parse_query(text: str) -> list[QueryGroup]:
    """Split a query into AND-ed groups, folding known phrases and synonyms together."""
    stems = tokens(text)
    groups: list[QueryGroup] = []
    i = 0
    while i < len(stems):
        matched = None
        for synonym_set in _SYNONYMS:
            for phrase in sorted(synonym_set, key=len, reverse=True):
                if phrase and tuple(stems[i:i + len(phrase)]) == phrase:
                    matched = (phrase, synonym_set)
                    break
            if matched:
                break
        if matched:
            phrase, synonym_set = matched
            # A multi-word alternative counts through its first, most specific word.
            groups.append(QueryGroup(" ".join(phrase), frozenset([phrase[0]]),
                                     frozenset(p[0] for p in synonym_set if p) - {phrase[0]}))
            i += len(phrase)
        else:
            groups.append(QueryGroup(stems[i], frozenset([stems[i]])))
            i += 1
    return groups


class Vocabulary:
    """Distinct indexed tokens, cached briefly per process, for near-miss suggestions."""

    TTL_SECONDS = 60.0

    def __init__(self):
        self._tokens: list[str] = []
        self._set: frozenset[str] = frozenset()
        self._loaded_at = -1e9
        self._lock = threading.Lock()

    def load(self, session: Session) -> frozenset[str]:
        with self._lock:
            if time.monotonic() - self._loaded_at > self.TTL_SECONDS:
                self._tokens = list(session.scalars(sa.select(SearchToken.token).distinct()))
                self._set = frozenset(self._tokens)
                self._loaded_at = time.monotonic()
            return self._set

    def invalidate(self) -> None:
        with self._lock:
            self._loaded_at = -1e9

    def close_matches(self, token: str) -> list[str]:
        if len(token) < 4:
            return []
        return difflib.get_close_matches(token, self._tokens, n=3, cutoff=0.8)


VOCABULARY = Vocabulary()


def with_near_misses(session: Session, groups: list[QueryGroup]) -> list[QueryGroup]:
    known = VOCABULARY.load(session)
    widened = []
    for group in groups:
        if (group.exact | group.synonyms) & known:
            widened.append(group)
        else:
            near = {m for token in group.exact for m in VOCABULARY.close_matches(token)}
            widened.append(QueryGroup(group.word, group.exact, group.synonyms, frozenset(near)))
    return widened


def scored_services(groups: list[QueryGroup], among: sa.Select | None = None) -> sa.Subquery:
    """(service_id, score) of services matching every group, as a subquery.

    A group scores its best-matching token (weight x factor), so a listing that names
    the very word beats one that merely mentions several synonyms. `among` (a SELECT of
    service ids) narrows the scan to services that pass the other filters first.
    """
    token = SearchToken.token
    group_of, factor = [], []
    for index, group in enumerate(groups):
        for t, f in group.factors().items():
            group_of.append((token == t, index))
            factor.append((token == t, f))
    every = {t for g in groups for t in g.factors()}
    tagged = (sa.select(SearchToken.service_id, sa.case(*group_of).label("grp"),
                        (SearchToken.weight * sa.case(*factor, else_=0.0)).label("weighted"))
              .where(token.in_(every), *([SearchToken.service_id.in_(among)] if among is not None else []))
              .subquery("tagged"))
    per_group = (sa.select(tagged.c.service_id, tagged.c.grp, sa.func.max(tagged.c.weighted).label("best"))
                 .group_by(tagged.c.service_id, tagged.c.grp)
                 .subquery("per_group"))
    return (sa.select(per_group.c.service_id, sa.func.sum(per_group.c.best).label("score"))
            .group_by(per_group.c.service_id)
            .having(sa.func.count() == len(groups))
            .subquery("scored"))


def reindex(session: Session, service) -> None:
    """Replace a service's index rows (call after any change to its text or terms)."""
    session.execute(sa.delete(SearchToken).where(SearchToken.service_id == service.id))
    weights = document_weights(name=service.name, description=service.description,
                               how_to=service.application_process,
                               labels=[a.term.name for a in service.attributes])
    if weights:
        session.execute(sa.insert(SearchToken), [
            {"token": t, "service_id": service.id, "weight": w} for t, w in weights.items()])
    VOCABULARY.invalidate()
