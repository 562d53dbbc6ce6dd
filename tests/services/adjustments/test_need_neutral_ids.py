"""Adjustment ids hint at no health need, in clinical words either.

The id scan reads, besides the library's condition names, a maintained vocabulary of clinical words
(data/need_revealing_id_words.json). Six live ids it caught (`hypo_plan`, `glucose_monitor_phone`,
`mental_health_support_service`, `phased_return_after_surgery`, `home_working_flare`,
`window_seat_breathing`) were renamed by migration 0008 as 0007 renamed six before: a new guidance
version, old item retired, same content under an id saying what the employer provides or does.
(The scan over every live id and the broadcast schemas' codes is in test_neutral_ids.py.)"""

from __future__ import annotations

import json
import re
import uuid

import sqlalchemy as sa

from tests.services.adjustments.conftest import suggestion_body
from tests.services.adjustments.library_migrations import (app_before, assert_answer_and_amendment_name, assert_renamed,
                                                           assert_renamed_back_and_again, events, library_state)
from tests.services.adjustments.test_neutral_ids import NEW
from worklink.web.pages import SESSION_COOKIE
from worklink_adjustments import knowledge
from worklink_adjustments.models import Suggestion
from tests.browser import sealed

RENAME_REVISION = "adjustments_0008"
RENAMED = {item["from"]: item["to"] for item in knowledge._load_renames("need_neutral_adjustment_ids.json")["adjustments"]}


def _pattern():
    return knowledge.terms_pattern(knowledge.need_terms([("diabetes_type1", "Type 1 diabetes", []),
                                                       ("post_surgery", "Recovery after surgery", ["operation"])]))


def test_the_vocabulary_catches_clinical_words_by_word_and_stem_and_leaves_equipment_alone():
    pattern = _pattern()
    caught = {"hypo_plan": ["hypo"], "glucose_monitor_phone": ["glucose"], "phased_return_after_surgery": ["surgery"],
              "mental_health_support_service": ["mental health"], "home_working_flare": ["flare"],
              "rest_during_flares": ["flares"], "window_seat_breathing": ["breathing"],
              "epileptic_first_aid": ["epileptic"], "psychological_support": ["psychological"],
              "post_op_rest": ["post op"], "pregnancy_rest_breaks": ["pregnancy"], "insulin_pen_fridge": ["insulin"],
              "chemo_rest_day": ["chemo"], "t1d_kit": ["t1d"], "hypos_plan": ["hypos"]}
    for code, words in caught.items():
        assert knowledge.named_in_id(code, pattern) == words, code
    # Equipment, places and ways of working are the adjustment itself; whole words and stems only.
    for code in ("wheelchair_accessible_desk", "screen_reader", "hearing_loop", "desk_near_toilet", "sensory_breaks",
                 "anti_fatigue_mat", "hypoallergenic_soap", "surge_protector", "delivery_route", "personal_device_allowed",
                 "self_care_pause_plan", "access_to_work_support_service", "rest_after_treatment", "blackout_blinds",
                 *RENAMED.values()):
        assert knowledge.named_in_id(code, pattern) == [], code


def test_the_vocabulary_file_says_why_and_what_is_allowed():
    from importlib import resources
    data = json.loads(resources.files("worklink_adjustments").joinpath("data", knowledge.NEED_WORDS).read_text("utf-8"))
    assert "broadcast events" in data["title"] and "never names what the person has" in data["rule"]
    assert {"hypo", "glucose", "mental health", "surgery", "flare*", "breathing"} <= knowledge.NEED_VOCABULARY
    assert not {"wheelchair", "toilet", "treatment", "fatigue"} & knowledge.NEED_VOCABULARY
    for term in knowledge.NEED_VOCABULARY:  # lower case, words and spaces, at most a trailing '*'
        assert re.fullmatch(r"[a-z0-9]+( [a-z0-9]+)*\*?", term), term


