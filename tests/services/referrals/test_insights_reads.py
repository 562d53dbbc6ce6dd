"""Insights at volume: the figures read the referrals' columns they need, in a number of statements that does not
grow with the referrals, and are as before."""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa

from worklink.uktime import uk_today
from worklink_referrals import insights
from worklink_referrals.models import Outcome, Referral

from tests.services.referrals.conftest import nhs_number
from tests.services.referrals.statements import selects, statements, worked_referrals


def test_insights_read_the_referrals_columns_it_needs_not_their_histories_notes_or_attempts(harness):
    h = harness
    worked_referrals(h, 6)
    with statements(h) as seen:
        figures = h.client.get("/insights", headers=h.admin()).get_json()
    # One SELECT of the referrals' columns, one of the outcome types: the same at any number of referrals. Whole
    # referrals brought their four collections too (four more per 500 referrals), which no figure reads.
    assert len(selects(seen)) == 2, selects(seen)
    assert not [s for s in seen if " FROM transitions" in s or " FROM notes" in s or " FROM contact_attempts" in s]
    assert figures["by_source"] == {"gp": 6} and figures["by_status"] == {"in_progress": 6}
    assert figures["overall"]["referrals"] == 6
    assert figures["overall"]["days_to_first_contact"]["referrals"] == 6
    assert figures["equity"]["age_band"]["35_49"]["referrals"] == 6  # born 1985, referred in 2026
    page = h.client.get("/alliance/insights", headers={**h.admin(), "Accept": "text/html"})
    assert page.status_code == 200 and "Insights" in page.get_data(as_text=True)


def test_the_figures_from_the_columns_read_are_those_of_the_whole_referrals(harness):
    """build reads the figures' columns into named tuples (not whole referrals, nor SQLAlchemy rows): the figures
    are those `figures` makes of the referrals themselves."""
    h = harness
    worked = worked_referrals(h, 20)  # every other one (odd) has a job start
    for rid in worked[1:11:2]:
        assert h.act(rid, "complete", end_reason="goals_met").status_code == 200
    today = uk_today(h.clock())
    with h.ctx.database.sessions() as session:
        built = insights.build(session, today)
        referrals = list(session.scalars(sa.select(Referral).where(Referral.status != "entered_in_error")))
        outcome_types = defaultdict(set)
        for outcome in session.scalars(sa.select(Outcome)):
            outcome_types[outcome.referral_id].add(outcome.type)
        assert built == insights.figures(referrals, outcome_types, today)
    assert built["by_status"] == {"completed": 5, "in_progress": 15}
    assert built["overall"]["referrals"] == 20


def test_equity_figures_are_broken_down_by_the_situation_and_health_need_each_referral_records(harness):
    """The referral records the person's employment situation and health need (kept through erasure for insights):
    who is referred, how long they wait and what they achieve are shown by each, suppressed as the others are."""
    h = harness
    for i in range(7):
        h.refer({"nhs_number": nhs_number(i, 71), "given_name": f"E{i}"},
                employment_situation="unemployed" if i < 5 else "in_work_at_risk",
                health_category="mental_health" if i < 6 else "musculoskeletal")
    figures = h.client.get("/insights", headers=h.admin()).get_json()
    situation, health = figures["equity"]["employment_situation"], figures["equity"]["health_category"]
    assert situation["unemployed"]["referrals"] is None and situation["in_work_at_risk"]["referrals"] is None
    # 2 and 1 hidden, and the 5 and 6 that would give them away from the total
    assert health["mental_health"]["referrals"] is None and health["musculoskeletal"]["referrals"] is None
    for i in range(7, 13):
        h.refer({"nhs_number": nhs_number(i, 71), "given_name": f"E{i}"}, employment_situation="in_work_at_risk",
                health_category="musculoskeletal")
    figures = h.client.get("/insights", headers=h.admin()).get_json()
    situation, health = figures["equity"]["employment_situation"], figures["equity"]["health_category"]
    assert (situation["unemployed"]["referrals"], situation["in_work_at_risk"]["referrals"]) == (5, 8)
    assert (health["mental_health"]["referrals"], health["musculoskeletal"]["referrals"]) == (6, 7)
    page = h.client.get("/alliance/insights", headers={**h.admin(), "Accept": "text/html"}).get_data(as_text=True)
    assert "By employment situation" in page and "Out of work and looking for work" in page
    assert "By health need" in page and "Musculoskeletal" in page
