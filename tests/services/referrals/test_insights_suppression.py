"""Insights: no count from 1 to 4 can be worked out from the published outcome rates.

An attacker who knows every published figure, and (the worst case) how many referrals of each group
with a published rate are closed, multiplies rates by closed counts and subtracts the groups from the
overall margin (published, or the sum of a breakdown whose every group is shown). The tests fail if
that recovers any small count exactly.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

from worklink_referrals.domain import OUTCOME_TYPES
from worklink_referrals.insights import SMALL, figures, hidden_rates

TODAY = date(2026, 11, 26)
KEYS = {"sex": lambda r: r.sex, "deprivation_decile": lambda r: r.deprivation_decile,
        "ethnicity": lambda r: r.ethnicity, "source": lambda r: r.source,
        "employment_situation": lambda r: r.employment_situation, "health_category": lambda r: r.health_category}


def referral(status="completed", **fields):
    base = dict(id=uuid.uuid4(), status=status, source="gp", area="GL1", status_reason=None, sex=None,
                deprivation_decile=None, ethnicity=None, employment_situation=None, health_category=None,
                birth_date=date(1980, 1, 1), first_contact_at=None,
                submitted_at=datetime(2026, 1, 5, tzinfo=timezone.utc))
    return SimpleNamespace(**{**base, **fields})


def small(n: int) -> bool:
    return 0 < n < SMALL


def truth(referrals, outcomes, key, kind):
    """Per group of one breakdown: (closed, with the outcome) as the service counted them."""
    closed, hits = defaultdict(int), defaultdict(int)
    for r in referrals:
        group = "not_recorded" if key(r) is None else str(key(r))
        closed[group] += 0
        hits[group] += 0
        if r.status in ("completed", "failed"):
            closed[group] += 1
            hits[group] += kind in outcomes.get(r.id, set())
    return closed, hits


def recovered(referrals, outcomes, published) -> list[str]:
    """Every small count (with the outcome, or closed without it) the attacker pins down exactly."""
    leaks = []
    total_closed = sum(r.status in ("completed", "failed") for r in referrals)
    for kind in OUTCOME_TYPES:
        margin = None  # the overall count with the outcome, if anything published gives it
        if published["overall"]["outcome_rates"][kind] is not None:
            margin = round(published["overall"]["outcome_rates"][kind] * total_closed)
        known = {}
        for breakdown, key in KEYS.items():
            closed, hits = truth(referrals, outcomes, key, kind)
            groups = published["equity"][breakdown]
            shown = {g: round(groups[g]["outcome_rates"][kind] * closed[g]) for g in groups
                     if groups[g]["outcome_rates"][kind] is not None}
            known[breakdown] = (closed, hits, shown)
            if all(closed[g] == 0 or g in shown for g in groups):
                margin = sum(shown.values()) if margin is None else margin
        for breakdown, (closed, hits, shown) in known.items():
            for g, n in shown.items():  # rate x closed: the count itself and its complement
                if small(n) or small(closed[g] - n):
                    leaks.append(f"{kind} {breakdown}={g}: {n} of {closed[g]} published")
            hidden = [g for g in closed if closed[g] and g not in shown]
            if margin is None or not hidden:
                continue
            rest = margin - sum(shown.values())
            rest_closed = total_closed - sum(closed[g] for g in shown)
            if len(hidden) == 1 and (small(rest) or small(rest_closed - rest)):
                assert rest == hits[hidden[0]]  # the attack is exact
                leaks.append(f"{kind} {breakdown}={hidden[0]}: {rest} of {rest_closed} by differencing")
    return leaks


def test_the_audit_case_male_job_starts_are_not_the_overall_minus_the_female_ones():
    """20 closed referrals: 10 female with 5 job starts, 10 male with 3. Before: overall 0.4 and female 0.5
    were published, so male = 8 - 5 = 3."""
    referrals = [referral("completed" if i % 2 else "failed", sex="female" if i < 10 else "male")
                 for i in range(20)]
    outcomes = {r.id: {"job_start"} for i, r in enumerate(referrals) if i < 5 or 10 <= i < 13}
    published = figures(referrals, outcomes, TODAY)
    assert published["overall"]["outcome_rates"]["job_start"] == 0.4
    assert published["equity"]["sex"]["male"]["outcome_rates"]["job_start"] is None
    assert published["equity"]["sex"]["female"]["outcome_rates"]["job_start"] is None  # its complement
    assert recovered(referrals, outcomes, published) == []


def test_a_rate_whose_complement_is_small_is_withheld():
    """6 of 7 with a job start leaves exactly 1 without: the rate would say so."""
    referrals = [referral(sex="female") for _ in range(7)] + [referral(sex="male") for _ in range(20)]
    outcomes = {r.id: {"job_start"} for r in referrals[:6] + referrals[7:17]}
    published = figures(referrals, outcomes, TODAY)
    assert published["equity"]["sex"]["female"]["outcome_rates"]["job_start"] is None
    assert recovered(referrals, outcomes, published) == []


def test_rates_stay_published_when_nothing_small_needs_protecting():
    referrals = [referral(sex="female") for _ in range(20)] + [referral(sex="male") for _ in range(20)]
    outcomes = {r.id: {"job_start"} for r in referrals[:10] + referrals[20:28]}
    sex = figures(referrals, outcomes, TODAY)["equity"]["sex"]
    assert sex["female"]["outcome_rates"]["job_start"] == 0.5 and sex["male"]["outcome_rates"]["job_start"] == 0.4
    assert sex["female"]["outcome_rates"]["disengaged"] == 0.0  # a zero is not a small count


def test_no_small_count_is_recoverable_from_random_populations():
    rng = random.Random(20261126)
    leaks = []
    for trial in range(300):
        size = rng.randint(5, 80)
        ethnicities = rng.sample(["a1", "b2", "c3", "w1", "m4"], rng.randint(1, 4))
        referrals = [referral(
            rng.choice(["completed", "completed", "failed", "in_progress", "rejected"]),
            sex=rng.choice(["female", "male", "other", None]),
            deprivation_decile=rng.choice([1, 2, 3, 5, 9, None]),
            ethnicity=rng.choice(ethnicities + [None]), source=rng.choice(["gp", "self", "partner"]),
            employment_situation=rng.choice(["unemployed", "off_sick_fit_note", None]),
            health_category=rng.choice(["mental_health", "musculoskeletal", None]))
            for _ in range(size)]
        chance = {kind: rng.choice([0.05, 0.3, 0.6, 0.9]) for kind in OUTCOME_TYPES}
        outcomes = {r.id: {kind for kind in OUTCOME_TYPES if rng.random() < chance[kind]} for r in referrals}
        leaks += [f"trial {trial}: {leak}" for leak in recovered(referrals, outcomes, figures(referrals, outcomes,
                                                                                              TODAY))]
    assert leaks == []


def test_hidden_rates_rules():
    # One group with 3 of 10: hidden with the next smallest, so the margin does not pin it.
    assert hidden_rates({"a": 10, "b": 12, "c": 30}, {"a": 3, "b": 6, "c": 15}) == {"a", "b"}
    # Nothing small: nothing hidden. A group with nothing closed has no rate to hide.
    assert hidden_rates({"a": 10, "b": 12, "z": 0}, {"a": 5, "b": 6, "z": 0}) == set()
    # A small complement (9 of 10) counts as a small count.
    assert hidden_rates({"a": 10, "b": 12, "c": 30}, {"a": 9, "b": 6, "c": 15}) == {"a", "b"}
    # Overall margin of 3: the hidden groups can never add up to 5, so every rate for it is hidden.
    assert hidden_rates({"a": 10, "b": 12, "c": 30}, {"a": 1, "b": 2, "c": 0}) == {"a", "b", "c"}
    # A group hidden by its size stays hidden and takes a partner.
    assert hidden_rates({"a": 6, "b": 12, "c": 30}, {"a": 0, "b": 6, "c": 15}, already={"a"}) == {"a", "b"}
    assert hidden_rates({"a": 0, "b": 12, "c": 30}, {"a": 0, "b": 6, "c": 15}, already={"a"}) == {"a"}


def test_rejection_reasons_do_not_add_up_to_a_rejected_count_hidden_to_protect_another():
    """3 cancelled (small, hidden) and 6 rejected (hidden beside it, so the total minus the rest does not give the
    3): the rejection reasons showed 'not_eligible: 6', which is the rejected count, and so the 3 cancelled."""
    referrals = ([referral("submitted") for _ in range(20)] + [referral("cancelled") for _ in range(3)]
                 + [referral("rejected", status_reason="not_eligible") for _ in range(6)])
    published = figures(referrals, {}, TODAY)
    assert published["overall"]["referrals"] == 29
    assert published["by_status"] == {"cancelled": None, "rejected": None, "submitted": 20}
    assert published["rejection_reasons"] == {"not_eligible": None}


def test_rejection_reasons_are_shown_when_the_rejected_count_is():
    referrals = ([referral("submitted") for _ in range(20)] + [referral("cancelled") for _ in range(5)]
                 + [referral("rejected", status_reason=reason) for reason in ["not_eligible"] * 6 + ["other"] * 7])
    published = figures(referrals, {}, TODAY)
    assert published["by_status"]["rejected"] == 13
    assert published["rejection_reasons"] == {"not_eligible": 6, "other": 7}


def test_the_90th_percentile_wait_is_never_the_longest_wait_itself():
    """Of 5 waits the 90th percentile was the 5th: the longest, one person's, published for a group just big enough
    to publish. Withheld then (the median stays); from 6 it is a wait below the longest."""
    def contacted(days):
        start = datetime(2026, 1, 5, tzinfo=timezone.utc)
        return [referral("in_progress", first_contact_at=start + timedelta(days=d), submitted_at=start) for d in days]

    five = figures(contacted([1, 2, 3, 4, 40]), {}, TODAY)["overall"]["days_to_first_contact"]
    assert (five["median"], five["p90"], five["referrals"]) == (3, None, 5)
    six = figures(contacted([1, 2, 3, 4, 5, 40]), {}, TODAY)["overall"]["days_to_first_contact"]
    assert six["p90"] == 5


def test_the_share_rejected_is_shown_by_equity_group():
    """Equity of access: who is turned away, by group - and, as the outcome rates, never a small count."""
    referrals = ([referral("rejected", deprivation_decile=1) for _ in range(6)]
                 + [referral("submitted", deprivation_decile=1) for _ in range(14)]
                 + [referral("rejected", deprivation_decile=9) for _ in range(5)]
                 + [referral("in_progress", deprivation_decile=9) for _ in range(15)])
    published = figures(referrals, {}, TODAY)
    assert published["overall"]["rejection_rate"] == round(11 / 40, 3)
    decile = published["equity"]["deprivation_decile"]
    assert (decile["1"]["rejection_rate"], decile["9"]["rejection_rate"]) == (0.3, 0.25)
    assert published["equity"]["sex"]["not_recorded"]["rejection_rate"] == round(11 / 40, 3)
    # Two rejected in decile 9: hidden, and so is decile 1's, which the overall rejected count would give it from.
    fewer = referrals[:20] + referrals[23:]
    decile = figures(fewer, {}, TODAY)["equity"]["deprivation_decile"]
    assert decile["9"]["referrals"] == 17 and decile["9"]["rejection_rate"] is None
    assert decile["1"]["rejection_rate"] is None
    # None rejected in either: a rate of 0 is no small count.
    calm = [referral("submitted", deprivation_decile=d) for d in (1, 9) for _ in range(6)]
    assert figures(calm, {}, TODAY)["equity"]["deprivation_decile"]["1"]["rejection_rate"] == 0.0


def test_no_small_rejected_count_is_recoverable_from_random_populations():
    """rate x group size gives each group's rejected count; with the overall rejected count (by_status, when shown)
    a single group left hidden gives its own by subtraction. Neither may be from 1 to 4, nor their complements."""
    rng = random.Random(20261128)
    leaks = []
    for trial in range(300):
        referrals = [referral(rng.choice(["rejected", "rejected", "submitted", "completed", "in_progress"]),
                              sex=rng.choice(["female", "male", "other", None]),
                              deprivation_decile=rng.choice([1, 2, 3, 5, 9, None]),
                              source=rng.choice(["gp", "self", "partner"]))
                     for _ in range(rng.randint(5, 80))]
        published = figures(referrals, {}, TODAY)
        margin = published["by_status"].get("rejected", 0)  # the overall count, unless by_status hides it
        for breakdown, key in KEYS.items():
            size, rejected = defaultdict(int), defaultdict(int)
            for r in referrals:
                group = "not_recorded" if key(r) is None else str(key(r))
                size[group] += 1
                rejected[group] += r.status == "rejected"
            groups = published["equity"][breakdown]
            shown = {g: round(groups[g]["rejection_rate"] * size[g]) for g in groups
                     if groups[g]["rejection_rate"] is not None}
            for g, n in shown.items():
                if small(n) or small(size[g] - n):
                    leaks.append(f"trial {trial} {breakdown}={g}: {n} of {size[g]} shown")
            hidden = [g for g in size if g not in shown]
            rest = None if margin is None else margin - sum(shown.values())
            rest_size = len(referrals) - sum(size[g] for g in shown)
            if margin is not None and len(hidden) == 1 and (small(rest) or small(rest_size - rest)):
                leaks.append(f"trial {trial} {breakdown}={hidden[0]}: {rest} of {rest_size} by differencing")
    assert leaks == []
