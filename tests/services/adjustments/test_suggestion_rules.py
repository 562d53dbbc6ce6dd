"""NHS-number validation and every fit-note rule, with clear 422 problems naming each field."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from worklink_adjustments.models import Adjustment
from worklink_adjustments.domain import add_months, nhs_number_is_valid, uk_today
from tests.services.adjustments.conftest import suggestion_body

TODAY = uk_today()


@pytest.mark.parametrize("number, valid", [
    ("9434765919", True), ("9434765870", True), ("4010232137", True),
    ("9434765918", False),  # wrong check digit
    ("1234567890", False),  # remainder gives check digit 10: never issued
    ("943476591", False), ("94347659190", False), ("94347659a9", False), ("", False),
])
def test_nhs_number_modulus_11(number, valid):
    assert nhs_number_is_valid(number) is valid


def test_add_months_clamps_to_month_end():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)


def post(client, tokens, body):
    return client.post("/suggestions", json=body, headers=tokens.header())


def pointers(response) -> dict[str, str]:
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    return {e["pointer"]: e["detail"] for e in response.get_json()["errors"]}


def test_a_valid_suggestion_is_saved_as_a_draft(client, tokens):
    response = post(client, tokens, suggestion_body(**{"patient.nhs_number": "943 476 5919"}))
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "draft" and body["version"] == 1 and body["patient"]["nhs_number"] == "9434765919"
    # The library adjustments' fit-note boxes are ticked too, and their wording is kept with the suggestion.
    assert body["categories"] == ["phased_return", "altered_hours", "workplace_adaptations"]
    assert body["recommendations"][0]["title"] == "Phased return over four weeks"


def test_invalid_nhs_number_is_refused(client, tokens):
    errors = pointers(post(client, tokens, suggestion_body(**{"patient.nhs_number": "9434765918"})))
    assert "check digit" in errors["/patient/nhs_number"]
    assert "/patient/nhs_number" in pointers(post(client, tokens, suggestion_body(**{"patient.nhs_number": "12345"})))


def test_not_fit_carries_no_advice(client, tokens):
    errors = pointers(post(client, tokens, suggestion_body(decision="not_fit")))
    assert set(errors) == {"/categories", "/recommendations"}
    ok = post(client, tokens, suggestion_body(decision="not_fit", categories=[], recommendations=[]))
    assert ok.status_code == 201 and ok.get_json()["categories"] == []


@pytest.mark.parametrize("box", ["phased_return", "altered_hours", "amended_duties", "workplace_adaptations"])
def test_not_fit_takes_none_of_the_may_be_fit_boxes_and_publishes_none(app, client, tokens, box):
    """The fit note's four advice boxes belong to "may be fit for work": each, ticked alone on a "not fit" note, is
    refused by its field, written or amended to; a not-fit note's issued and amended events carry no box."""
    from tests.services.adjustments.test_people_rights import outbox

    assert set(pointers(post(client, tokens, suggestion_body(decision="not_fit", categories=[box],
                                                             recommendations=[])))) == {"/categories"}
    h = tokens.header()
    not_fit = post(client, tokens, suggestion_body(decision="not_fit", categories=[], recommendations=[])).get_json()
    assert client.post(f"/suggestions/{not_fit['id']}/issue", json={"version": 1}, headers=h).status_code == 200
    may_be_fit = post(client, tokens, suggestion_body(categories=[box])).get_json()
    issued = client.post(f"/suggestions/{may_be_fit['id']}/issue", json={"version": 1}, headers=h).get_json()
    amend = {**suggestion_body(decision="not_fit", categories=[box], recommendations=[]), "version": issued["version"]}
    assert set(pointers(client.post(f"/suggestions/{may_be_fit['id']}/amend", json=amend, headers=h))) == {"/categories"}
    amended = client.post(f"/suggestions/{may_be_fit['id']}/amend", json={**amend, "categories": []}, headers=h)
    assert amended.status_code == 200 and amended.get_json()["categories"] == []
    sent = {(e["data"]["suggestion_id"], e["type"]): e["data"]["categories"] for e in outbox(app)
            if e["type"] in ("adjustments.suggestion.issued", "adjustments.suggestion.amended")}
    assert sent[(not_fit["id"], "adjustments.suggestion.issued")] == []
    assert box in sent[(may_be_fit["id"], "adjustments.suggestion.issued")]
    assert sent[(may_be_fit["id"], "adjustments.suggestion.amended")] == []


