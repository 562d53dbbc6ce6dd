"""Does a piece of employer-facing text name a condition the patient keeps private?

Free of Flask and of the database. A private condition is read as words, not as one string:
- each significant word of its name (the clinician's wording and the library's name) matches
  the forms of that word ("diabetes" -> "diabetic", "depression" -> "depressive", "epilepsy" ->
  "epileptic"): words are compared by stem, and a stem matches a longer one it starts;
- each of the library's synonyms matches as a whole phrase, word for word or plural ("low mood",
  "panic attack"; 'operation' is a synonym, 'operating machinery' is not it);
- a short name (three letters or fewer) matches only as a whole word; an abbreviation (written
  in capitals, or a short library synonym) only as a whole word in capitals, so "MS" is caught
  and "Ms Patel" or "call me" is not.
Words that only describe a kind of condition or a functional effect ("type", "disorder", "back",
"pain", "hearing", "fatigue": the words the clinician is asked to use instead) are not
significant on their own, so "Low back pain" does not refuse "back to work"; the whole name and a
synonym of several words still match as phrases ("low back pain", "hearing loss", "chronic fatigue").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

# Words that name no particular condition: kinds, degrees, time, body-neutral fillers.
GENERIC_WORDS = frozenset("""
a an and or of the in on to for with without after before its it their from by at as post pre
type types i ii 1 2 3 disorder disorders disease diseases syndrome syndromes condition conditions
illness illnesses problem problems chronic acute severe mild moderate general generalised generalized
related recovery recovering treatment treatments replacement symptom symptoms episode episodes
low high long short term left right upper lower back work job loss impairment injury injuries
health medical issue issues difficulty difficulties
""".split())

# The functional-effect vocabulary (the library's limitation names and their forms, and the body parts
# advice is about: "no lifting above shoulder height", "no kneeling"): describing the effect is what
# the clinician is asked to do, so these words alone never count as naming a condition.
EFFECT_WORDS = frozenset("""
fatigue tired tiredness tires stamina concentration concentrating concentrate memory organising planning
prioritising stress stressed stressful emotions emotional interacting sleep sleeping disturbance lifting
carrying standing sitting walking moving bending reaching hands hand fingers travelling travel temperature
seeing sight hearing hear speaking communicating communication reading writing pain painful persistent
attending toilet driving balance dizziness dizzy sensitivity noise light busy places infection breathlessness
breathless screen meals medication monitoring safety
neck shoulder shoulders knee knees kneel kneeling hip hips wrist wrists arm arms leg legs foot feet ankle ankles
elbow elbows joint joints
""".split())

_WORD = re.compile(r"[^\W_]+")  # letters and digits of any script
_SUFFIXES = ("ically", "ation", "ness", "iety", "ity", "ious", "ous", "ive", "ion", "ing", "ed", "ic", "es", "s",
             "al", "y", "a", "e")
SHORT = 3


def words(text: str) -> list[str]:
    """The words of `text` as written; a possessive or an apostrophe does not split a word's stem. Read without
    accents, compatibility forms or invisible characters: letters outside A-Z split a name into fragments, so a
    private "Ménière's disease" missed "Meniere's" and refused "re-arrange" ("re"), and full-width letters or a
    soft hyphen inside a word ("depres\u00adsion", printed as one word) hid it."""
    return _WORD.findall(_plain(text).replace("\u2019", "'").replace("'s", "").replace("'", ""))


def _plain(text: str) -> str:
    """Compatibility forms folded (full-width letters, ligatures), accents and format characters dropped."""
    if text.isascii():  # nothing to fold: most text, and the character-by-character walk was half the check
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if unicodedata.category(c) not in ("Mn", "Cf"))


@lru_cache(maxsize=4096)
def stem(word: str) -> str:
    """A crude English stem, enough to join a condition's noun and adjective."""
    word = word.lower()
    if len(word) < 6:
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix):
            base = word[:-len(suffix)] + ("i" if suffix == "iety" else "")  # anxiety, anxious: anxi
            if len(base) >= 4:
                return base
    return word


