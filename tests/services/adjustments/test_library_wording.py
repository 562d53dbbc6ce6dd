"""Library wording names no condition: an employer letter prints each chosen adjustment's title and
employer wording for patients who keep their diagnosis private, so no wording may name one."""

from __future__ import annotations

import json
import re
from importlib import resources

import sqlalchemy as sa

from tests.services.adjustments.conftest import LIBRARY_VERSION, make_settings, suggestion_body
from worklink.migrations import upgrade
from worklink.service import get_service
from worklink_adjustments import knowledge
from worklink_adjustments.models import Adjustment, Condition, GuidanceVersion, PhraseTemplate


def _library(app):
    with app.extensions["worklink"].database.transaction() as session:
        conditions = session.execute(sa.select(Condition.id, Condition.name, Condition.synonyms)).all()
        adjustments = session.execute(sa.select(Adjustment.id, Adjustment.review_status,
                                                *(getattr(Adjustment, f) for f in knowledge.EMPLOYER_FIELDS))).all()
        phrases = session.scalars(sa.select(PhraseTemplate.text)).all()
        return conditions, adjustments, phrases


def test_no_live_wording_the_employer_reads_names_a_condition_or_health_need(app):
    """Every live adjustment's title and employer wording (printed in the letter, its PDF, the employer's
    page and API) and every phrase template, scanned for the same terms as ids: the library's conditions
    and the clinical vocabulary. A failure lists each flagged text with the words found."""
    conditions, adjustments, phrases = _library(app)
    pattern = knowledge.terms_pattern(knowledge.need_terms(conditions))
    live = [a for a in adjustments if a.review_status in knowledge.LIVE_STATUSES]
    found = {f"{a.id}.{field}: {getattr(a, field)}": knowledge.named_conditions(getattr(a, field), pattern)
             for a in live for field in knowledge.EMPLOYER_FIELDS}
    found |= {f"phrase: {text}": knowledge.named_conditions(text, pattern) for text in phrases}
    assert {where: names for where, names in found.items() if names} == {}
    assert len(live) == 194 and len(phrases) == 37  # the whole live library was scanned
    # Retired items are never offered or printed for a new suggestion; they still name no condition.
    names = knowledge.terms_pattern(knowledge.condition_terms((c.name, c.synonyms) for c in conditions))
    assert {a.id: found for a in adjustments for f in knowledge.EMPLOYER_FIELDS
            if (found := knowledge.named_conditions(getattr(a, f), names))} == {}


def test_the_scan_finds_names_synonyms_plurals_and_clinical_words_as_whole_words():
    pattern = knowledge.terms_pattern(knowledge.need_terms([("migraine", "Migraine", ["headaches"]),
                                                            ("epilepsy", "Epilepsy", ["seizures"]),
                                                            ("multiple_sclerosis", "Multiple sclerosis", ["ms"])]))
    assert knowledge.named_conditions("During a MIGRAINE attack", pattern) == ["migraine"]
    assert knowledge.named_conditions("a seizure plan; migraines", pattern) == ["migraines", "seizure"]
    assert knowledge.named_conditions("a headache; inject insulin", pattern) == ["headache", "inject", "insulin"]
    assert knowledge.named_conditions("Items, terms and forms (MS Word)", pattern) == ["ms"]
    assert knowledge.named_conditions("Home working during flare-ups", pattern) == ["flare"]
    assert knowledge.named_conditions("Plan for low blood sugar; a glucose monitor", pattern) == [
        "blood sugar", "glucose"]
    assert knowledge.named_conditions("Access to Work Mental Health Support Service", pattern) == ["mental health"]
    assert knowledge.named_conditions("eat, take medication or check levels", pattern) == ["check levels"]
    assert knowledge.named_conditions("Keep walkways clear", pattern) == []
    assert knowledge.named_conditions("Allow time off for medical appointments, therapy or treatment", pattern) == []


def test_the_vocabulary_file_writes_down_the_rule_and_exceptions_for_employer_wording():
    data = json.loads(resources.files("worklink_adjustments").joinpath("data", knowledge.NEED_WORDS).read_text("utf-8"))
    wording = data["employer wording"]
    assert "never what they have or go through" in wording["rule"] and "let the employer act" in wording["rule"]
    pattern = knowledge.terms_pattern(knowledge.need_terms([]))
    allowed = {item["text"]: knowledge.named_conditions(item["text"], pattern) for item in wording["allowed, and why"]}
    assert len(allowed) >= 5 and all(item["why"] for item in wording["allowed, and why"])
    assert {text: found for text, found in allowed.items() if found} == {}  # an exception is no term


