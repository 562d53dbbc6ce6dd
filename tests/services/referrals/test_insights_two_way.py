"""Insights: each equity group's referrals by status and rejected referrals by reason (two-way tables).

The counts are right, a count from 1 to 4 is hidden, and no hidden figure - a cell, or a margin hidden elsewhere -
can be worked out from what is published: an attacker who writes down every relation between the published
figures (each group's size is its statuses, each overall status count is the groups', a group's rejected count
is its reasons, each overall reason count is the groups', the overall rejected count is the reasons, the sizes
and the statuses each add up to the overall count, rate x size is the rejected count) and solves them exactly,
with what non-negative counts add, pins down none of them.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import date, datetime, timezone
from types import SimpleNamespace

from worklink_referrals.domain import OUTCOME_TYPES
from worklink_referrals.insights import (SMALL, figures, hidden_cells, hidden_figures, hidden_statuses,
                                        referral_age_band)

TODAY = date(2026, 11, 26)
BREAKDOWNS = ("sex", "deprivation_decile", "ethnicity", "source", "employment_situation", "health_category",
              "age_band")
PRIME = (1 << 61) - 1


def referral(status="submitted", reason=None, **fields):
    base = dict(id=uuid.uuid4(), status=status, source="gp", area="GL1", status_reason=reason, sex=None,
                deprivation_decile=None, ethnicity=None, employment_situation=None, health_category=None,
                birth_date=date(1980, 1, 1), first_contact_at=None,
                submitted_at=datetime(2026, 1, 5, tzinfo=timezone.utc))
    return SimpleNamespace(**{**base, **fields})


# --- the counts ----------------------------------------------------------------------------------------------------

def test_each_group_has_its_referrals_by_status_and_its_rejected_ones_by_reason():
    referrals = ([referral("submitted", sex="female") for _ in range(6)]
                 + [referral("in_progress", sex="female") for _ in range(7)]
                 + [referral("rejected", "not_eligible", sex="female") for _ in range(5)]
                 + [referral("rejected", "out_of_area", sex="female") for _ in range(6)]
                 + [referral("submitted", sex="male") for _ in range(8)]
                 + [referral("rejected", "not_eligible", sex="male") for _ in range(9)]
                 + [referral("rejected", "out_of_area", sex="male") for _ in range(5)])
    published = figures(referrals, {}, TODAY)
    assert published["by_status"] == {"in_progress": 7, "rejected": 25, "submitted": 14}
    sex = published["equity"]["sex"]
    # Every overall status and reason is in every group's row, 0 included: the tables are whole.
    assert sex["female"]["by_status"] == {"in_progress": 7, "rejected": 11, "submitted": 6}
    assert sex["male"]["by_status"] == {"in_progress": 0, "rejected": 14, "submitted": 8}
    assert sex["female"]["rejection_reasons"] == {"not_eligible": 5, "out_of_area": 6}
    assert sex["male"]["rejection_reasons"] == {"not_eligible": 9, "out_of_area": 5}
    assert sex["female"]["rejection_rate"] == round(11 / 24, 3)
    # A breakdown nobody is recorded in is the overall figures again.
    assert published["equity"]["ethnicity"]["not_recorded"]["by_status"] == published["by_status"]
    assert published["equity"]["ethnicity"]["not_recorded"]["rejection_reasons"] == published["rejection_reasons"]


def test_nothing_rejected_gives_empty_reasons():
    published = figures([referral(sex="female") for _ in range(6)], {}, TODAY)
    assert published["equity"]["sex"]["female"]["by_status"] == {"submitted": 6}
    assert published["equity"]["sex"]["female"]["rejection_reasons"] == {}


def test_a_small_count_is_hidden_with_the_counts_that_would_give_it_away():
    """Three cancelled women: hidden, and so are enough others - in their row, their column and the overall
    counts' lines - that subtraction gives none of them; what nothing links to them stays shown."""
    referrals = ([referral("submitted", sex="female") for _ in range(10)]
                 + [referral("cancelled", sex="female") for _ in range(3)]
                 + [referral("in_progress", sex="female") for _ in range(6)]
                 + [referral("submitted", sex="male") for _ in range(12)]
                 + [referral("cancelled", sex="male") for _ in range(7)]
                 + [referral("in_progress", sex="male") for _ in range(9)])
    published = figures(referrals, {}, TODAY)
    assert published["by_status"] == {"cancelled": 10, "in_progress": 15, "submitted": 22}  # nothing small overall
    female, male = (published["equity"]["sex"][g]["by_status"] for g in ("female", "male"))
    assert female["cancelled"] is None  # 3: primary
    # Its row (19 women) and column (10 cancelled) are published: one more in each, and the fourth corner.
    assert female["in_progress"] is None and male["cancelled"] is None and male["in_progress"] is None
    assert female["submitted"] == 10 and male["submitted"] == 12
    assert published["equity"]["sex"]["female"]["referrals"] == 19


