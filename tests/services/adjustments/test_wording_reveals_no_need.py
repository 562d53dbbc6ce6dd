"""Library wording the employer reads reveals no health need, in clinical words either.

The wording scan reads the same terms as the id scan (knowledge.need_terms: the library's conditions
and the clinical vocabulary of data/need_revealing_id_words.json). What it caught in the live library
('Plan for low blood sugar', 'Access to Work Mental Health Support Service', 'Phased return after
surgery', 'during flare-ups', a 'glucose monitor', 'physiotherapy stretches', 'an injection', 'lose
awareness or collapse', 'check levels') is reworded as a new guidance version by migration 0009, as
0006 did. (The scan over every live text is in test_library_wording.py.)"""

from __future__ import annotations

import html as markup
import json
import re
from importlib import resources

import sqlalchemy as sa

from tests.services.adjustments.conftest import suggestion_body
from tests.services.adjustments.library_migrations import app_before
from tests.services.adjustments.test_letters_and_employer import pdf_text
from worklink_adjustments import knowledge
from worklink_adjustments.models import Adjustment, GuidanceRule, GuidanceVersion, PhraseTemplate

REWORD_REVISION = "adjustments_0009"
CHANGE = json.loads(resources.files("worklink_adjustments").joinpath(
    "data", "wording_reveals_no_need.json").read_text("utf-8"))
REWORDED = {item["id"]: item for item in CHANGE["adjustments"]}


def _library_pattern():
    library = json.loads(resources.files("worklink_adjustments").joinpath("data", "library_v1.json").read_text("utf-8"))
    return knowledge.terms_pattern(knowledge.need_terms(
        (c["id"], c["name"], c["synonyms"]) for c in library["conditions"]))


def test_every_reworded_text_said_a_need_and_its_new_wording_says_none():
    pattern = _library_pattern()
    texts = [(f"{item['id']}.{field}", item["from"][field], item["to"][field])
             for item in CHANGE["adjustments"] for field in item["from"]]
    texts += [("phrase", item["from"], item["to"]) for item in CHANGE["phrase_templates"]]
    before = {where: knowledge.named_conditions(old, pattern) for where, old, _ in texts}
    # Each old text was caught by the scan, but one title reworded with its item ('Phone or monitor
    # allowed at work': beside the old wording, a glucose monitor).
    assert {where for where, found in before.items() if not found} == {"personal_device_allowed.title"}
    assert before["self_care_pause_plan.title"] == ["blood sugar"] and before["phrase"] == ["check levels"]
    assert {where: found for where, _, new in texts if (found := knowledge.named_conditions(new, pattern))} == {}
    assert set(REWORDED) == {"self_care_pause_plan", "personal_device_allowed", "access_to_work_support_service",
                             "phased_return_no_heavy_work", "home_working_short_notice", "leave_flexibility",
                             "time_for_exercises", "private_space_medication", "personal_first_aid_plan"}


def _wording(engine) -> dict:
    with engine.connect() as conn:
        adjustments = {r.id: r for r in conn.execute(sa.select(
            Adjustment.id, Adjustment.title, Adjustment.employer_text, Adjustment.revision,
            Adjustment.updated_in_version).where(Adjustment.id.in_(REWORDED)))}
        phrases = sorted(conn.execute(sa.select(PhraseTemplate.text)).scalars())
        rationales = dict(conn.execute(sa.select(GuidanceRule.rationale, sa.func.count())
                                       .where(GuidanceRule.adjustment_id.in_(REWORDED)).group_by(GuidanceRule.rationale)).all())
        versions = conn.execute(sa.select(GuidanceVersion.version, GuidanceVersion.change)
                                .order_by(GuidanceVersion.version)).all()
    return {"adjustments": adjustments, "phrases": phrases, "rationales": rationales, "versions": versions}


def _letter_text(html: str) -> str:
    """The words of an HTML page, as the employer reads them."""
    return re.sub(r"\s+", " ", markup.unescape(re.sub(r"<[^>]+>", " ", html)))


