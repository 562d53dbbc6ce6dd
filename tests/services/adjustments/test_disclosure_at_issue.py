"""Issue checks disclosure as a write does, with the guidance library's synonyms as they are now. It
read only the clinician's words of each private condition, so a synonym the alliance added after the
draft was written ("melancholia" for a private depression) went to the employer in the letter."""

from __future__ import annotations

from tests.services.adjustments.conftest import suggestion_body
from tests.services.adjustments.test_suggestion_rules import pointers

EFFECTS = "Melancholia makes mornings hard; tires quickly by mid-afternoon."


def draft(client, tokens, **overrides) -> dict:
    written = client.post("/suggestions", json=suggestion_body(functional_effects=EFFECTS, **overrides),
                          headers=tokens.header())
    assert written.status_code == 201, written.get_data(as_text=True)  # no synonym names it yet
    return written.get_json()


def add_melancholia(client, tokens) -> None:
    """The alliance adds a synonym to depression (the starter library's two, and one more)."""
    admin = tokens.header(role="alliance_admin", org=None, subject="admin-1")
    changed = client.patch("/guidance/conditions/depression", headers=admin,
                           json={"synonyms": ["low mood", "depressive illness", "melancholia"]})
    assert changed.status_code == 200 and "melancholia" in changed.get_json()["synonyms"]


def issue(client, tokens, suggestion):
    return client.post(f"/suggestions/{suggestion['id']}/issue", json={"version": suggestion["version"]},
                       headers=tokens.header())


def test_a_synonym_added_after_drafting_is_caught_at_issue(client, tokens):
    private = draft(client, tokens)  # Depression, kept private
    add_melancholia(client, tokens)
    refused = issue(client, tokens, private)
    assert "'melancholia'" in pointers(refused)["/functional_effects"]
    assert client.get(f"/suggestions/{private['id']}", headers=tokens.header()).get_json()["status"] == "draft"
    letter = client.get(f"/suggestions/{private['id']}/letter", headers=tokens.header()).get_data(as_text=True)
    assert "/respond/" not in letter  # not issued: no employer link opened


def test_in_the_clinicians_words_too_and_not_when_disclosed(client, tokens):
    typed = draft(client, tokens, conditions=[{"text": "depression", "disclose": False}])  # no library id
    disclosed = draft(client, tokens, conditions=[{"text": "Depression", "condition_id": "depression",
                                                  "disclose": True}])
    add_melancholia(client, tokens)
    assert "/functional_effects" in pointers(issue(client, tokens, typed))
    assert issue(client, tokens, disclosed).status_code == 200  # the patient agreed: the letter may say it
