"""Adjustment ids name the adjustment, never a condition: broadcast events carry them, and any
consumer (referrals knows who a referred person is) reads them beside a suggestion id.

Six starter ids that did (`dark_room_migraine`, `seizure_plan`...) were renamed as a new guidance
version (0007): the old adjustment retired, a new one with the same content under a neutral id, rules and
phrase templates re-pointed. Suggestions keep the ids they recorded; anything written or published
since uses the new one. Six more that hinted at a need in clinical words (`hypo_plan`...) were renamed
the same way by 0008 (test_need_neutral_ids.py)."""

from __future__ import annotations

import re
import uuid

import sqlalchemy as sa
from marshmallow import fields, validate

from tests.services.adjustments.conftest import suggestion_body
from tests.services.adjustments.library_migrations import (app_before, assert_answer_and_amendment_name, assert_renamed,
                                                           assert_renamed_back_and_again, library_state)
from worklink.events.contracts import CATALOGUE
from worklink.events.contracts.common import code
from worklink.web.pages import SESSION_COOKIE
from worklink_adjustments import knowledge
from worklink_adjustments.events import PUBLISHES
from worklink_adjustments.models import Adjustment, Suggestion
from tests.browser import sealed

RENAME_REVISION = "adjustments_0007"  # the migration that applies data/neutral_adjustment_ids.json
RENAMED = {item["from"]: item["to"] for item in knowledge._load_renames("neutral_adjustment_ids.json")["adjustments"]}
ALL_RENAMED = dict(knowledge.RENAMED_ADJUSTMENTS)  # 0007's and 0008's


def _id_pattern(session) -> re.Pattern[str]:
    return knowledge.library_need_pattern(session)


# --- the scan --------------------------------------------------------------------------


def _broadcast_fields(schema, path=""):
    """(path, field) of every field of a broadcast event schema, nested ones included."""
    for name, field in schema().fields.items():
        inner = field.inner if isinstance(field, fields.List) else field
        if isinstance(inner, fields.Nested):
            yield from _broadcast_fields(type(inner.schema), f"{path}{name}/")
        else:
            yield f"{path}{name}", inner


def _broadcast_types():
    return [CATALOGUE.latest(t) for t in PUBLISHES if not CATALOGUE.latest(t).restricted]


CODE_PATTERN = code().validators[0].regex.pattern  # what every library code in an event is checked against


def test_no_live_library_id_and_no_code_in_a_broadcast_event_names_a_condition_or_need(app):
    with app.extensions["worklink"].database.transaction() as session:
        pattern = _id_pattern(session)
        ids = session.execute(sa.select(Adjustment.id, Adjustment.review_status)).all()
    named = {a.id: knowledge.named_in_id(a.id, pattern) for a in ids}
    named = {aid: found for aid, found in named.items() if found}
    live = {a.id for a in ids if a.review_status in knowledge.LIVE_STATUSES}
    assert {aid: found for aid, found in named.items() if aid in live} == {}
    # ... and the scan is not blind: it catches every renamed id (kept, retired, as history), and only those.
    assert set(named) == set(ALL_RENAMED) and not set(ALL_RENAMED) & live and set(ALL_RENAMED.values()) <= live
    assert len(ids) == 206  # every adjustment (194 live, 12 retired) was scanned

    # The only library codes a broadcast event carries are adjustment ids (a new id-carrying
    # field, such as limitation ids, must be scanned here too); its fixed codes name no condition.
    carried, choices = set(), set()
    for entry in _broadcast_types():
        for path, field in _broadcast_fields(entry.schema):
            validators = field.validators
            choices |= {c for v in validators if isinstance(v, validate.OneOf) for c in v.choices}
            if any(isinstance(v, validate.Regexp) and v.regex.pattern == CODE_PATTERN for v in validators):
                carried.add(path)
    assert carried == {"adjustment_ids", "items/adjustment_id"}
    assert "condition_changed" in choices  # a withdrawal reason: says that, not which
    assert {c: knowledge.named_in_id(c, pattern) for c in choices if knowledge.named_in_id(c, pattern)} == {}


def test_the_id_scan_reads_ids_as_words():
    pattern = knowledge.terms_pattern(knowledge.need_terms([("cancer", "Cancer and its treatment", ["chemotherapy"]),
                                                          ("long_covid", "Long COVID", []),
                                                          ("epilepsy", "Epilepsy", ["seizures"])]))
    assert knowledge.named_in_id("phased_return_cancer", pattern) == ["cancer"]
    assert knowledge.named_in_id("slow-return-long-covid", pattern) == ["long covid"]
    assert knowledge.named_in_id("seizure_plan", pattern) == ["seizure"]
    assert knowledge.named_in_id("phased_return_mh", pattern) == ["mh"]
    assert knowledge.named_in_id("chemo_rest_day", pattern) == ["chemo"]
    assert knowledge.named_in_id("phased_return_around_treatment", pattern) == []
    assert knowledge.named_in_id("mhz_radio_headset", pattern) == []  # whole words only


# --- the admin API ----------------------------------------------------------------------

NEW = {"title": "Somewhere to rest", "employer_text": "Let them rest somewhere quiet when they need to.",
       "fit_note_category": "workplace_adaptations", "equality_act_requirement": "physical_feature",
       "adjustment_area": "physical_environment", "cost_band": "none", "access_to_work": False}