def test_a_group_rejected_count_hidden_hides_its_reasons_and_its_rate():
    """Two of decile 9 rejected: the count is hidden, and with it the rejection rate; the reasons (which add up to
    it) are not all shown, nor can they be summed to it."""
    referrals = ([referral("rejected", "not_eligible", deprivation_decile=1) for _ in range(6)]
                 + [referral("rejected", "other", deprivation_decile=1) for _ in range(5)]
                 + [referral("submitted", deprivation_decile=1) for _ in range(14)]
                 + [referral("rejected", "not_eligible", deprivation_decile=9) for _ in range(2)]
                 + [referral("in_progress", deprivation_decile=9) for _ in range(15)])
    decile = figures(referrals, {}, TODAY)["equity"]["deprivation_decile"]
    assert decile["9"]["by_status"]["rejected"] is None and decile["9"]["rejection_rate"] is None
    assert decile["9"]["rejection_reasons"]["not_eligible"] is None
    assert decile["1"]["by_status"]["rejected"] is None  # the column's other one
    assert decile["1"]["rejection_rate"] is None  # the rate would give it: hidden together
    assert None in decile["1"]["rejection_reasons"].values()
    assert attack(referrals, figures(referrals, {}, TODAY)) == []


def test_a_withheld_group_shows_its_tables_withheld():
    referrals = [referral("submitted", sex="female") for _ in range(20)] + [
        referral("rejected", "other", sex="male") for _ in range(3)]
    sex = figures(referrals, {}, TODAY)["equity"]["sex"]
    assert sex["male"]["referrals"] is None and sex["female"]["referrals"] is None  # 3, and the 20 beside it
    assert sex["male"]["by_status"] == {"rejected": None, "submitted": None}
    assert sex["male"]["rejection_reasons"] == {"other": None}


# --- the attack ----------------------------------------------------------------------------------------------------