def test_upgrading_from_0008_rewords_new_letters_and_issued_ones_keep_their_wording(tmp_path, database_url):
    with app_before(tmp_path, database_url, REWORD_REVISION) as library:
        assert library.before == "adjustments_0008"
        client, tokens, engine = library.client, library.tokens, library.engine
        own = "Let the employee take annual leave at short notice when they need it."
        with engine.begin() as conn:  # an admin's own edit since 0008 is kept
            conn.execute(sa.update(Adjustment.__table__).where(Adjustment.id == "leave_flexibility")
                         .values(employer_text=own))
        recommendations = [
            {"difficulty": "May need to stop work suddenly", "adjustment_id": "self_care_pause_plan"},
            {"difficulty": "Some days are harder than others", "adjustment_id": "home_working_short_notice"},
            {"difficulty": "Noise", "adjustment_id": "quiet_workspace"}]
        body = suggestion_body(recommendations=recommendations,
                               conditions=[{"text": "Type 1 diabetes", "condition_id": "diabetes_type1",
                                            "disclose": False}],
                               functional_effects="Sometimes has to stop work suddenly and rest.")
        created = client.post("/suggestions", json=body, headers=tokens.header())
        assert created.status_code == 201, created.get_json()
        old_id, old_version = created.get_json()["id"], created.get_json()["guidance_version"]
        assert client.post(f"/suggestions/{old_id}/issue", json={"version": 1},
                           headers=tokens.header()).status_code == 200
        issued_letter = client.get(f"/suggestions/{old_id}/letter", headers=tokens.header()).get_data(as_text=True)
        assert "Plan for low blood sugar" in issued_letter and "during flare-ups" in issued_letter
        old = _wording(engine)

        library.migrate()
        new = _wording(engine)
        assert new["versions"] == [*old["versions"], (old_version + 1, CHANGE["title"])]
        for aid, item in REWORDED.items():
            row = new["adjustments"][aid]
            if aid == "leave_flexibility":  # no longer read as 'from': left as the admin wrote it
                assert (row.employer_text, row.revision) == (own, old["adjustments"][aid].revision)
                continue
            assert {k: getattr(row, k) for k in item["to"]} == item["to"], aid
            assert (row.revision, row.updated_in_version) == (old["adjustments"][aid].revision + 1, old_version + 1)
        [phrase] = CHANGE["phrase_templates"]
        assert phrase["to"] in new["phrases"] and phrase["from"] not in new["phrases"]
        for item in CHANGE["rationales"]:  # every rule of the adjustment took the new rationale
            assert new["rationales"].get(item["to"]) == old["rationales"][item["from"]] and item["from"] not in new[
                "rationales"], item["adjustment_id"]

        # The issued suggestion is history: its letter prints the wording it was written with.
        again = client.get(f"/suggestions/{old_id}/letter", headers=tokens.header()).get_data(as_text=True)
        assert _letter_text(again) == _letter_text(issued_letter)  # (the page's form token may differ)
        assert client.get(f"/suggestions/{old_id}", headers=tokens.header()).get_json()["guidance_version"] == old_version

        # A new suggestion choosing the same adjustments prints the new wording, in every employer view.
        created = client.post("/suggestions", json=body, headers=tokens.header())
        assert created.status_code == 201 and created.get_json()["guidance_version"] == old_version + 1
        new_id = created.get_json()["id"]
        assert client.post(f"/suggestions/{new_id}/issue", json={"version": 1},
                           headers=tokens.header()).status_code == 200
        html = client.get(f"/suggestions/{new_id}/letter", headers=tokens.header()).get_data(as_text=True)
        text = _letter_text(html)
        for aid in ("self_care_pause_plan", "home_working_short_notice"):
            assert REWORDED[aid]["to"]["title"] in text and REWORDED[aid]["to"]["employer_text"] in text, aid
        with engine.connect() as conn:
            pattern = knowledge.library_need_pattern(sa.orm.Session(bind=conn))
        assert knowledge.named_conditions(text, pattern) == []
        assert knowledge.named_conditions(_letter_text(issued_letter), pattern) == ["blood sugar", "flare"]
        pdf = pdf_text(client.get(f"/suggestions/{new_id}/letter.pdf", headers=tokens.header()).data)
        assert "Plan for becoming unwell suddenly at work" in pdf and "blood sugar" not in pdf
        token = re.search(r'/respond/([0-9a-f]{32}\.[0-9a-f]{32})"', html).group(1)
        seen = client.get(f"/employer-links/{token}").get_json()
        assert [r["title"] for r in seen["recommendations"]][:2] == [
            "Plan for becoming unwell suddenly at work", "Home working at short notice"]
        page = client.get(f"/respond/{token}").get_data(as_text=True)
        assert "Home working at short notice" in page and knowledge.named_conditions(_letter_text(page), pattern) == []

        # Downgrade to 0008 and upgrade again: the earlier wording comes back, then the new.
        library.roll_back()
        back = _wording(engine)
        assert back["versions"] == old["versions"] and back["phrases"] == old["phrases"]
        assert back["rationales"] == old["rationales"]
        assert {aid: (r.title, r.employer_text) for aid, r in back["adjustments"].items()} == {
            aid: (r.title, r.employer_text) for aid, r in old["adjustments"].items()}
        library.migrate()
        again = _wording(engine)
        assert {aid: (r.title, r.employer_text) for aid, r in again["adjustments"].items()} == {
            aid: (r.title, r.employer_text) for aid, r in new["adjustments"].items()}
        assert again["phrases"] == new["phrases"] and again["rationales"] == new["rationales"]
        assert len(again["versions"]) == len(new["versions"])
        with engine.connect() as conn:  # applying it once more changes nothing
            assert knowledge.update_wording(sa.orm.Session(bind=conn), CHANGE, "again") is None


