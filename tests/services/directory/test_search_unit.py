"""Unit tests of the query language (pure functions, no database)."""

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


def test_documents_hold_stems_per_weighted_field():
    doc = search.document(name="Debt advice", description="Help with debts.", how_to="Phone us",
                          labels=["Debt and money advice"])
    assert doc == search.Document(name="debt advic", labels="debt money advic", body="debt phone us")
    assert search.FIELD_WEIGHTS == {"name": 3.0, "labels": 2.0, "body": 1.0}


def test_the_word_itself_is_doubled_in_the_fts5_query_and_separated_on_postgresql():
    groups = search.parse_query("counselling debt")
    fts5 = search.SqliteIndex().hits(groups).element.compile().params["expression"]
    assert fts5 == '("counsel" OR "counsel" OR "talk" OR "therapi") AND ("debt" OR "debt" OR "arrear" OR "money")'
    params = search.PostgresIndex().hits(groups).element.compile().params
    assert params == {"every": "(counsel | talk | therapi) & (debt | arrear | money)", "words": "(counsel) & (debt)"}


def test_postcodes_are_normalised_and_checked():
    assert normalise_postcode(" ta11aa ") == "TA1 1AA"
    for bad in ("", "TA1", "12345", "TA1 1A"):
        try:
            normalise_postcode(bad)
        except PostcodeError:
            continue
        raise AssertionError(bad)
    geocoder = OfflineGeocoder({"TA1": Point(51.0, -3.1)})
    assert geocoder.locate("TA1 9ZZ") == Point(51.0, -3.1)  # outcode centroid


def test_distance_of_one_degree_of_latitude():
    assert 111_000 < distance_metres(Point(51, -3), Point(52, -3)) < 111_400