def attack(referrals, published, outcomes=None) -> list[str]:
    """Every hidden figure of the two-way tables, or of the overall by_status and rejection_reasons and the groups'
    sizes they sit in, that an attacker pins down from the published figures; and every published line whose hidden
    figures add up to 1-4.

    The attacker also knows what `hidden_rates` takes to be known: the closed count (completed and failed) of each
    group with an outcome rate published, and overall whenever an overall outcome rate is published, and otherwise
    too unless it or the count not closed is from 1 to 4 (which must withhold the rates). A group's closed count of
    0 (no rate is built on it) is known only as its cells show it. Nothing is excused: before 2026-11-29 that
    knowledge alone gave some overall counts away (by_status's completed or failed hidden beside the other shown)
    and some groups' counts not closed (their size minus their closed count), and the attack left those out as its
    baseline."""
    leaks = []
    overall_n = published["overall"]["referrals"]
    closing = [s for s in ("completed", "failed") if s in published["by_status"]]
    for breakdown in BREAKDOWNS:
        groups = published["equity"][breakdown]
        statuses = list(published["by_status"])
        reasons = list(published["rejection_reasons"])
        truth = true_figures(referrals, breakdown, statuses, reasons)
        known: dict[tuple, int | None] = {("n",): overall_n}
        known.update({("all", s): n for s, n in published["by_status"].items()})
        known.update({("reasons", r): n for r, n in published["rejection_reasons"].items()})
        for g, figures_ in groups.items():
            known["size", g] = figures_["referrals"]
            known.update({("status", g, s): n for s, n in figures_["by_status"].items()})
            known.update({("reason", g, r): n for r, n in figures_["rejection_reasons"].items()})
        lines = [(("size", g), [("status", g, s) for s in statuses]) for g in groups]
        lines += [(("all", s), [("status", g, s) for g in groups]) for s in statuses]
        lines += [(("n",), [("all", s) for s in statuses]), (("n",), [("size", g) for g in groups])]
        if "rejected" in statuses:
            lines += [(("status", g, "rejected"), [("reason", g, r) for r in reasons]) for g in groups]
            lines += [(("reasons", r), [("reason", g, r) for g in groups]) for r in reasons]
            lines.append((("all", "rejected"), [("reasons", r) for r in reasons]))
        for g, figures_ in groups.items():  # rate x size: the rejected count
            if figures_["rejection_rate"] is not None and "rejected" in statuses:
                lines.append((None, [("status", g, "rejected")], round(figures_["rejection_rate"]
                                                                      * figures_["referrals"])))
        if closing:  # the closed counts hidden_rates takes to be known
            for g, figures_ in groups.items():
                closed = sum(truth["status", g, s] for s in closing)
                if any(rate is not None for rate in figures_["outcome_rates"].values()):
                    lines.append((None, [("status", g, s) for s in closing], closed))
            all_closed = sum(truth["all", s] for s in closing)
            if any(rate is not None for rate in published["overall"]["outcome_rates"].values()) or not (
                    0 < all_closed < SMALL or 0 < len(referrals) - all_closed < SMALL):
                lines.append((None, [("all", s) for s in closing], all_closed))
        for figure in sorted(solve(known, lines)):
            leaks.append(f"{breakdown} {figure}: {truth[figure]} worked out")
        for line in lines:  # published totals whose hidden parts add up to 1-4
            total, parts = line[0], line[1]
            if total is not None and known[total] is not None:
                hidden = [p for p in parts if known[p] is None]
                if hidden and 0 < sum(truth[p] for p in hidden) < SMALL:
                    leaks.append(f"{breakdown} {total}: hidden parts add up to {sum(truth[p] for p in hidden)}")
    return leaks


def true_figures(referrals, breakdown, statuses, reasons) -> dict[tuple, int]:
    def group(r):
        value = referral_age_band(r) if breakdown == "age_band" else getattr(r, breakdown)
        return "not_recorded" if value is None else str(value)

    truth: dict[tuple, int] = {("n",): len(referrals)}
    for r in referrals:
        g = group(r)
        for key in (("size", g), ("status", g, r.status), ("all", r.status)):
            truth[key] = truth.get(key, 0) + 1
        if r.status == "rejected":
            code = "not_recorded" if r.status_reason is None else r.status_reason
            for key in (("reason", g, code), ("reasons", code)):
                truth[key] = truth.get(key, 0) + 1
    groups = {group(r) for r in referrals}
    for g in groups:
        truth.update({k: truth.get(k, 0) for k in [("status", g, s) for s in statuses]
                      + [("reason", g, r) for r in reasons]})
    return truth


def solve(known: dict[tuple, int | None], lines: list) -> set[tuple]:
    """The hidden figures the lines pin down exactly: linear algebra (exact, modulo a large prime), then what
    non-negative counts add (a line whose hidden parts add up to 0 has them all 0), until nothing more follows."""
    unknown = sorted(f for f, n in known.items() if n is None)
    index = {f: i for i, f in enumerate(unknown)}
    values = dict(known)
    found: set[tuple] = set()
    while True:
        rows = []
        for line in lines:
            total, parts = line[0], line[1]
            row: dict[int, int] = {}
            constant = line[2] if len(line) > 2 else 0
            for part in parts:  # sum(parts) - total = 0, with the known ones moved across
                if values[part] is None:
                    row[index[part]] = row.get(index[part], 0) + 1
                else:
                    constant -= values[part]
            if total is not None:
                if values[total] is None:
                    row[index[total]] = row.get(index[total], 0) - 1
                else:
                    constant += values[total]
            if row:
                rows.append((row, constant))
        pinned = pinned_down(rows, len(unknown))
        for line in lines:  # non-negative: a published total that the shown parts already make
            total, parts = line[0], line[1]
            if (total is None or values[total] is not None) and len(line) == 2:
                rest = (values[total] if total is not None else None)
                if rest is not None:
                    rest -= sum(values[p] for p in parts if values[p] is not None)
                    if rest == 0:
                        pinned |= {(index[p], 0) for p in parts if values[p] is None}
        new = {(unknown[i], v) for i, v in pinned if values[unknown[i]] is None}
        if not new:
            return found
        for figure, value in new:
            values[figure] = value
            found.add(figure)


