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
    assert fts5 == ('("counsel" OR "counsel" OR "talk therapi" OR "therapi") AND ("debt" OR "debt" OR "arrear" OR '
                    '"money") AND facets : "listed" AND facets : "t0a"')
    params = search.PostgresIndex().hits(groups, facets).element.compile().params
    assert params == {"every": "(counsel | (talk <-> therapi) | therapi) & (debt | arrear | money)",
                      "words": "(counsel) & (debt)",
                      "matches": "((counsel | (talk <-> therapi) | therapi) & (debt | arrear | money)) "
                                 "& listed:D & t0a:D",
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


def test_a_set_phrase_matches_as_a_whole_phrase_on_both_engines():
    groups = search.parse_query("ESA")
    assert groups[0].exact == {"esa"} and groups[0].synonyms == {"employ allow"}  # "employment and support allowance"
    fts5 = search.SqliteIndex().hits(groups).element.compile().params["expression"]
    assert fts5 == '("esa" OR "esa" OR "employ allow")'  # an FTS5 string of two words is a phrase
    params = search.PostgresIndex().hits(groups).element.compile().params
    assert params["every"] == "(esa | (employ <-> allow))"
    named = search.PostgresIndex().hits(search.parse_query("job centre")).element.compile().params["named0"]
    assert named == "(job:A <-> centr:A)"


def test_narrower_words_also_find_broader_support_one_way():
    assert "condit" in search.parse_query("cancer")[0].synonyms
    assert "condit" in search.parse_query("long covid")[0].synonyms
    assert "cancer" not in search.parse_query("condition")[0].synonyms


def test_words_the_stemmer_would_fold_together_stay_apart():
    assert search.tokens("employer employers") == ["employer", "employer"]
    assert search.tokens("employment employed") == ["employ", "employ"]
    assert search.tokens("Carer's allowance, Men’s group") == search.tokens("carers allowance mens group")


def test_a_near_miss_starts_with_the_same_letter_and_is_a_word():
    vocabulary = search.Vocabulary()
    vocabulary._by_initial = search._by_initial(["one", "alon", "health", "helper", "t" + "0" * 32])
    assert vocabulary.close_matches("lone") == []  # not "one" (too short to be a near miss) nor "alon"
    assert vocabulary.close_matches("helth") == ["health"]
    assert vocabulary.close_matches("t" + "0" * 31 + "1") == []  # facet tokens are never suggested
    assert vocabulary.close_matches("ot") == []


def test_the_words_left_out_are_named_as_typed():
    assert search.words_left_out("Autism and employment", ["autism"]) == ["autism"]
    assert search.words_left_out("over 50s work over", ["over", "50s"]) == ["over", "50s"]