def test_an_admin_cannot_write_wording_with_a_clinical_word(client, tokens):
    admin = tokens.header(role="alliance_admin", org=None, subject="admin-1")
    new = {"id": "home_working_bad_days", "title": "Home working during flare-ups",
           "employer_text": "Let them keep a glucose monitor at hand.", "fit_note_category": "altered_hours",
           "equality_act_requirement": "provision_criterion_practice", "adjustment_area": "hours_patterns",
           "cost_band": "none", "access_to_work": False}
    refused = client.post("/guidance/adjustments", json=new, headers=admin)
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json", refused.get_json()
    errors = {e["pointer"]: e["detail"] for e in refused.get_json()["errors"]}
    assert set(errors) == {"/title", "/employer_text"} and "'flare'" in errors["/title"]
    assert "'glucose'" in errors["/employer_text"]
    fine = {**new, **{k: REWORDED["home_working_short_notice"]["to"][k] for k in ("title", "employer_text")}}
    fine["title"] += " (second site)"  # that adjustment's own title is taken: one live adjustment a title
    assert client.post("/guidance/adjustments", json=fine, headers=admin).status_code == 201

    revision = client.get("/guidance/adjustments/self_care_pause_plan", headers=admin).get_json()["revision"]
    edit = client.patch("/guidance/adjustments/self_care_pause_plan", headers=admin,
                        json={"revision": revision, "title": "Plan for a hypo"})
    assert edit.status_code == 422 and [e["pointer"] for e in edit.get_json()["errors"]] == ["/title"]
    phrase = client.post("/guidance/phrases", headers=admin,
                         json={"limitation_id": "medication_timing", "text": "They need breaks to check levels."})
    assert phrase.status_code == 422 and "'check levels'" in phrase.get_json()["errors"][0]["detail"]


def test_search_still_finds_the_reworded_adjustments_by_the_clinical_word(client, tokens):
    """Employer wording gave the clinical words up; the rules' rationales (clinician-facing, never
    printed for the employer) carry them, and free-text search reads rationales as it reads wording."""
    def ranked(q):
        found = client.get("/guidance/search", query_string={"q": q, "limit": 100}, headers=tokens.header()).get_json()
        return [h["adjustment"]["id"] for h in found["hits"]]

    assert ranked("hypo")[0] == "self_care_pause_plan"
    assert ranked("glucose")[0] == "personal_device_allowed" and "private_space_medication" in ranked("glucose")
    assert set(ranked("flare-ups")[:2]) == {"leave_flexibility", "home_working_short_notice"}
    assert ranked("physiotherapy") == ["time_for_exercises"]
    assert ranked("collapse") == ["personal_first_aid_plan"]
    assert "access_to_work_support_service" in ranked("mental health")[:3]
    assert ranked("surgery")[0] == "phased_return_no_heavy_work"  # through the condition 'Recovery after surgery'
    # Through their rules and conditions, as before.
    assert {"self_care_pause_plan", "personal_device_allowed"} <= set(ranked("type 1 diabetes")[:3])
    assert "personal_first_aid_plan" in ranked("epilepsy")[:5]
    hit = client.get("/guidance/search", query_string={"q": "hypo"}, headers=tokens.header()).get_json()["hits"][0]
    assert "hypo" in hit["rationale"] and knowledge.named_conditions(
        " ".join([hit["adjustment"]["title"], hit["adjustment"]["employer_text"]]), _library_pattern()) == []