def test_the_admin_api_refuses_an_id_with_a_clinical_word_and_the_renamed_ones_stay_retired(client, tokens):
    admin = tokens.header(role="alliance_admin", org=None, subject="admin-1")
    for bad, named in (("hypo_kit", "'hypo'"), ("glucose_fridge", "'glucose'"), ("post_op_rest", "'post op'"),
                       ("pregnancy_rest_breaks", "'pregnancy'"), ("mental_health_first_aider", "'mental health'")):
        refused = client.post("/guidance/adjustments", json={**NEW, "id": bad}, headers=admin)
        assert refused.status_code == 422 and refused.mimetype == "application/problem+json", bad
        [error] = refused.get_json()["errors"]
        assert error["pointer"] == "/id" and named in error["detail"], error
        assert client.get(f"/guidance/adjustments/{bad}", headers=admin).status_code == 404
    assert client.post("/guidance/adjustments", json={**NEW, "id": "rest_space_near_desk"},
                       headers=admin).status_code == 201
    for was in RENAMED:
        old = client.get(f"/guidance/adjustments/{was}", headers=admin).get_json()
        assert old["review_status"] == "retired", was
        revived = client.patch(f"/guidance/adjustments/{was}", headers=admin,
                               json={"revision": old["revision"], "review_status": "published"})
        assert revived.status_code == 422 and revived.get_json()["errors"][0]["pointer"] == "/review_status", was


def test_search_offers_the_new_ids(client, tokens):
    found = client.get("/guidance/search", query_string={"condition": "diabetes_type1", "limit": 100},
                       headers=tokens.header()).get_json()
    ids = {h["adjustment"]["id"] for h in found["hits"]}
    assert {"self_care_pause_plan", "personal_device_allowed"} <= ids and not ids & set(RENAMED)
    assert knowledge.current_adjustment_id("hypo_plan") == "self_care_pause_plan"


def test_upgrading_from_0007_with_a_suggestion_naming_the_old_ids(tmp_path, database_url):
    with app_before(tmp_path, database_url, RENAME_REVISION) as library:
        assert library.before == "adjustments_0007"
        client, tokens, engine = library.client, library.tokens, library.engine
        recommendations = [{"difficulty": "Low blood sugar episodes", "adjustment_id": "hypo_plan"},
                           {"difficulty": "Needs to check levels", "adjustment_id": "glucose_monitor_phone"},
                           {"difficulty": "Noise", "adjustment_id": "quiet_workspace"}]
        body = suggestion_body(recommendations=recommendations,
                               conditions=[{"text": "Type 1 diabetes", "condition_id": "diabetes_type1",
                                            "disclose": False}],
                               functional_effects="Sometimes has to stop work suddenly to eat and rest.")
        created = client.post("/suggestions", json=body, headers=tokens.header())
        assert created.status_code == 201, created.get_json()
        sid = created.get_json()["id"]
        assert client.post(f"/suggestions/{sid}/issue", json={"version": 1}, headers=tokens.header()).status_code == 200
        [issued] = events(engine, "adjustments.suggestion.issued")
        # (This code publishes current ids only, even on a library not yet migrated; the stored row keeps the old.)
        assert issued["adjustment_ids"] == ["self_care_pause_plan", "personal_device_allowed", "quiet_workspace"]
        old = library_state(engine)

        library.migrate()
        new = library_state(engine)
        assert "no health need" in new["versions"][-1].change
        assert_renamed(old, new, RENAMED)
        assert sum(new["rules"][now] for now in RENAMED.values()) == sum(old["rules"][was] for was in RENAMED) > 0
        with engine.connect() as conn:  # the suggestion is history: it keeps the ids it recorded
            stored = conn.execute(sa.select(Suggestion.recommendations)
                                  .where(Suggestion.id == uuid.UUID(sid))).scalar_one()
        assert [r["adjustment_id"] for r in stored] == ["hypo_plan", "glucose_monitor_phone", "quiet_workspace"]
        assert client.get(f"/suggestions/{sid}", headers=tokens.header()).get_json()["recommendations"][0][
            "adjustment_id"] == "hypo_plan"

        # The employer answers the letter written before the rename, and an amendment sent with the ids it was
        # read with: the answer's event, the amended row and its event name the new ids.
        assert_answer_and_amendment_name(library, sid, body, [
            "self_care_pause_plan", "personal_device_allowed", "quiet_workspace"], new["versions"][-1].version)

        # Downgrade to 0007 and upgrade again.
        retired = assert_renamed_back_and_again(library, old, new, RENAMED)
        assert retired == set(knowledge.RENAMED_ADJUSTMENTS)  # 0007's and 0008's


def test_a_saved_write_page_link_with_an_old_id_picks_its_replacement(client, tokens):
    client.set_cookie(SESSION_COOKIE, sealed(client.application, tokens.raw()))  # signed in as a GP
    page = client.get("/write?adjustment=hypo_plan&adjustment=window_seat_breathing").get_data(as_text=True)
    assert 'value="self_care_pause_plan"' in page and 'value="window_seat_fresh_air"' in page
    assert "hypo_plan" not in page and "window_seat_breathing" not in page