def test_at_most_three_months_in_the_first_six_months(client, tokens):
    # The end date is inclusive: 3 months from 1 November are 1 November to 31 January.
    long_period = {"start": TODAY.isoformat(), "end": add_months(TODAY, 3).isoformat()}
    errors = pointers(post(client, tokens, suggestion_body(period=long_period)))
    assert "at most 3 months" in errors["/period"]
    exactly_three = {"start": TODAY.isoformat(), "end": (add_months(TODAY, 3) - timedelta(days=1)).isoformat()}
    assert post(client, tokens, suggestion_body(period=exactly_three)).status_code == 201
    days = (add_months(TODAY, 3) - TODAY).days
    assert "/period" in pointers(post(client, tokens, suggestion_body(period={"start": TODAY.isoformat(),
                                                                             "duration_days": days + 1})))
    assert post(client, tokens, suggestion_body(period={"start": TODAY.isoformat(), "duration_days": days})
                ).status_code == 201
    # After six months of the condition, a longer period is allowed.
    later = suggestion_body(period=long_period, **{"assessment.condition_started_on": (TODAY - timedelta(days=200)).isoformat()})
    assert post(client, tokens, later).status_code == 201
    # Unknown onset counts as the first six months.
    unknown = suggestion_body(period=long_period, **{"assessment.condition_started_on": None})
    assert "/period" in pointers(post(client, tokens, unknown))


def test_open_ended_only_after_six_months(client, tokens):
    errors = pointers(post(client, tokens, suggestion_body(period={"start": TODAY.isoformat()})))
    assert "six months" in errors["/period/end"]
    after = suggestion_body(period={"start": TODAY.isoformat()},
                            **{"assessment.condition_started_on": (TODAY - timedelta(days=400)).isoformat()})
    assert post(client, tokens, after).status_code == 201


def test_short_periods_need_explicit_dates(client, tokens):
    errors = pointers(post(client, tokens, suggestion_body(period={"start": TODAY.isoformat(), "duration_days": 10})))
    assert "explicit start and end dates" in errors["/period/end"]
    explicit = {"start": TODAY.isoformat(), "end": (TODAY + timedelta(days=9)).isoformat()}
    assert post(client, tokens, suggestion_body(period=explicit)).status_code == 201
    long_duration = {"start": TODAY.isoformat(), "duration_days": 15}
    created = post(client, tokens, suggestion_body(period=long_duration))
    assert created.status_code == 201
    assert created.get_json()["period"]["end"] == (TODAY + timedelta(days=14)).isoformat()
    both = {"start": TODAY.isoformat(), "end": (TODAY + timedelta(days=20)).isoformat(), "duration_days": 21}
    assert "/period" in pointers(post(client, tokens, suggestion_body(period=both)))


def test_only_the_five_professions_may_issue(client, tokens):
    errors = pointers(post(client, tokens, suggestion_body(**{"issuer.profession": "paramedic"})))
    assert "physiotherapists" in errors["/issuer/profession"]
    for profession in ("nurse", "occupational_therapist", "pharmacist", "physiotherapist"):
        assert post(client, tokens, suggestion_body(**{"issuer.profession": profession})).status_code == 201


def test_words_for_the_employer_must_not_name_a_private_condition(client, tokens):
    leaky = suggestion_body(functional_effects="Her depression means she tires quickly.")
    assert "has not agreed to disclose" in pointers(post(client, tokens, leaky))["/functional_effects"]
    disclosed = suggestion_body(functional_effects="Her depression means she tires quickly.",
                                conditions=[{"text": "Depression", "disclose": True}])
    assert post(client, tokens, disclosed).status_code == 201
    # Disclosure needs the consent to share with the employer as well.
    no_share = suggestion_body(functional_effects="Her depression means she tires quickly.",
                               conditions=[{"text": "Depression", "disclose": True}],
                               **{"consent.share_with_employer": False})
    assert "/functional_effects" in pointers(post(client, tokens, no_share))