def pinned_down(rows: list[tuple[dict[int, int], int]], width: int) -> set[tuple[int, int]]:
    """Gauss-Jordan elimination modulo PRIME: the unknowns whose reduced row has no other unknown, with their value
    (a count, so a small number or its negative modulo PRIME)."""
    matrix = [[row.get(j, 0) % PRIME for j in range(width)] + [constant % PRIME] for row, constant in rows]
    pivots = []
    r = 0
    for c in range(width):
        pick = next((i for i in range(r, len(matrix)) if matrix[i][c]), None)
        if pick is None:
            continue
        matrix[r], matrix[pick] = matrix[pick], matrix[r]
        inverse = pow(matrix[r][c], PRIME - 2, PRIME)
        matrix[r] = [x * inverse % PRIME for x in matrix[r]]
        for i in range(len(matrix)):
            if i != r and matrix[i][c]:
                factor = matrix[i][c]
                matrix[i] = [(x - factor * y) % PRIME for x, y in zip(matrix[i], matrix[r])]
        pivots.append((r, c))
        r += 1
    pinned = set()
    for row, c in pivots:
        if not any(matrix[row][j] for j in range(width) if j != c):
            value = matrix[row][width]
            pinned.add((c, value if value < PRIME // 2 else value - PRIME))
    return pinned


def test_the_attack_finds_what_the_tables_would_give_away_unprotected():
    """The attack works: with only counts from 1 to 4 hidden (no complements), it finds them."""
    referrals = ([referral("submitted", sex="female") for _ in range(10)]
                 + [referral("cancelled", sex="female") for _ in range(3)]
                 + [referral("submitted", sex="male") for _ in range(12)]
                 + [referral("cancelled", sex="male") for _ in range(7)])
    published = figures(referrals, {}, TODAY)
    published["equity"]["sex"]["female"]["by_status"] = {"cancelled": None, "submitted": 10}
    published["equity"]["sex"]["male"]["by_status"] = {"cancelled": 7, "submitted": 12}
    leaks = attack(referrals, published)
    assert "sex ('status', 'female', 'cancelled'): 3 worked out" in leaks
    # And a hidden 4-cycle of cells, with every margin shown, gives nothing away.
    published = figures(referrals, {}, TODAY)
    assert [published["equity"]["sex"][g]["by_status"]["cancelled"] for g in ("female", "male")] == [None, None]
    assert attack(referrals, published) == []


def test_no_hidden_figure_of_a_two_way_table_can_be_worked_out_in_random_populations():
    """Nothing hidden is worked out, by an attacker who knows the closed counts the rates give (with the code before
    2026-11-29, 30 of these 150 populations gave figures away: 8 overall counts by status, and 22 a group's count
    not closed or the cells beside it)."""
    rng = random.Random(20261129)
    leaks = []
    exposed_before = 0
    for trial in range(150):
        reasons = rng.sample(["not_eligible", "out_of_area", "other", None], rng.randint(1, 3))
        ethnicities = rng.sample(["a1", "b2", "c3", "w1", "m4"], rng.randint(1, 4))
        mix = rng.sample(["submitted", "in_progress", "completed", "failed", "cancelled", "on_hold"],
                         rng.randint(1, 4)) + ["rejected"] * rng.randint(0, 2)
        referrals = [referral(
            status := rng.choice(mix), rng.choice(reasons) if status == "rejected" else None,
            sex=rng.choice(["female", "male", "other", None]),
            deprivation_decile=rng.choice([1, 2, 3, 5, 9, None]),
            ethnicity=rng.choice(ethnicities + [None]), source=rng.choice(["gp", "self", "partner"]),
            employment_situation=rng.choice(["unemployed", "off_sick_fit_note", None]),
            health_category=rng.choice(["mental_health", "musculoskeletal", None]),
            birth_date=date(rng.choice([1960, 1985]), 1, 1))
            for _ in range(rng.randint(5, 90))]
        chance = {kind: rng.choice([0.05, 0.3, 0.6, 0.9]) for kind in OUTCOME_TYPES}
        outcomes = {r.id: {kind for kind in OUTCOME_TYPES if rng.random() < chance[kind]} for r in referrals}
        published = figures(referrals, outcomes, TODAY)
        leaks += [f"trial {trial}: {leak}" for leak in attack(referrals, published)]
        # The overall by_status as it was hidden before (hidden_cells alone, the closed count no line of it):
        before = {s: None if s in hidden_cells(Counter(r.status for r in referrals)) else n
                  for s, n in published["by_status"].items()}
        if before != published["by_status"]:
            exposed_before += bool(attack(referrals, {**published, "by_status": before}))
    assert leaks == []
    assert exposed_before >= 5  # the attack finds what the overall rule before gave away (in 6 of these)


# --- the one-way breakdowns are as before ---------------------------------------------------------------------------

def hidden_cells_before(counts, already=()):
    """hidden_cells as it was before it became one line of hidden_figures (2026-11-29)."""
    hidden = {name for name, n in counts.items() if 0 < n < SMALL} | (set(already) & set(counts))
    others = sorted((n, name) for name, n in counts.items() if n >= SMALL and name not in hidden)

    def exposed():
        total = sum(counts[name] for name in hidden)
        return len(hidden) == 1 or total < SMALL or total == len(hidden)

    while hidden and others and exposed():
        hidden.add(others.pop(0)[1])
    return hidden


def test_one_way_breakdowns_hide_what_they_hid_before():
    rng = random.Random(11)
    for _ in range(3000):
        counts = {f"g{i}": rng.choice([0, 1, 2, 3, 4, 5, 6, 9, 20]) for i in range(rng.randint(1, 7))}
        already = {g for g in counts if rng.random() < 0.15}
        assert hidden_cells(counts, already) == hidden_cells_before(counts, already), (counts, already)


def test_hidden_figures_closes_a_cycle_through_a_figure_no_single_line_gives():
    """Two hidden 4-cycles (rows a, b x columns x, y; rows c, d x columns z, w) joined by one hidden cell, a-z:
    no row or column has a single hidden cell, nor hidden cells adding up to under 5, yet the lines on one side
    of a-z add up to it (column z minus rows c and d plus column w). A figure across the two sides is hidden too."""
    rows, columns = ["a", "b", "c", "d"], ["w", "x", "y", "z"]
    cells = {(r, c): 20 for r in rows for c in columns}
    cycles = {("a", "x"): 6, ("a", "y"): 7, ("b", "x"): 8, ("b", "y"): 9,
              ("c", "z"): 6, ("c", "w"): 7, ("d", "z"): 8, ("d", "w"): 9}
    cells.update(cycles)
    cells["a", "z"] = 5
    values = {**cells, **{("row", r): sum(cells[r, c] for c in columns) for r in rows},
              **{("column", c): sum(cells[r, c] for r in rows) for c in columns}}
    lines = [(("row", r), [(r, c) for c in columns]) for r in rows] + [
        (("column", c), [(r, c) for r in rows]) for c in columns]
    margins = {f for f in values if f[0] in ("row", "column")}

    def worked_out(hidden):
        return solve({f: None if f in hidden else n for f, n in values.items()}, lines)

    assert worked_out(set(cycles) | {("a", "z")}) == {("a", "z")}  # what the rule in rows and columns misses
    hidden = hidden_figures(values, lines, already=set(cycles) | {("a", "z")}, fixed=margins)
    assert len(hidden) == 10 and worked_out(hidden) == set()
    assert hidden_figures(values, lines, already=set(cycles), fixed=margins) == set(cycles)  # two cycles: enough


# --- the closed counts the rates give -------------------------------------------------------------------------------

def test_completed_or_failed_hidden_beside_the_other_shown_is_not_given_by_the_closed_count():
    """3 completed, 10 failed, 8 submitted: hidden_cells alone hid completed and submitted (the smallest other), and
    the closed count (13, which the rates are built on) minus the 10 failed gave the 3 away. The closed count is a
    line: failed is hidden with completed, and submitted, which protects nothing, is shown."""
    referrals = ([referral("completed") for _ in range(3)] + [referral("failed") for _ in range(10)]
                 + [referral("submitted") for _ in range(8)])
    published = figures(referrals, {}, TODAY)
    assert published["by_status"] == {"completed": None, "failed": None, "submitted": 8}
    assert published["overall"]["outcome_rates"]["job_start"] == 0.0  # built on the 13 closed: they are known
    assert attack(referrals, published) == []
    before = {**published, "by_status": {"completed": None, "failed": 10, "submitted": None}}
    assert "sex ('all', 'completed'): 3 worked out" in attack(referrals, before)


def test_the_closed_count_is_hidden_where_the_referrals_not_closed_are_few():
    """9 referrals, 8 closed: the one rejected is 9 minus the closed count, whatever the statuses hide. So the closed
    count is not to be known: the overall outcome rates (which give it) are withheld."""
    referrals = ([referral("completed") for _ in range(5)] + [referral("failed") for _ in range(3)]
                 + [referral("rejected", "other")])
    outcomes = {r.id: {"job_start"} for r in referrals if r.status == "completed"}
    published = figures(referrals, outcomes, TODAY)
    assert published["overall"]["referrals"] == 9
    assert set(published["by_status"].values()) == {None}
    assert set(published["overall"]["outcome_rates"].values()) == {None}
    assert attack(referrals, published) == []
    before = {**published, "overall": {**published["overall"], "outcome_rates": {"stayed_in_work": 0.0}}}
    assert "sex ('all', 'rejected'): 1 worked out" in attack(referrals, before)
    assert hidden_statuses({"completed": 5, "failed": 3, "rejected": 1}) == {"completed", "failed", "rejected",
                                                                             "(closed)"}


def test_a_groups_count_not_closed_is_not_its_size_minus_the_closed_count_its_rates_give():
    """23 women, 20 of them completed (every one with a job start: a rate of 100% built on the 20) and 3 rejected:
    the 3 were 23 minus 20, hidden as they were. The closed count is hidden as a cell of the women's row, last, and
    with it the rates; the men's too, or the overall closed count minus theirs would give it."""
    referrals = ([referral("completed", sex="female") for _ in range(20)]
                 + [referral("rejected", "other", sex="female") for _ in range(3)]
                 + [referral("completed", sex="male") for _ in range(20)]
                 + [referral("rejected", "other", sex="male") for _ in range(10)])
    outcomes = {r.id: {"job_start"} for r in referrals if r.status == "completed"}
    published = figures(referrals, outcomes, TODAY)
    sex = published["equity"]["sex"]
    assert sex["female"]["referrals"] == 23 and sex["female"]["by_status"] == {"completed": None, "rejected": None}
    assert sex["female"]["outcome_rates"]["job_start"] is None and sex["male"]["outcome_rates"]["job_start"] is None
    assert published["overall"]["outcome_rates"]["job_start"] == 1.0  # nothing overall is small
    assert published["equity"]["source"]["gp"]["outcome_rates"]["job_start"] == 1.0  # one group: nothing to hide
    assert attack(referrals, published) == []
    before = {**published, "equity": {**published["equity"], "sex": {
        g: {**figures_, "outcome_rates": {**figures_["outcome_rates"], "job_start": 1.0}}
        for g, figures_ in sex.items()}}}
    assert "sex ('status', 'female', 'rejected'): 3 worked out" in attack(referrals, before)


def test_the_overall_statuses_without_closed_ones_are_hidden_as_any_breakdown():
    rng = random.Random(3)
    for _ in range(500):
        counts = {s: rng.choice([1, 2, 3, 4, 5, 6, 9, 20]) for s in rng.sample(
            ["submitted", "in_progress", "rejected", "cancelled", "on_hold"], rng.randint(1, 5))}
        assert hidden_statuses(counts) == hidden_cells(counts)
