"""Changing a suggestion on the pages keeps everything it holds, and the write page sends every week of a plan as
typed; the change page in real headless Chromium.

Found on a GP's walk through the pages: the API takes five conditions, notes about the job and a week-by-week plan
that skips weeks (week 1, then week 3), but the change page had three condition rows, no box for the job's notes and
numbered a plan's lines 1, 2, 3. Amending such a suggestion there, changing nothing, dropped the fourth and fifth
conditions and the notes and moved week 3 to week 2, without a word. The write page also cut each week's line to 200
characters and the plan to 26 lines, silently, where the schema's message for them was never shown."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import assert_accessible, live_server, sign_in, submit
from tests.services.adjustments.conftest import suggestion_body
from tests.services.adjustments.test_page_errors import csrf_for

pytestmark = pytest.mark.timeout(180)
SAVE = "Save and preview the letter"
FIVE_CONDITIONS = [{"text": text, "condition_id": None, "disclose": False}
                   for text in ("Depression", "Eczema", "Tennis elbow", "Hay fever", "Ingrown toenail")]
PLAN_SKIPPING_A_WEEK = [{"week": 1, "plan": "4 hours a day, 3 days"}, {"week": 3, "plan": "Full hours, 5 days"}]


def written_through_the_api(client, h) -> dict:
    body = suggestion_body(conditions=FIVE_CONDITIONS, **{
        "job.notes": "Night shifts on a rota; the line manager is new.",
        "recommendations": [{"difficulty": "Tiredness by mid-afternoon", "adjustment_id": "phased_return_4wk",
                             "schedule": PLAN_SKIPPING_A_WEEK}]})
    created = client.post("/suggestions", json=body, headers=h)
    assert created.status_code == 201, created.get_json()
    suggestion = created.get_json()
    assert client.post(f"/suggestions/{suggestion['id']}/issue", json={"version": 1}, headers=h).status_code == 200
    return suggestion


def test_amending_on_the_page_changing_nothing_keeps_every_condition_the_job_notes_and_the_plan_s_weeks(
        app, tokens, page):
    client, h = app.test_client(), tokens.header()
    suggestion = written_through_the_api(client, h)
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), f"/review/{suggestion['id']}/change")
        expect(page.get_by_role("heading", level=1)).to_have_text("Amend the suggestion")
        conditions = page.get_by_label("Condition affecting fitness for work")
        expect(conditions).to_have_count(5)
        assert [conditions.nth(i).input_value() for i in range(5)] == [c["text"] for c in FIVE_CONDITIONS]
        expect(page.get_by_label("Notes about the job (optional)")).to_have_value(
            "Night shifts on a rota; the line manager is new.")
        expect(page.locator("#recommendations-0-schedule")).to_have_value(
            "Week 1: 4 hours a day, 3 days\nWeek 3: Full hours, 5 days")
        assert_accessible(page)
        submit(page, page.get_by_role("button", name=SAVE))
        expect(page.locator("#status .nhsuk-tag")).to_have_text("Amended")
    amended = client.get(f"/suggestions/{suggestion['id']}", headers=h).get_json()
    assert amended["conditions"] == FIVE_CONDITIONS
    assert amended["job"]["notes"] == "Night shifts on a rota; the line manager is new."
    assert amended["recommendations"][0]["schedule"] == PLAN_SKIPPING_A_WEEK


def write_form(client, h, schedule: str) -> dict:
    body = suggestion_body()
    return {"csrf_token": csrf_for(client, "/write", headers=h),
            "patient.nhs_number": body["patient"]["nhs_number"], "patient.given_name": "Sam",
            "patient.family_name": "Patel", "patient.birth_date": "1985-04-12",
            "assessment.date": body["assessment"]["date"], "assessment.method": "face_to_face",
            "conditions.0.text": "Depression", "decision": "may_be_fit", "categories": "altered_hours",
            "functional_effects": "Tires quickly; mornings are hardest.",
            "recommendations.0.adjustment_id": "phased_return_4wk", "recommendations.0.schedule": schedule,
            "period.start": body["period"]["start"], "period.duration_days": "84",
            "job.notes": "Works alone on Fridays.", "issuer.name": "Dr Ada Lovelace", "issuer.profession": "doctor"}


def test_the_write_page_sends_each_week_as_typed_and_names_a_week_to_skip_to(client, tokens):
    h = tokens.header()
    saved = client.post("/write", headers=h, data=write_form(
        client, h, "4 hours a day\nweek 4: 6 hours a day\nFull hours\nWeek 1-2: as agreed"))
    assert saved.status_code == 303, saved.get_data(as_text=True)
    suggestion_id = re.search(r"/review/([0-9a-f-]{36})", saved.headers["Location"]).group(1)
    stored = client.get(f"/suggestions/{suggestion_id}", headers=h).get_json()
    assert stored["recommendations"][0]["schedule"] == [
        {"week": 1, "plan": "4 hours a day"}, {"week": 4, "plan": "6 hours a day"}, {"week": 5, "plan": "Full hours"},
        {"week": 6, "plan": "Week 1-2: as agreed"}]  # only "Week <n>:" names a week
    assert stored["job"]["notes"] == "Works alone on Fridays."


@pytest.mark.parametrize("schedule", ["x" * 201, "\n".join(f"{n} hours" for n in range(27))])
def test_a_week_too_long_or_a_27th_week_is_refused_on_the_box_not_cut_off(client, tokens, schedule):
    h = tokens.header()
    refused = client.post("/write", headers=h, data=write_form(client, h, schedule))
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert 'id="recommendations-0-schedule-error"' in page  # shown on the plan's box, which it links to
    assert "Each week of the plan must be 200 characters or fewer, weeks 1 to 26" in page
    assert client.get("/suggestions", headers=h).get_json()["total"] == 0  # nothing saved, cut or not


def test_an_amendment_saved_over_by_another_keeps_what_was_typed_and_saves_when_sent_again(app, tokens, page):
    """Opened, then changed in another tab or by a colleague: saving went to the review page ("The suggestion changed
    since you opened this page") and what the clinician had typed was gone."""
    client, h = app.test_client(), tokens.header()
    suggestion = written_through_the_api(client, h)
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), f"/review/{suggestion['id']}/change")
        expect(page.get_by_role("heading", level=1)).to_have_text("Amend the suggestion")
        stored = client.get(f"/suggestions/{suggestion['id']}", headers=h).get_json()
        first = client.post(f"/suggestions/{suggestion['id']}/amend", headers=h, json={
            **suggestion_body(conditions=FIVE_CONDITIONS), "version": stored["version"],
            "functional_effects": "Saved first, from another tab."})
        assert first.status_code == 200, first.get_json()
        typed = "Typed here while the other change was saved: can lift up to 5 kg."
        page.get_by_label("Functional effects, in plain words").fill(typed)
        submit(page, page.get_by_role("button", name=SAVE))

        expect(page.get_by_role("alert")).to_contain_text("This suggestion was changed after you opened this page")
        expect(page.get_by_label("Functional effects, in plain words")).to_have_value(typed)
        assert page.title().startswith("Error: ")
        assert_accessible(page)
        assert client.get(f"/suggestions/{suggestion['id']}", headers=h).get_json()["functional_effects"] == \
            "Saved first, from another tab."  # nothing saved over it unasked
        submit(page, page.get_by_role("button", name=SAVE))
        expect(page.locator("#status .nhsuk-tag")).to_have_text("Amended")
    assert client.get(f"/suggestions/{suggestion['id']}", headers=h).get_json()["functional_effects"] == typed


