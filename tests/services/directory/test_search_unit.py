"""Unit tests of the query language (pure functions, no database)."""

import uuid

from worklink_directory import search
from worklink_directory.geocode import OfflineGeocoder, Point, PostcodeError, distance_metres, normalise_postcode


def test_uk_and_us_spellings_share_a_stem():
    assert search.tokens("counseling behavior organization") == search.tokens("counselling behaviour organisation")


def test_phrases_and_synonyms_fold_into_one_required_group():
    groups = search.parse_query("mental health support in Taunton")
    assert [g.word for g in groups] == ["mental health", "taunton"]
    assert groups[0].exact == {"mental"} and "wellb" in groups[0].synonyms
    assert search.parse_query("wellbeing")[0].synonyms >= {"mental"}


def test_the_word_itself_outranks_its_synonyms_and_near_misses():
    group = search.QueryGroup("x", frozenset({"counsel"}), frozenset({"therapi"}), frozenset({"counsell"}))
    assert group.factors() == {"counsel": 1.0, "therapi": 0.7, "counsell": 0.5}


def test_documents_hold_stems_per_weighted_field_and_filter_facets():
    term, taxonomy = uuid.UUID(int=1), uuid.UUID(int=2)
    doc = search.document(name="Debt advice", description="Help with debts.", how_to="Phone us",
                          labels=["Debt and money advice"], term_ids=[term], taxonomy_ids=[taxonomy, taxonomy])
    assert doc == search.Document(name="debt advic", labels="debt money advic", body="debt phone us",
                                  facets=f"t{term.hex} x{taxonomy.hex}", listed=True)
    assert search.document(name="x", description=None, how_to=None, labels=[], listed=False).listed is False
    assert search.FIELD_WEIGHTS == {"name": 3.0, "labels": 2.0, "body": 1.0}


def test_the_word_itself_is_doubled_in_the_fts5_query_and_separated_on_postgresql():
    groups, facets = search.parse_query("counselling debt"), ["listed", "t0a"]
    fts5 = search.SqliteIndex().hits(groups, facets).element.compile().params["expression"]
    assert fts5 == ('("counsel" OR "counsel" OR "talk" OR "therapi") AND ("debt" OR "debt" OR "arrear" OR "money") '
                    'AND facets : "listed" AND facets : "t0a"')
    params = search.PostgresIndex().hits(groups, facets).element.compile().params
    assert params == {"every": "(counsel | talk | therapi) & (debt | arrear | money)", "words": "(counsel) & (debt)",
                      "matches": "((counsel | talk | therapi) & (debt | arrear | money)) & listed:D & t0a:D",
                      "named0": "counsel:A", "named1": "debt:A"}  # each word itself in the (A-weighted) name
    named = search.SqliteIndex().hits(groups, facets).element.compile().params
    assert (named["named0"], named["named1"]) == ('name : ("counsel")', 'name : ("debt")')  # the word in the name


def test_words_no_listing_uses_are_left_out_unless_every_word_is(monkeypatch):
    monkeypatch.setattr(search.VOCABULARY, "load", lambda session: frozenset({"money", "debt", "job"}))
    monkeypatch.setattr(search.VOCABULARY, "close_matches", lambda token: ["job"] if token == "jobb" else [])
    groups, ignored = search.with_near_misses(None, search.parse_query("money worries jobb"))
    assert [g.word for g in groups] == ["money", "jobb"] and ignored == ["worri"]  # a near miss is kept
    groups, ignored = search.with_near_misses(None, search.parse_query("xylophone zebra"))
    assert [g.word for g in groups] == ["xylophon", "zebra"] and ignored == []  # nothing matches, not everything
