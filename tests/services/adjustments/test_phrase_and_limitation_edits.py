"""Phrase templates (ready fit-note wording) and functional limitations were create-only: a mistake in wording that
clinicians copy onto fit notes, or in a limitation's name, could be put right only in the database. An alliance
admin now edits them as guidance rules are edited (PATCH /guidance/rules/<id>): with the `revision` read (a 409
when another admin changed it since), each edit a new guidance version naming who made it."""

from __future__ import annotations

from tests.services.adjustments.conftest import LIBRARY_VERSION

ADMIN = {"role": "alliance_admin", "org": None, "subject": "admin-a"}
PROBLEM = "application/problem+json"


def admin(tokens, subject: str = "admin-a") -> dict:
    return tokens.header(**{**ADMIN, "subject": subject})


def newest_version(client, tokens) -> dict:
    return client.get("/guidance/versions", headers=admin(tokens)).get_json()["items"][0]


def catalogue_phrase(client, tokens, text: str) -> dict:
    phrases = client.get("/guidance/catalogue", headers=tokens.header()).get_json()["phrases"]
    return next(p for p in phrases if p["text"] == text)


def test_an_alliance_admin_rewords_a_phrase_template_as_read(client, tokens):
    first = client.get("/guidance/catalogue", headers=tokens.header()).get_json()["phrases"][0]
    read = client.get(f"/guidance/phrases/{first['id']}", headers=tokens.header())  # a clinician may read it
    assert read.status_code == 200, read.get_data(as_text=True)
    phrase = read.get_json()
    assert (phrase["text"], phrase["revision"]) == (first["text"], 1)
    new_text = "{patient} may find it helps to take short breaks during {period}."
    assert client.patch(f"/guidance/phrases/{phrase['id']}", json={"revision": 1, "text": new_text},
                        headers=tokens.header()).status_code == 403  # a GP reads, never edits

    edited = client.patch(f"/guidance/phrases/{phrase['id']}", json={"revision": 1, "text": new_text},
                          headers=admin(tokens))
    assert edited.status_code == 200, edited.get_data(as_text=True)
    assert (edited.get_json()["text"], edited.get_json()["revision"]) == (new_text, 2)
    assert {k: v for k, v in newest_version(client, tokens).items() if k != "published_at"} == {
        "version": LIBRARY_VERSION + 1, "published_by": "admin-a", "change": f"edit phrase template {phrase['id']}"}
    assert catalogue_phrase(client, tokens, new_text)["id"] == phrase["id"]  # what clinicians are offered now
    assert first["text"] not in [p["text"] for p in
                                 client.get("/guidance/catalogue", headers=tokens.header()).get_json()["phrases"]]

    stale = client.patch(f"/guidance/phrases/{phrase['id']}", headers=admin(tokens, "admin-b"),
                         json={"revision": 1, "text": "{patient} should avoid lifting for {period}."})
    assert stale.status_code == 409 and stale.mimetype == PROBLEM and stale.get_json()["current_revision"] == 2
    unsent = client.patch(f"/guidance/phrases/{phrase['id']}", json={"text": new_text}, headers=admin(tokens))
    assert unsent.status_code == 422 and [e["pointer"] for e in unsent.get_json()["errors"]] == ["/revision"]
    assert client.get(f"/guidance/phrases/{phrase['id']}", headers=admin(tokens)).get_json()["text"] == new_text
    assert newest_version(client, tokens)["version"] == LIBRARY_VERSION + 1  # nothing refused was versioned