def _same_stem(a: str, b: str) -> bool:
    """Equal, or one starts the other (at least 5 letters, at most 3 more: 'asthm'/'asthmat'), or
    they share all but the last letter of the shorter (at least 6: 'epileps'/'epilept')."""
    if a == b:
        return True
    shorter, longer = (a, b) if len(a) <= len(b) else (b, a)
    if len(shorter) >= 5 and len(longer) - len(shorter) <= 3 and longer.startswith(shorter):
        return True  # not 'park' (parking) in 'parkinson', nor 'hear' (hearing) in 'heart'
    return len(shorter) >= 7 and longer.startswith(shorter[:-1])


@dataclass(frozen=True)
class _Word:
    """One word of a private condition's name or synonym, and how it may be written."""

    text: str  # lower case
    abbreviation: bool = False  # matches only a whole word in capitals
    exact: bool = False  # a synonym's word: itself or its plural only ('operation', not 'operating')

    def matches(self, word: str) -> bool:
        if self.abbreviation:
            return word.isupper() and word.lower() == self.text
        if self.exact or len(self.text) <= SHORT or len(word) <= SHORT:
            word = word.lower()  # itself, its plural, or for a long plural its singular (not 'fits' -> 'fit')
            return word == self.text or word in (self.text + "s", self.text + "es") or (
                len(self.text) >= 6 and self.text in (word + "s", word + "es"))
        return _same_stem(stem(self.text), stem(word))


class PrivateTerms:
    """The words and phrases that would name any of the given private conditions."""

    def __init__(self, names: Iterable[str], synonyms: Iterable[str] = ()):
        terms: set[tuple[_Word, ...]] = set()
        for name in names:
            name_words = words(name)
            for word in name_words:
                if word.lower() in GENERIC_WORDS or word.lower() in EFFECT_WORDS or word.isdigit():
                    continue
                terms.add((_Word(word.lower(), abbreviation=len(word) <= SHORT and word.isupper()),))
            if len(name_words) > 1:  # and the whole name, whatever its words ('hearing loss')
                terms.add(tuple(_Word(w.lower(), len(w) <= SHORT and w.isupper()) for w in name_words))
        for synonym in synonyms:
            phrase = tuple(w.lower() for w in words(synonym))
            # A one-word synonym that only names an effect ('stress', 'dizziness') is not significant;
            # a phrase is ('chronic fatigue', 'low mood').
            if not phrase or (len(phrase) == 1 and (phrase[0] in GENERIC_WORDS or phrase[0] in EFFECT_WORDS)):
                continue
            # The library writes its synonyms in lower case: a short one ('ms', 'ra') is an abbreviation.
            abbreviation = len(phrase) == 1 and len(phrase[0]) <= SHORT
            terms.add(tuple(_Word(w, abbreviation, exact=True) for w in phrase))
        # Every match shares its first letter with the term's first word: look terms up by it.
        self._by_letter: dict[str, list[tuple[_Word, ...]]] = {}
        for term in sorted(terms, key=lambda t: (-len(t), [w.text for w in t])):
            self._by_letter.setdefault(term[0].text[0], []).append(term)

    def __bool__(self) -> bool:
        return bool(self._by_letter)

    def named_in(self, text: str) -> list[str]:
        """The words of `text` (as written there, lower case) that name a private condition."""
        text_words = words(text)
        found = []
        for i, word in enumerate(text_words):
            for term in self._by_letter.get(word[0].lower(), ()):
                if i + len(term) <= len(text_words) and all(
                        part.matches(text_words[i + n]) for n, part in enumerate(term)):
                    found.append(" ".join(text_words[i:i + len(term)]).lower())
                    break
        return list(dict.fromkeys(found))