def test_the_letter_wording_of_a_chosen_adjustment_and_the_weekly_plan_must_not_name_a_private_condition(
        app, client, tokens):
    # The library's own wording names no condition (test_library_wording); this rule is the second
    # line, for wording that does: put back the starter library's version 1 wording of the dark room.
    with app.extensions["worklink"].database.transaction() as session:
        session.execute(sa.update(Adjustment).where(Adjustment.id == "dark_quiet_rest_space").values(
            employer_text="Allow access to a dark, quiet room during a migraine attack."))
    migraine = [{"text": "Migraine", "condition_id": "migraine", "disclose": False}]
    dark_room = [{"difficulty": "Attacks at work", "adjustment_id": "dark_quiet_rest_space"}]
    body = suggestion_body(conditions=migraine, recommendations=dark_room,
                           functional_effects="Sometimes has to stop work for a few hours.")
    errors = pointers(post(client, tokens, body))
    assert "names 'migraine'" in errors["/recommendations/0/adjustment_id"]  # its wording: "during a migraine attack"
    agreed = suggestion_body(conditions=[{**migraine[0], "disclose": True}], recommendations=dark_room,
                             functional_effects="Sometimes has to stop work for a few hours.")
    assert post(client, tokens, agreed).status_code == 201
    plan = suggestion_body(recommendations=[{"difficulty": "Tiredness", "adjustment_id": "phased_return_4wk",
                                             "schedule": [{"week": 1, "plan": "Half days"},
                                                          {"week": 2, "plan": "Full days unless the depression flares"}]}])
    assert "has not agreed to disclose" in pointers(post(client, tokens, plan))["/recommendations/0/schedule/1/plan"]
    # Written in the clinician's own words, the condition's library name is still caught.
    own_words = suggestion_body(conditions=[{"text": "Chronic daily headache", "condition_id": "migraine"}],
                                recommendations=dark_room, functional_effects="Sometimes has to stop work.")
    assert "names 'migraine'" in pointers(post(client, tokens, own_words))["/recommendations/0/adjustment_id"]
    unknown = suggestion_body(conditions=[{"text": "Gout", "condition_id": "gout"}])
    assert "/conditions/0/condition_id" in pointers(post(client, tokens, unknown))


def test_shape_and_reference_errors_name_each_field(client, tokens):
    body = suggestion_body(recommendations=[{"difficulty": "x", "adjustment_id": "teleport"}, {"difficulty": "y"}],
                           **{"assessment.date": (TODAY + timedelta(days=1)).isoformat()})
    errors = pointers(post(client, tokens, body))
    assert {"/recommendations/0/adjustment_id", "/recommendations/1", "/assessment/date"} <= set(errors)
    shape = pointers(post(client, tokens, suggestion_body(decision="maybe", **{"patient.given_name": ...})))
    assert {"/decision", "/patient/given_name"} <= set(shape)
    tasks = pointers(post(client, tokens, suggestion_body(**{"job.tasks": ["juggling"]})))
    assert "/job/tasks" in tasks
    no_effects = pointers(post(client, tokens, suggestion_body(functional_effects="  ")))
    assert "/functional_effects" in no_effects


def test_only_clinicians_of_a_practice_write_suggestions(client, tokens):
    assert client.post("/suggestions", json=suggestion_body()).status_code == 401
    assert post(client, tokens, suggestion_body()).status_code == 201
    adviser = client.post("/suggestions", json=suggestion_body(), headers=tokens.header(role="adviser"))
    assert adviser.status_code == 403
    no_practice = client.post("/suggestions", json=suggestion_body(), headers=tokens.header(org="not-a-practice-id"))
    assert no_practice.status_code == 403