def test_an_admin_cannot_add_an_id_naming_a_condition_nor_bring_back_a_renamed_one(client, tokens):
    admin = tokens.header(role="alliance_admin", org=None, subject="admin-1")
    for bad, named in (("epilepsy_rest_room", "'epilepsy'"), ("rest_after_seizures", "'seizures'"),
                       ("phased_return_mh_v2", "'mh'"), ("insulin_fridge", "'insulin'")):
        refused = client.post("/guidance/adjustments", json={**NEW, "id": bad}, headers=admin)
        assert refused.status_code == 422 and refused.mimetype == "application/problem+json", bad
        [error] = refused.get_json()["errors"]
        assert error["pointer"] == "/id" and named in error["detail"], error
        assert client.get(f"/guidance/adjustments/{bad}", headers=admin).status_code == 404
    assert client.post("/guidance/adjustments", json={**NEW, "id": "quiet_rest_space_2"}, headers=admin).status_code == 201

    old = client.get("/guidance/adjustments/seizure_plan", headers=admin).get_json()
    assert old["review_status"] == "retired"
    revived = client.patch("/guidance/adjustments/seizure_plan", headers=admin,
                           json={"revision": old["revision"], "review_status": "published"})
    assert revived.status_code == 422 and revived.get_json()["errors"][0]["pointer"] == "/review_status"
    # Kept as history, it can still be edited while it stays retired.
    edited = client.patch("/guidance/adjustments/seizure_plan", headers=admin,
                          json={"revision": old["revision"], "title": "Personal first-aid plan (old id)"})
    assert edited.status_code == 200 and edited.get_json()["review_status"] == "retired"


def test_search_offers_only_the_new_ids_and_an_old_id_sent_in_is_written_as_the_new_one(client, tokens):
    found = client.get("/guidance/search", query_string={"condition": "epilepsy", "limit": 100},
                       headers=tokens.header()).get_json()
    ids = {h["adjustment"]["id"] for h in found["hits"]}
    assert "personal_first_aid_plan" in ids and not ids & set(RENAMED)
    body = suggestion_body(recommendations=[{"difficulty": "Sudden episodes", "adjustment_id": "seizure_plan"}],
                           conditions=[{"text": "Epilepsy", "condition_id": "epilepsy", "disclose": False}],
                           functional_effects="May lose awareness briefly without warning.")
    created = client.post("/suggestions", json=body, headers=tokens.header())
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["recommendations"][0]["adjustment_id"] == "personal_first_aid_plan"


# --- the migration, and what it does to history -------------------------------------------


def test_the_rename_migration_keeps_history_and_amendments_move_to_the_new_ids(tmp_path, database_url):
    with app_before(tmp_path, database_url, RENAME_REVISION) as library:
        client, tokens, engine = library.client, library.tokens, library.engine
        # Issued before the rename, with two ids that named a condition.
        recommendations = [{"difficulty": "Attacks at work", "adjustment_id": "dark_room_migraine"},
                           {"difficulty": "Sudden episodes", "adjustment_id": "seizure_plan"},
                           {"difficulty": "Noise", "adjustment_id": "quiet_workspace"}]
        body = suggestion_body(recommendations=recommendations,
                               conditions=[{"text": "Migraine", "condition_id": "migraine", "disclose": False}],
                               functional_effects="Sometimes has to stop work suddenly and rest.")
        sid = client.post("/suggestions", json=body, headers=tokens.header()).get_json()["id"]
        assert client.post(f"/suggestions/{sid}/issue", json={"version": 1}, headers=tokens.header()).status_code == 200
        old = library_state(engine)

        library.migrate()
        new = library_state(engine)
        assert "never a condition" in new["versions"][-1].change
        assert_renamed(old, new, RENAMED)
        assert sum(new["rules"][now] for now in RENAMED.values()) == 26
        with engine.connect() as conn:  # the suggestion is history: it keeps the ids it recorded
            stored = conn.execute(sa.select(Suggestion.recommendations).where(Suggestion.id == uuid.UUID(sid))).scalar_one()
        assert [r["adjustment_id"] for r in stored] == ["dark_room_migraine", "seizure_plan", "quiet_workspace"]

        # The employer answers the letter written before the rename, and an amendment sent with the ids it was
        # read with: both name the new ids.
        assert_answer_and_amendment_name(library, sid, body, [
            "dark_quiet_rest_space", "personal_first_aid_plan", "quiet_workspace"], new["versions"][-1].version)

        # Downgrade and upgrade again (both databases).
        assert assert_renamed_back_and_again(library, old, new, RENAMED) == set(RENAMED)


def test_the_rename_is_idempotent(app):
    with app.extensions["worklink"].database.transaction() as session:
        assert knowledge.rename_adjustments(session, knowledge._load_renames(), "again") is None
        assert knowledge.current_adjustment_id("phased_return_mh") == "phased_return_with_meeting"
        assert knowledge.current_adjustment_id("quiet_workspace") == "quiet_workspace"


def test_a_saved_write_page_link_with_an_old_id_picks_the_renamed_adjustment(client, tokens):
    client.set_cookie(SESSION_COOKIE, sealed(client.application, tokens.raw()))  # signed in as a GP
    page = client.get("/write?adjustment=seizure_plan&adjustment=quiet_workspace").get_data(as_text=True)
    assert 'value="personal_first_aid_plan"' in page and 'value="quiet_workspace"' in page
    assert "seizure_plan" not in page
