"""Search quality on the shipped demo directory, as residents phrase things (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from tests.services.directory.conftest import make_app
from worklink_directory.seed import load_demo_data


@pytest.fixture()
def demo(database_url, tmp_path):
    app = make_app(database_url, tmp_path)
    load_demo_data(app.extensions["worklink"].settings)
    return app.test_client()


def first_names(client, words: str, n: int = 3) -> list[str]:
    body = client.get("/services", query_string={"search": words, "per_page": n}).get_json()
    return [item["name"] for item in body["contents"]]


def test_a_listing_named_for_the_words_typed_comes_first(demo):
    # "Talking therapies..." matches "counselling" only through synonyms in its name.
    for words in ("counselling", "counseling", "counsellor"):
        assert all(name.endswith("counselling service") for name in first_names(demo, words)), words
    assert all(name.startswith("Debt and money advice") for name in first_names(demo, "debt"))


def test_words_no_listing_uses_are_left_out_rather_than_emptying_the_results(demo):
    assert all(name.startswith("Debt and money advice") for name in first_names(demo, "money worries"))
    assert first_names(demo, "I lost my job")
    assert all("CV" in name for name in first_names(demo, "resume writing"))
    assert first_names(demo, "sick note") == first_names(demo, "fit note") != []
    # A query of nothing but unknown words finds nothing, not everything.
    body = demo.get("/services", query_string={"search": "xylophone zebra"}).get_json()
    assert body["total_items"] == 0 and body["empty"] is True
