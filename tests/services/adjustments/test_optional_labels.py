"""Every answer the write page can leave empty says "(optional)", as its other optional answers do (NHS.UK), so a
clinician short of time does not stop to fill in what is not needed.

Found on a GP's walk through the pages: a recommendation's "Difficulty it addresses" (and "Difficulty" in a row of
their own words) read as required beside "Extra detail (optional)", though a suggestion saves without it."""

from __future__ import annotations

import re

from tests.services.adjustments.conftest import suggestion_body


def labels(html: str) -> dict[str, str]:
    """The page's labels by the id of their field."""
    return {match[0]: re.sub(r"\s+", " ", match[1]).strip()
            for match in re.findall(r'<label class="nhsuk-label" for="([^"]+)">(.*?)</label>', html, re.S)}


def test_a_recommendation_s_difficulty_says_it_is_optional(client, tokens):
    html = client.get("/write?adjustment=no_night_shifts", headers=tokens.header()).get_data(as_text=True)
    found = labels(html)
    assert found["recommendations-0-difficulty"] == "Difficulty it addresses (optional)"
    assert found["recommendations-1-difficulty"] == "Difficulty (optional)"  # a row in the clinician's own words


def test_a_recommendation_saves_without_its_difficulty(client, tokens):
    body = suggestion_body()
    for row in body["recommendations"]:
        row["difficulty"] = ""
    assert client.post("/suggestions", json=body, headers=tokens.header()).status_code == 201