def test_a_pick_retired_since_keeps_its_place_and_is_removed_by_its_own_box(app, tokens, page):
    """The change page left out a library pick the alliance had retired since it was picked, and the rows below moved
    up into its place: saved, 'Phased return' carried the retired pick's difficulty and its own was lost."""
    client, h = app.test_client(), tokens.header()
    created = client.post("/suggestions", headers=h, json=suggestion_body(recommendations=[
        {"difficulty": "Noise makes concentrating hard", "adjustment_id": "quiet_workspace"},
        {"difficulty": "Tiredness by mid-afternoon", "adjustment_id": "phased_return_4wk"},
        {"difficulty": "Early starts", "free_text": "Start at 10am for the first month."}])).get_json()
    admin = tokens.header(role="alliance_admin", org=None, subject="admin-1")
    revision = client.get("/guidance/adjustments/quiet_workspace", headers=admin).get_json()["revision"]
    assert client.patch("/guidance/adjustments/quiet_workspace", headers=admin,
                        json={"revision": revision, "review_status": "retired"}).status_code == 200
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), f"/review/{created['id']}/change")
        expect(page.get_by_role("heading", level=1)).to_have_text("Change the draft")
        retired, kept = page.locator("#recommendations-0"), page.locator("#recommendations-1")
        expect(retired.locator("legend")).to_contain_text("Quieter workspace")
        expect(retired.locator("legend")).to_contain_text("No longer in the guidance library")
        expect(kept.locator("legend")).to_contain_text("Phased return over four weeks")
        expect(kept.get_by_label("Difficulty it addresses (optional)")).to_have_value("Tiredness by mid-afternoon")
        assert_accessible(page)
        submit(page, page.get_by_role("button", name=SAVE))
        expect(page.get_by_role("alert")).to_contain_text("No adjustment 'quiet_workspace' in the guidance library")
        expect(page.locator("#recommendations-0-remove-error")).to_be_visible()
        retired.get_by_label("Remove this recommendation from the suggestion").check()
        submit(page, page.get_by_role("button", name=SAVE))
        expect(page.locator("#status .nhsuk-tag")).to_have_text("Draft")
    stored = client.get(f"/suggestions/{created['id']}", headers=h).get_json()["recommendations"]
    assert [(r["adjustment_id"], r["difficulty"]) for r in stored] == [
        ("phased_return_4wk", "Tiredness by mid-afternoon"), (None, "Early starts")]