def test_the_starter_wording_was_changed_as_a_new_guidance_version(app, client, tokens):
    """Version 1 is the starter library as loaded; the rewording is version 2 (migration 0006),
    so a suggestion written against version 1 still names the wording it printed."""
    with app.extensions["worklink"].database.transaction() as session:
        versions = session.execute(sa.select(GuidanceVersion.version, GuidanceVersion.change)
                                   .order_by(GuidanceVersion.version)).all()
        dark_room = session.get(Adjustment, "dark_room_migraine")  # renamed in version 3 (test_neutral_ids)
        assert [v.version for v in versions] == list(range(1, LIBRARY_VERSION + 1)) and "never a condition" in versions[1].change
        assert (dark_room.title, dark_room.revision, dark_room.review_status) == (
            "Somewhere dark and quiet to rest", 3, "retired")
    v1 = json.loads(resources.files("worklink_adjustments").joinpath("data", "library_v1.json").read_text("utf-8"))
    assert "migraine" in next(a for a in v1["adjustments"] if a["id"] == "dark_room_migraine")["employer_text"]

    # A patient who keeps their migraine private can now be given the dark room in the letter.
    body = suggestion_body(conditions=[{"text": "Migraine", "condition_id": "migraine", "disclose": False}],
                           recommendations=[{"difficulty": "Attacks at work", "adjustment_id": "dark_quiet_rest_space"}],
                           functional_effects="Sometimes has to stop work suddenly and rest.")
    created = client.post("/suggestions", json=body, headers=tokens.header())
    assert created.status_code == 201 and created.get_json()["guidance_version"] == LIBRARY_VERSION
    letter = client.get(f"/suggestions/{created.get_json()['id']}/letter", headers=tokens.header()).get_data(as_text=True)
    assert "dark, quiet room" in letter and "migraine" not in letter.lower()


def test_the_rewording_keeps_an_admins_own_edit_and_is_idempotent(tmp_path):
    """Run on a database still at revision 0005 where an admin already reworded one adjustment."""
    settings = make_settings(tmp_path)
    migrations = get_service("adjustments").migrations_dir
    upgrade(migrations, settings.database_url, "adjustments_0005")
    engine = sa.create_engine(settings.database_url)
    own = "Allow a short rest somewhere dark when the employee needs it."
    with engine.begin() as conn:
        conn.execute(sa.update(Adjustment.__table__).where(Adjustment.id == "dark_room_migraine")
                     .values(employer_text=own))
    upgrade(migrations, settings.database_url)
    with engine.begin() as conn:
        row = conn.execute(sa.select(Adjustment.title, Adjustment.employer_text)
                           .where(Adjustment.id == "dark_room_migraine")).one()
        seizure = conn.execute(sa.select(Adjustment.title).where(Adjustment.id == "seizure_plan")).scalar_one()
        assert row.employer_text == own and "migraine" in row.title  # its wording no longer reads as 'from'
        assert seizure == "Personal first-aid plan"
        assert knowledge.update_wording(sa.orm.Session(bind=conn), _change(), "again") is None
    engine.dispose()


def _change():
    return json.loads(resources.files("worklink_adjustments").joinpath(
        "data", "wording_names_no_condition.json").read_text("utf-8"))


def test_the_employer_sees_no_library_id_that_names_what_an_adjustment_is_for(client, tokens):
    body = suggestion_body(conditions=[{"text": "Migraine", "condition_id": "migraine", "disclose": False}],
                           recommendations=[{"difficulty": "Attacks at work", "adjustment_id": "dark_quiet_rest_space"}],
                           functional_effects="Sometimes has to stop work suddenly and rest.")
    created = client.post("/suggestions", json=body, headers=tokens.header()).get_json()
    issued = client.post(f"/suggestions/{created['id']}/issue", json={"version": 1}, headers=tokens.header())
    assert issued.status_code == 200, issued.get_json()
    letter = client.get(f"/suggestions/{created['id']}/letter", headers=tokens.header()).get_data(as_text=True)
    token = re.search(r'/respond/([0-9a-f]{32}\.[0-9a-f]{32})"', letter).group(1)
    seen = client.get(f"/employer-links/{token}")
    assert seen.status_code == 200 and seen.get_json()["recommendations"][0]["title"] == "Somewhere dark and quiet to rest"
    assert "migraine" not in seen.get_data(as_text=True).lower()
    page = client.get(f"/respond/{token}")
    assert page.status_code == 200 and "migraine" not in page.get_data(as_text=True).lower()


def test_an_admin_cannot_write_library_wording_that_names_a_condition(client, tokens):
    admin = tokens.header(role="alliance_admin", org=None, subject="admin-1")
    new = {"id": "rest_room", "title": "Rest room for migraines", "employer_text": "Let them rest after fits.",
           "fit_note_category": "workplace_adaptations", "equality_act_requirement": "physical_feature",
           "adjustment_area": "physical_environment", "cost_band": "none", "access_to_work": False}
    refused = client.post("/guidance/adjustments", json=new, headers=admin)
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    errors = {e["pointer"]: e["detail"] for e in refused.get_json()["errors"]}
    assert set(errors) == {"/title", "/employer_text"} and "'migraines'" in errors["/title"]
    assert "'fits'" in errors["/employer_text"]
    fine = {**new, "title": "Somewhere to rest", "employer_text": "Let them rest somewhere quiet when they need to."}
    assert client.post("/guidance/adjustments", json=fine, headers=admin).status_code == 201

    revision = client.get("/guidance/adjustments/rest_room", headers=admin).get_json()["revision"]
    edit = client.patch("/guidance/adjustments/rest_room", headers=admin,
                        json={"revision": revision, "employer_text": "Somewhere to inject insulin."})
    assert edit.status_code == 422 and [e["pointer"] for e in edit.get_json()["errors"]] == ["/employer_text"]
    assert client.get("/guidance/adjustments/rest_room", headers=admin).get_json()["revision"] == revision
    phrase = client.post("/guidance/phrases", headers=admin,
                         json={"limitation_id": "fatigue", "text": "{patient} has chronic fatigue for {period}."})
    assert phrase.status_code == 422 and phrase.get_json()["errors"][0]["pointer"] == "/text"