def test_dates_stay_within_a_sane_window_of_the_assessment(client, tokens):
    """A period starts within 3 months of the assessment; a duration from far in the future is a field
    error, not a 500; birth and review dates are plausible."""
    far = suggestion_body(period={"start": "9999-12-20", "duration_days": 3650})
    assert "within 3 months" in pointers(post(client, tokens, far))["/period/start"]
    for start in (add_months(TODAY, 3) + timedelta(days=1), add_months(TODAY, -3) - timedelta(days=1),
                  date(1900, 1, 1), date(2099, 1, 1)):
        body = suggestion_body(period={"start": start.isoformat(), "end": (start + timedelta(days=20)).isoformat()})
        assert "/period/start" in pointers(post(client, tokens, body)), start
    soon = add_months(TODAY, 3) - timedelta(days=20)  # a return to work planned two months ahead
    body = suggestion_body(period={"start": soon.isoformat(), "end": (soon + timedelta(days=20)).isoformat()})
    assert post(client, tokens, body).status_code == 201
    old = suggestion_body(**{"patient.birth_date": "1800-01-01"})
    assert "120 years" in pointers(post(client, tokens, old))["/patient/birth_date"]
    before_birth = suggestion_body(**{"assessment.date": "1980-01-01", "assessment.condition_started_on": None},
                                   period={"start": "1980-01-01", "end": "1980-01-20"})
    assert "/assessment/date" in pointers(post(client, tokens, before_birth))
    review = suggestion_body(review_date="2999-01-01")
    assert "12 months" in pointers(post(client, tokens, review))["/review_date"]
    ancient = suggestion_body(**{"assessment.date": "0001-01-02", "assessment.condition_started_on": None},
                              period={"start": "0001-01-02", "duration_days": 20})
    assert post(client, tokens, ancient).status_code == 422


def test_a_week_by_week_plan_stays_within_the_period_and_gives_each_week_once(client, tokens):
    """A plan is advice for the period: a ten-week return on a four-week note, or two plans for week 2, were issued."""
    def planned(weeks: list[int], days: int):
        row = {"difficulty": "Tiredness", "free_text": "A phased return.",
               "schedule": [{"week": w, "plan": f"Plan {w}"} for w in weeks]}
        period = {"start": TODAY.isoformat(), "end": (TODAY + timedelta(days=days - 1)).isoformat()}
        return post(client, tokens, suggestion_body(recommendations=[row], period=period))

    too_long = pointers(planned([1, 2, 3, 4, 5], 28))  # week 5 starts on day 29
    assert list(too_long) == ["/recommendations/0/schedule/4/week"]
    assert "starts after the period ends" in too_long["/recommendations/0/schedule/4/week"]
    assert list(pointers(planned([1, 2, 2], 28))) == ["/recommendations/0/schedule/2/week"]
    assert planned([1, 2, 3, 4], 28).status_code == 201
    assert planned([1, 2, 3, 4, 5], 29).status_code == 201  # week 5's first day is the period's last


def test_a_draft_naming_an_adjustment_retired_since_is_refused_at_issue(client, tokens):
    """The alliance retires guidance it no longer stands behind; a draft written before still issued it, since issue
    checked the draft's ids against themselves."""
    created = post(client, tokens, suggestion_body()).get_json()
    admin = tokens.header(role="alliance_admin", org=None, subject="alliance-lead")
    read = client.get("/guidance/adjustments/quiet_workspace", headers=admin).get_json()
    retired = client.patch("/guidance/adjustments/quiet_workspace", headers=admin,
                           json={"revision": read["revision"], "review_status": "retired"})
    assert retired.status_code == 200, retired.get_json()

    refused = client.post(f"/suggestions/{created['id']}/issue", json={"version": 1}, headers=tokens.header())
    assert list(pointers(refused)) == ["/recommendations/1/adjustment_id"]
    assert client.get(f"/suggestions/{created['id']}", headers=tokens.header()).get_json()["status"] == "draft"
    kept = post(client, tokens, suggestion_body(recommendations=suggestion_body()["recommendations"][:1])).get_json()
    assert client.post(f"/suggestions/{kept['id']}/issue", json={"version": 1},
                       headers=tokens.header()).status_code == 200