def test_an_edited_phrase_is_checked_as_a_new_one_is(client, tokens):
    phrase = client.post("/guidance/phrases", headers=admin(tokens),
                         json={"limitation_id": "lifting", "text": "{patient} should avoid heavy lifting for {period}."})
    assert phrase.status_code == 201, phrase.get_data(as_text=True)
    phrase_id = phrase.get_json()["id"]
    assert phrase.get_json()["revision"] == 1

    def refused(body: dict) -> list[str]:
        response = client.patch(f"/guidance/phrases/{phrase_id}", json={"revision": 1, **body}, headers=admin(tokens))
        assert response.status_code == 422 and response.mimetype == PROBLEM, response.get_data(as_text=True)
        return [e["pointer"] for e in response.get_json()["errors"]]

    assert refused({"text": "{patient} has chronic fatigue for {period}."}) == ["/text"]  # names a need
    assert refused({"text": "{name} should avoid heavy lifting."}) == ["/text"]  # not a placeholder
    assert refused({"limitation_id": None}) == ["/limitation_id"]  # for nothing at all
    assert refused({"adjustment_id": "teleport"}) == ["/adjustment_id"]
    assert client.get(f"/guidance/phrases/{phrase_id}", headers=admin(tokens)).get_json()["revision"] == 1
    moved = client.patch(f"/guidance/phrases/{phrase_id}", headers=admin(tokens),
                         json={"revision": 1, "limitation_id": None, "adjustment_id": "phased_return_4wk"})
    assert moved.status_code == 200, moved.get_data(as_text=True)
    assert (moved.get_json()["limitation_id"], moved.get_json()["adjustment_id"]) == (
        None, "phased_return_4wk")
    assert client.patch("/guidance/phrases/999999", json={"revision": 1, "text": "{patient} should rest often."},
                        headers=admin(tokens)).status_code == 404


def test_an_alliance_admin_edits_a_limitation_as_read(client, tokens):
    read = client.get("/guidance/limitations/lifting", headers=tokens.header())
    assert read.status_code == 200, read.get_data(as_text=True)
    limitation = read.get_json()
    assert limitation["revision"] == 1
    change = {"revision": 1, "name": "Lifting and carrying", "icf_codes": ["d430"]}
    assert client.patch("/guidance/limitations/lifting", json=change, headers=tokens.header()).status_code == 403

    edited = client.patch("/guidance/limitations/lifting", json=change, headers=admin(tokens))
    assert edited.status_code == 200, edited.get_data(as_text=True)
    assert {k: edited.get_json()[k] for k in ("name", "icf_codes", "domain", "revision")} == {
        "name": "Lifting and carrying", "icf_codes": ["d430"], "domain": limitation["domain"], "revision": 2}
    assert newest_version(client, tokens)["change"] == "edit limitation lifting"
    found = client.get("/guidance/search?limitation=lifting", headers=tokens.header()).get_json()
    assert found["guidance_version"] == LIBRARY_VERSION + 1
    assert [lim["name"] for lim in found["limitations"] if lim["id"] == "lifting"] == ["Lifting and carrying"]

    stale = client.patch("/guidance/limitations/lifting", json={"revision": 1, "name": "Lifting"},
                         headers=admin(tokens, "admin-b"))
    assert stale.status_code == 409 and stale.mimetype == PROBLEM and stale.get_json()["current_revision"] == 2
    bad = client.patch("/guidance/limitations/lifting", json={"revision": 2, "icf_codes": ["x99"]},
                       headers=admin(tokens))
    assert bad.status_code == 422 and [e["pointer"] for e in bad.get_json()["errors"]] == ["/icf_codes/0"]
    assert client.patch("/guidance/limitations/levitation", json={"revision": 1, "name": "Levitation"},
                        headers=admin(tokens)).status_code == 404
    assert client.get("/guidance/limitations/lifting", headers=admin(tokens)).get_json()["name"] == "Lifting and carrying"


def test_a_published_change_of_a_phrase_s_words_moves_its_revision_on(app, client, tokens):
    """A wording change shipped as a migration (knowledge.update_wording) rewrites phrase templates: an edit of the
    words before it is then refused, as another admin's edit makes it."""
    from worklink_adjustments import knowledge

    phrase = client.get("/guidance/catalogue", headers=tokens.header()).get_json()["phrases"][0]
    change = {"title": "test rewording", "phrase_templates": [
        {"from": phrase["text"], "to": "{patient} may benefit from a phased return over {period}."}]}
    with app.extensions["worklink"].database.transaction() as session:
        assert knowledge.update_wording(session, change, "test") == LIBRARY_VERSION + 1
    assert client.get(f"/guidance/phrases/{phrase['id']}", headers=admin(tokens)).get_json()["revision"] == 2
    assert client.patch(f"/guidance/phrases/{phrase['id']}", json={"revision": 1, "text": phrase["text"]},
                        headers=admin(tokens)).status_code == 409
