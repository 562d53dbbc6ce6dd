"""The referral state machine: every action from every state, roles, data, versions, clocks."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from worklink_referrals import domain as d
from worklink_referrals.domain import Actor, Attempt, Snapshot, Status

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)  # a Wednesday
REFERRER_ORG, ADVISER_ORG = "org-gp", "org-adviser"
ADVISER = Actor("adviser-1", "adviser", ADVISER_ORG)
GP = Actor("gp-1", "gp", REFERRER_ORG)
PERSON = Actor("person-link", "resident", via_person_link=True)
ADMIN = Actor("admin-1", "alliance_admin")
SYSTEM = Actor("system", "system")
STRANGER = Actor("adviser-9", "adviser", "org-elsewhere")

ATTEMPTS = (Attempt("phone", "no_answer"), Attempt("phone", "left_message"), Attempt("email", "no_answer"))
# For each action: an actor allowed to take it and data that satisfies it.
GOOD = {
    "acknowledge": (ADVISER, {}),
    "accept": (ADVISER, {"adviser_id": "adviser-1"}),
    "assign": (ADVISER, {"claim": True}),
    "record_contact_attempt": (ADVISER, {"channel": "phone", "result": "no_answer"}),
    "make_first_contact": (ADVISER, {}),
    "update_progress": (ADVISER, {"business_status": "plan_agreed"}),
    "put_on_hold": (ADVISER, {"reason": "person_unwell", "review_date": date(2026, 12, 10)}),
    "resume": (ADVISER, {"note": "feeling better"}),
    "reject": (ADVISER, {"reason": "out_of_area"}),
    "cancel": (ADMIN, {"reason": "other", "text": "moved abroad"}),
    "fail": (ADVISER, {"reason": "failed_contact"}),
    "complete": (ADVISER, {"end_reason": "goals_met"}),
    "enter_in_error": (ADMIN, {"text": "wrong patient"}),  # any time; the referrer only before received
    "record_outcome": (ADVISER, {"type": "job_start", "occurred_on": date(2026, 11, 20), "hours_band": "16_to_29"}),
}
LEGAL = {
    "acknowledge": {"submitted"},
    "accept": {"submitted", "triage"},
    "assign": {"submitted", "triage", "accepted", "in_progress", "on_hold"},
    "record_contact_attempt": {"accepted", "in_progress"},
    "make_first_contact": {"accepted"},
    "update_progress": {"in_progress"},
    "put_on_hold": {"accepted", "in_progress"},
    "resume": {"on_hold"},
    "reject": {"submitted", "triage"},
    "cancel": {"submitted", "triage", "accepted", "in_progress", "on_hold"},
    "fail": {"accepted", "in_progress", "on_hold"},
    "complete": {"in_progress"},
    "enter_in_error": set(Status) - {"entered_in_error"},
    "record_outcome": {"in_progress", "on_hold", "completed", "failed"},
}
TARGET = {"acknowledge": "triage", "reject": "rejected", "cancel": "cancelled", "fail": "failed",
          "complete": "completed", "enter_in_error": "entered_in_error", "make_first_contact": "in_progress",
          "put_on_hold": "on_hold", "accept": "accepted"}


def referral(status: Status | str, **kw) -> Snapshot:
    base = dict(status=Status(status), version=3, referrer_org_id=REFERRER_ORG, assigned_org_id=ADVISER_ORG,
                attempts=ATTEMPTS, outcome_count=1, held_from=Status.ACCEPTED)
    return Snapshot(**{**base, **kw})


def decide(snapshot, action, actor=None, data=None, version=3):
    good_actor, good_data = GOOD[action]
    return d.decide(snapshot, action, actor or good_actor, good_data if data is None else data,
                    expected_version=version, now=NOW)


def test_the_table_covers_every_action():
    assert set(GOOD) == set(LEGAL) == set(d.ACTIONS)


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("action", d.ACTIONS)
def test_every_action_from_every_state(action, status):
    if status in LEGAL[action]:
        decision = decide(referral(status), action)
        expected = TARGET.get(action, status if action != "resume" else "accepted")
        assert decision.status == expected
    else:
        with pytest.raises(d.IllegalTransition) as raised:
            decide(referral(status), action)
        assert raised.value.status == 409
        assert action not in raised.value.extensions["allowed_actions"]


def test_terminal_states_accept_only_outcome_additions():
    for status in ("completed", "failed"):
        legal = {a for a in d.ACTIONS if status in LEGAL[a]}
        assert legal == {"record_outcome", "enter_in_error"}
    for status in ("rejected", "cancelled"):
        assert {a for a in d.ACTIONS if status in LEGAL[a]} == {"enter_in_error"}
    assert not {a for a in d.ACTIONS if "entered_in_error" in LEGAL[a]}


def test_a_stale_version_is_a_conflict_never_an_overwrite():
    with pytest.raises(d.StaleVersion) as raised:
        decide(referral("submitted"), "acknowledge", version=2)
    assert raised.value.status == 409 and raised.value.extensions["current_version"] == 3
    with pytest.raises(d.MissingData):
        d.decide(referral("submitted"), "acknowledge", ADVISER, {}, expected_version=None, now=NOW)


@pytest.mark.parametrize("action", ["acknowledge", "accept", "make_first_contact", "complete", "record_outcome", "reject"])
def test_only_the_assigned_organisation_works_the_referral(action):
    status = next(iter(sorted(LEGAL[action])))
    for outsider in (STRANGER, GP, PERSON, Actor("r", "resident")):
        with pytest.raises(d.NotPermitted):
            decide(referral(status), action, actor=outsider)


def test_alliance_admin_may_reject_but_not_do_adviser_work():
    assert decide(referral("triage"), "reject", actor=ADMIN).status == "rejected"
    with pytest.raises(d.NotPermitted):
        decide(referral("triage"), "accept", actor=ADMIN)


def test_who_may_cancel_and_when():
    assert decide(referral("accepted"), "cancel", actor=GP, data={"reason": "referrer_withdrew"}).status == "cancelled"
    with pytest.raises(d.IllegalTransition):  # work has started: not the referrer any more
        decide(referral("in_progress"), "cancel", actor=GP, data={"reason": "referrer_withdrew"})
    assert decide(referral("in_progress"), "cancel", actor=PERSON, data={"reason": "person_withdrew"}).status == "cancelled"
    assert decide(referral("on_hold"), "cancel", actor=SYSTEM, data={"reason": "consent_withdrawn"}).status == "cancelled"
    with pytest.raises(d.NotPermitted):
        decide(referral("submitted"), "cancel", actor=ADVISER, data={"reason": "other", "text": "x"})


@pytest.mark.parametrize("action,data,field", [
    ("reject", {}, "reason"),
    ("reject", {"reason": "other"}, "text"),
    ("cancel", {"reason": "bored"}, "reason"),
    ("put_on_hold", {"reason": "person_unwell"}, "review_date"),
    ("put_on_hold", {"reason": "person_unwell", "review_date": date(2026, 11, 1)}, "review_date"),
    ("resume", {"note": "  "}, "note"),
    ("record_contact_attempt", {"channel": "pigeon", "result": "no_answer"}, "channel"),
    ("update_progress", {"business_status": "waitlisted"}, "business_status"),
    ("complete", {}, "end_reason"),
    ("enter_in_error", {}, "text"),
    ("assign", {}, "adviser_id"),
    ("record_outcome", {"type": "job_start", "occurred_on": date(2026, 11, 20)}, "hours_band"),
])
def test_required_data(action, data, field):
    status = sorted(LEGAL[action])[0]
    with pytest.raises(d.MissingData) as raised:
        decide(referral(status), action, data=data)
    assert field in raised.value.errors and raised.value.status == 422


def test_completing_needs_an_outcome():
    with pytest.raises(d.MissingData) as raised:
        decide(referral("in_progress", outcome_count=0), "complete")
    assert "outcomes" in raised.value.errors
    assert decide(referral("in_progress"), "complete").events == ("completed", "feedback_ready")


def test_failed_contact_needs_three_attempts_over_two_channels():
    one_channel = tuple(Attempt("phone", "no_answer") for _ in range(5))
    with pytest.raises(d.MissingData):
        decide(referral("accepted", attempts=one_channel), "fail")
    with pytest.raises(d.MissingData):
        decide(referral("accepted", attempts=ATTEMPTS[:2]), "fail")
    assert decide(referral("accepted"), "fail").status == "failed"
    with pytest.raises(d.MissingData) as raised:  # N is configurable (REFERRALS_FAILED_CONTACT_ATTEMPTS)
        d.decide(referral("accepted"), "fail", ADVISER, {"reason": "failed_contact"}, expected_version=3, now=NOW,
                 failed_contact_attempts=4)
    assert "at least 4 recorded attempts" in raised.value.errors["reason"]
    assert decide(referral("in_progress", attempts=()), "fail", data={"reason": "disengaged"}).status == "failed"


def test_accept_allocates_or_waitlists_and_business_statuses_move():
    assert decide(referral("triage"), "accept").business_status == "allocated"
    waitlisted = decide(referral("triage"), "accept", data={})
    assert waitlisted.business_status == "waitlisted" and waitlisted.events == ("accepted",)
    claimed_on_accept = decide(referral("triage"), "accept", data={"claim": True})  # as with assign
    assert claimed_on_accept.updates["assigned_adviser"] == "adviser-1" and claimed_on_accept.business_status == "allocated"
    straight = decide(referral("submitted"), "accept", data={})
    assert straight.events == ("received", "accepted") and "acknowledged_at" in straight.updates
    assert decide(referral("accepted", business_status="allocated"), "record_contact_attempt").business_status == "contact_attempted"
    claimed = decide(referral("accepted", business_status="waitlisted"), "assign")
    assert claimed.updates["assigned_adviser"] == "adviser-1" and claimed.business_status == "allocated"
    assert decide(referral("accepted"), "make_first_contact").business_status == "engaged"


def test_hold_and_resume_return_to_where_it_was():
    held = decide(referral("in_progress"), "put_on_hold")
    assert held.updates["held_from"] == "in_progress"
    assert decide(referral("on_hold", held_from=Status.IN_PROGRESS), "resume").status == "in_progress"


def test_outcomes_after_completion_also_make_feedback_ready():
    assert decide(referral("completed"), "record_outcome").events == ("outcome_recorded", "feedback_ready")
    assert decide(referral("in_progress"), "record_outcome").events == ("outcome_recorded",)


@pytest.mark.parametrize("data,field", [
    ({"type": "sustained_job_outcome", "occurred_on": date(2026, 11, 1), "weeks_in_work": 13,
      "period_weeks": 17, "hours_per_week": 8}, "period_weeks"),
    ({"type": "sustained_job_outcome", "occurred_on": date(2026, 11, 1), "weeks_in_work": 13,
      "period_weeks": 16, "hours_per_week": 6.5}, "hours_per_week"),
    ({"type": "fit_note_change", "occurred_on": date(2026, 11, 1), "fit_note_from": "fit",
      "fit_note_to": "not_fit"}, "fit_note_to"),
    ({"type": "stayed_in_work", "occurred_on": date(2026, 12, 30)}, "occurred_on"),
    ({"type": "promotion", "occurred_on": date(2026, 11, 1)}, "type"),
])
def test_outcome_rules(data, field):
    with pytest.raises(d.MissingData) as raised:
        d.validate_outcome(data, today=NOW.date())
    assert field in raised.value.errors


def test_a_sustained_job_outcome_that_meets_the_rule():
    outcome = d.validate_outcome({"type": "sustained_job_outcome", "occurred_on": date(2026, 11, 1),
                                  "weeks_in_work": 13, "period_weeks": 16, "hours_per_week": 7,
                                  "sustainment_check_weeks": 13}, today=NOW.date())
    assert outcome["sustainment_check_weeks"] == 13
    assert d.sustainment_due_dates(date(2026, 1, 5)) == {13: date(2026, 4, 6), 26: date(2026, 7, 6)}


def test_working_days_skip_weekends_and_holidays():
    friday = datetime(2026, 11, 27, 16, 0, tzinfo=timezone.utc)
    assert d.add_working_days(friday, 1) == datetime(2026, 11, 30, 16, 0, tzinfo=timezone.utc)
    assert d.add_working_days(friday, 2, frozenset({date(2026, 11, 30)})).date() == date(2026, 12, 2)
    saturday = friday + timedelta(days=1)
    assert d.add_working_days(saturday, 1).date() == date(2026, 11, 30)


def test_working_days_and_today_are_counted_on_the_uk_calendar():
    """Stored moments are UTC; the alliance works in UK time (BST in summer)."""
    # 00:30 BST on Saturday 4 July is still Friday in UTC: a weekend start, so due Tuesday 00:30 BST.
    saturday_in_the_uk = datetime(2026, 7, 3, 23, 30, tzinfo=timezone.utc)
    assert d.add_working_days(saturday_in_the_uk, 2) == datetime(2026, 7, 6, 23, 30, tzinfo=timezone.utc)
    # 09:00 stays 09:00 UK time across the change of the clocks (29 March 2026).
    friday = datetime(2026, 3, 27, 9, 0, tzinfo=timezone.utc)  # 09:00 GMT
    assert d.add_working_days(friday, 2) == datetime(2026, 3, 31, 8, 0, tzinfo=timezone.utc)  # 09:00 BST
    assert d.working_days_between(saturday_in_the_uk, datetime(2026, 7, 6, 23, 30, tzinfo=timezone.utc)) == 2
    # At 00:30 BST on 2 July it is 2 July: a hold to review "today" is not in the future, a job
    # start today is not in the future either.
    past_midnight = datetime(2026, 7, 1, 23, 30, tzinfo=timezone.utc)
    hold = {"reason": "person_unwell", "review_date": date(2026, 7, 2)}
    with pytest.raises(d.MissingData) as raised:
        d.decide(referral("in_progress"), "put_on_hold", ADVISER, hold, expected_version=3, now=past_midnight)
    assert raised.value.errors == {"review_date": "must be in the future"}
    started = d.decide(referral("in_progress"), "record_outcome", ADVISER,
                       {"type": "job_start", "occurred_on": date(2026, 7, 2), "hours_band": "16_to_29"},
                       expected_version=3, now=past_midnight)
    assert started.updates["outcome"]["occurred_on"] == date(2026, 7, 2)


def test_clocks_breach_when_past_due_or_met_late():
    targets = d.ClockTargets()
    submitted = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)  # Friday: due Tuesday 09:00
    state = d.ClockState(submitted_at=submitted)
    assert d.breached_clocks(state, targets, datetime(2026, 12, 1, 8, 59, tzinfo=timezone.utc)) == []
    assert d.breached_clocks(state, targets, datetime(2026, 12, 1, 9, 1, tzinfo=timezone.utc)) == ["acknowledge"]
    met = d.ClockState(submitted_at=submitted, acknowledged_at=submitted + timedelta(days=1),
                       accepted_at=submitted + timedelta(days=3))
    late = submitted + timedelta(days=3 + 8)  # 6 working days after acceptance
    assert d.breached_clocks(met, targets, late) == ["first_contact_attempt"]
    attempted = d.ClockState(**{**met.__dict__, "first_attempt_at": submitted + timedelta(days=4)})
    assert d.breached_clocks(attempted, targets, late) == []
    assert d.breached_clocks(attempted, d.ClockTargets(first_contact_attempt=0), late) == ["first_contact_attempt"]


def test_a_hold_moves_a_running_clock_by_the_working_days_it_covered():
    targets = d.ClockTargets()
    monday = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
    accepted = d.ClockState(submitted_at=monday, acknowledged_at=monday, accepted_at=monday)
    assert d.clock_deadlines(accepted, targets)["first_contact_attempt"][0] == datetime(2026, 11, 30, 9, 0,
                                                                                         tzinfo=timezone.utc)
    # Held Friday 17:00 to the next Tuesday 10:00: Monday and Tuesday were held (the weekend never counted).
    held = (datetime(2026, 11, 27, 17, 0, tzinfo=timezone.utc), datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc))
    state = d.ClockState(**{**accepted.__dict__, "holds": (held,)})
    assert d.clock_deadlines(state, targets)["first_contact_attempt"][0].date() == date(2026, 12, 2)
    assert d.breached_clocks(state, targets, datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)) == []
    # A hold that began after the clock was due (already breached), or after it was met, moves nothing.
    late = (datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc), datetime(2026, 12, 4, 9, 0, tzinfo=timezone.utc))
    late_state = d.ClockState(**{**accepted.__dict__, "holds": (late,)})
    assert d.clock_deadlines(late_state, targets)["first_contact_attempt"][0].date() == date(2026, 11, 30)
    assert d.clock_deadlines(late_state, targets)["first_meeting"][0].date() == date(2026, 12, 10)
    met = d.ClockState(**{**accepted.__dict__, "first_attempt_at": monday, "holds": (held,)})
    assert d.clock_deadlines(met, targets)["first_contact_attempt"][0].date() == date(2026, 11, 30)
    assert d.working_days_between(*held) == 2 and d.working_days_between(held[0], held[0]) == 0


def test_age_on_the_day_of_referral():
    from datetime import date

    from worklink_referrals.services import age_on

    assert age_on(date(2008, 11, 24), date(2026, 11, 23)) == 17  # the day before the 18th birthday
    assert age_on(date(2008, 11, 23), date(2026, 11, 23)) == 18
    assert age_on(date(2008, 2, 29), date(2026, 2, 28)) == 17  # a leap-day birthday counts from 1 March
    assert age_on(date(2008, 2, 29), date(2026, 3, 1)) == 18
