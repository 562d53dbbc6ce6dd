"""Alliance insights: aggregates only, with small counts suppressed (no Flask).

Any count from 1 to 4 is replaced by None and flagged, and a median or rate built on
fewer than 5 referrals is withheld too, so no figure can point at a person. The totals
are published, so within a breakdown enough other cells are hidden too that no small
count can be worked out by subtraction (complementary suppression).

An outcome rate counts as publishing three counts: the closed referrals it is built on, those
with the outcome and those without (the closed count may be known from sizes and statuses, so
rate x closed is exact). Each outcome type is suppressed on those three tables per breakdown,
against the overall margin, which is always assumed known (see `hidden_rates`).

Each equity group's counts by status and by rejection reason are two-way tables (group x status,
group x reason) whose margins are published too - the group's size, the overall by_status and
rejection_reasons - and whose rejected column is what the group's reasons add up to. They are
suppressed together, with those margins, as one set of lines (`hidden_figures`): no hidden figure
can be worked out from the published ones, by any sum or difference of lines.

The closed counts the rates give are lines too: overall, completed and failed add up to it (`hidden_statuses`;
it is hidden, with the overall rates, where it or the count not closed is from 1 to 4), and a group's count not
closed is its size minus it (hidden there as a last resort, with the group's rates).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict, namedtuple
from datetime import date
from operator import attrgetter
from typing import Any, Callable, Hashable, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from worklink.audit import AuditTrail
from worklink.uktime import uk_today
from worklink_referrals.domain import OUTCOME_TYPES
from worklink_referrals.models import Outcome, Referral

SMALL = 5
CLOSED = ("completed", "failed")  # the referrals an outcome rate is built on


def suppress(count: int) -> int | None:
    return None if 0 < count < SMALL else count


def hidden_cells(counts: dict[str, int], already: Iterable[str] = ()) -> set[str]:
    """The cells of a breakdown to hide: counts from 1 to 4 (and any `already` hidden), then the smallest
    others until the hidden cells cannot be worked out from the total - at least two, together at least
    5, and not all ones. One line of `hidden_figures`: the total, whose parts are the cells."""
    return hidden_figures(counts, [(None, sorted(counts))], already=set(already) & set(counts), zeros=False)


def _exposed(table: dict[Any, int], hidden: set, protect: set) -> bool:
    """Whether a protected hidden cell of `table` can be worked out from the margin minus the shown cells."""
    if not protect & hidden:
        return False
    total = sum(table[name] for name in hidden)
    return len(hidden) == 1 or total < SMALL or total == len(hidden)


# A line of figures: (the figure that is its total, or None for a total always known; the figures it adds up).
Line = tuple[Hashable | None, Sequence[Hashable]]
OUTSIDE = -1  # the line of every figure that is in only one line: nothing else pins it


def hidden_figures(values: dict[Any, int], lines: Sequence[Line], already: Iterable = (), fixed: Iterable = (),
                   implied: Sequence[Line] = (), zeros: bool = True, last: Iterable = ()) -> set:
    """The figures to hide so that none hidden can be worked out from those shown (complementary suppression).

    `values`: every figure; `lines`: each total with the figures that add up to it, every figure in at most two
    lines (a table's cell is in its row and its column; a margin in its line and the line of margins). Hidden to
    start: counts from 1 to 4, and `already`. `fixed` figures are shown or hidden as decided elsewhere (a published
    margin): never hidden here. `implied`: lines that follow from the others (a sum of them), checked for small
    hidden totals only. `zeros`: whether a 0 may be hidden beside others (in a two-way table a row's or column's
    only other figure may be 0; a one-way breakdown hides counts of 5 or more only, as it always has). `last`:
    figures hidden only where no other figure would do (a group's closed count: hiding it withholds its rates).

    Then, until nothing changes, the smallest shown figure (not fixed) is hidden:
    - in a line whose total is shown and whose hidden figures are one alone, add up to fewer than 5 or are all
      ones (`_exposed`; to make the hidden total 5 or more, a figure of 5 or more, else any);
    - across a hidden figure that is on no cycle of hidden figures. The hidden figures are edges between their
      two lines: a figure on a cycle can be moved up and down around it without changing any line's total, so
      no sum or difference of lines gives it, while a figure on no cycle (a bridge) is the sum of the lines on
      one side of it, minus the shown figures there. The figure hidden is one between the bridge's two sides,
      closing a cycle through it (else one in the bridge's own lines, to build one).
    Where no figure can be hidden that helps (a line whose every figure is hidden or fixed), it stays so, as
    `hidden_cells` stops when nothing is left to hide.
    """
    fixed, last = set(fixed), set(last)
    hidden = {f for f, n in values.items() if 0 < n < SMALL and f not in fixed} | set(already)
    ends: dict[Any, list[int]] = defaultdict(list)  # figure -> the (one or two) lines it is in
    for i, (total, parts) in enumerate(lines):
        for figure in ([total] if total is not None else []) + list(parts):
            ends[figure].append(i)
    hideable = sorted((f in last, n, f) for f, n in values.items() if f not in fixed and (n or zeros))
    stuck: set = set()  # bridges nothing can close

    def smallest(candidates: Iterable, at_least: int = 0) -> Any:
        return next((f for _, n, f in sorted((f in last, values[f], f) for f in candidates)
                     if n >= at_least and (n or zeros) and f not in hidden and f not in fixed), None)

    def in_lines() -> Any:
        for total, parts in (*lines, *implied):
            if total in hidden:
                continue  # its total is not published: the line gives nothing away
            mine = {f for f in parts if f in hidden}
            if not _exposed(values, mine, mine):
                continue
            few = sum(values[f] for f in mine)
            pick = smallest(parts, SMALL) if few < SMALL or few == len(mine) else None
            if pick is None and len(mine) == 1:
                pick = smallest(parts)
            if pick is not None:
                return pick
        return None

    def across_bridges() -> Any:
        edges = {f: (ends[f][0], ends[f][1] if len(ends[f]) > 1 else OUTSIDE) for f in hidden if f in ends}
        for bridge in sorted(_bridges(edges) - stuck, key=lambda f: (values[f], f)):
            left, right = (_reach(edges, end, bridge) for end in edges[bridge])
            pick = next((f for *_, f in hideable if f not in hidden and f in ends and _crosses(ends[f], left, right)),
                        None)
            if pick is None:
                pick = smallest(f for i in edges[bridge] if i != OUTSIDE
                                for f in ([lines[i][0]] if lines[i][0] is not None else []) + list(lines[i][1]))
            if pick is not None:
                return pick
            stuck.add(bridge)
        return None

    while (pick := in_lines()) is not None or (pick := across_bridges()) is not None:
        hidden.add(pick)
    return hidden


def _crosses(lines_of: list[int], left: set[int], right: set[int]) -> bool:
    a, b = lines_of[0], lines_of[1] if len(lines_of) > 1 else OUTSIDE
    return (a in left and b in right) or (a in right and b in left)


def _reach(edges: dict[Any, tuple[int, int]], start: int, without: Any) -> set[int]:
    """The lines joined to `start` by hidden figures other than `without`."""
    near: dict[int, list[int]] = defaultdict(list)
    for figure, (a, b) in edges.items():
        if figure != without:
            near[a].append(b)
            near[b].append(a)
    seen, todo = {start}, [start]
    while todo:
        for nxt in near[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _bridges(edges: dict[Any, tuple[int, int]]) -> set:
    """The edges on no cycle (Tarjan's bridges, without recursion; parallel edges make a cycle)."""
    near: dict[int, list[tuple[int, Any]]] = defaultdict(list)
    for edge, (a, b) in edges.items():
        near[a].append((b, edge))
        near[b].append((a, edge))
    order: dict[int, int] = {}
    low: dict[int, int] = {}
    bridges = set()
    for root in near:
        if root in order:
            continue
        order[root] = low[root] = len(order)
        stack = [(root, None, iter(near[root]))]
        while stack:
            node, via, onward = stack[-1]
            for nxt, edge in onward:
                if edge == via:
                    continue
                if nxt in order:
                    low[node] = min(low[node], order[nxt])
                else:
                    order[nxt] = low[nxt] = len(order)
                    stack.append((nxt, edge, iter(near[nxt])))
                    break
            else:
                stack.pop()
                if stack:
                    parent = stack[-1][0]
                    low[parent] = min(low[parent], low[node])
                    if low[node] > order[parent]:
                        bridges.add(via)
    return bridges


def hidden_rates(closed: dict[str, int], with_outcome: dict[str, int], already: Iterable[str] = ()) -> set[str]:
    """The groups of a breakdown whose rate for one outcome is withheld.

    Hidden: groups already hidden (their size is), and any whose closed count, count with the
    outcome or count without it is from 1 to 4; then the groups with the fewest closed referrals
    until none of those small cells (nor the closed count of a group whose size is hidden) can be
    worked out from the overall margin (the rule of `hidden_cells`). A group with nothing closed
    has no rate to hide.
    """
    without = {name: closed[name] - with_outcome[name] for name in closed}
    already = set(already) & set(closed)
    tables = [(table, {name for name, n in table.items() if 0 < n < SMALL}) for table in (with_outcome, without)]
    tables.append((closed, {name for name, n in closed.items() if 0 < n < SMALL or (n and name in already)}))
    hidden = already | {name for _, protect in tables for name in protect}
    others = sorted((n, name) for name, n in closed.items() if n >= SMALL and name not in hidden)
    while others and any(_exposed(table, hidden, protect) for table, protect in tables):
        hidden.add(others.pop(0)[1])
    return hidden


def _rate(with_outcome: int, closed: int) -> float | None:
    """A rate, unless it rests on fewer than 5 closed referrals or either count behind it is from 1 to 4."""
    if closed < SMALL or suppress(with_outcome) is None or suppress(closed - with_outcome) is None:
        return None
    return round(with_outcome / closed, 3)


def _code(value: Any) -> str:
    return "not_recorded" if value is None else str(value)


def _tally(values: Iterable[Any]) -> dict[str, int]:
    """How many of each value, by its code (not_recorded for None), in order."""
    return {_code(k): n for k, n in sorted(Counter(values).items(), key=lambda kv: str(kv[0]))}


def _counts(counts: dict[str, int], *, total_hidden: bool = False) -> dict[str, int | None]:
    """A breakdown's counts (`_tally`), small ones hidden (hidden_cells). `total_hidden`: what they add up to is a
    hidden cell of another breakdown (the rejection reasons, the rejected count of by_status), so every one is hidden:
    shown, their sum would give that cell, and with it the small cell it was hidden to protect."""
    hidden = set(counts) if total_hidden else hidden_cells(counts)
    return {name: None if name in hidden else n for name, n in counts.items()}


CLOSED_COUNT = "(closed)"  # the overall closed count, a figure of the overall status table (never a status's code)


def hidden_statuses(statuses: dict[str, int]) -> set[str]:
    """The overall counts by status to hide, and `CLOSED_COUNT` among them if the closed count is not to be known
    (the caller withholds the overall outcome rates, which would give it).

    As `hidden_cells`, with the closed count (completed and failed) as a line of its own: `hidden_rates` takes it to
    be known (an outcome rate's denominator), so completed and failed are hidden as cells of it - one hidden beside
    the other shown would be the closed count minus that one - and the other statuses with it as their line's last
    cell. The closed count is hidden where it is from 1 to 4, or where the referrals not closed are (the overall
    count minus it would give them): then the other statuses, and completed or failed, protect it."""
    closing = [s for s in CLOSED if s in statuses]
    if not closing:
        return hidden_cells(statuses)
    closed = sum(statuses[s] for s in closing)
    values = {**statuses, CLOSED_COUNT: closed}
    lines: list[Line] = [(None, [s for s in statuses if s not in closing] + [CLOSED_COUNT]), (CLOSED_COUNT, closing)]
    known = closed >= SMALL and not 0 < sum(statuses.values()) - closed < SMALL
    return hidden_figures(values, lines, already=set() if known else {CLOSED_COUNT}, fixed={CLOSED_COUNT},
                          implied=[(None, list(statuses))], zeros=False)


def _by_status_and_reason(
        pairs: dict[str, Counter], sizes: dict[str, int], withheld: set[str], rejected_hidden: set[str],
        closed_known: set[str], overall: tuple[dict[str, int], dict[str, int | None], dict[str, int],
                                                dict[str, int | None], bool],
) -> tuple[dict[str, tuple[dict[str, int | None], dict[str, int | None]]], set[str]]:
    """Per group of a breakdown, its referrals by status and its rejected ones by reason: two-way tables, hidden
    together by `hidden_figures`.

    `pairs`: per group, how many referrals have each (status, status reason) - the reason read for rejected ones.
    `overall`: the overall counts by status and by reason, those published (by_status, rejection_reasons), and
    whether the overall closed count is known (`hidden_statuses`).
    The lines: each group's size is its statuses; each status overall is the groups' (rejected aside: it follows);
    a group's rejected count is its reasons; each reason overall is the groups'; the overall rejected count is the
    reasons; the overall count is the statuses, and the groups' sizes. A group's closed count (completed and failed)
    is a line too, and the overall one: an outcome rate's denominator, taken to be known as `hidden_rates` takes it
    - for a group with an outcome rate published (`closed_known`; never a withheld one), and overall unless
    `hidden_statuses` hid it - and kept unknown otherwise. Those margins are published or hidden already (the sizes
    by `hidden_cells`, the overall counts at the top by `hidden_statuses`): fixed here, and a hidden one must stay
    hidden. But a group's closed count known from its rates (or 0, known only as its cells show it) may be hidden
    here, last of all (where its referrals not closed would be its size minus it, say, with nothing else in its row
    to hide): the caller then withholds the group's outcome rates. Hidden from the start: every figure of a
    withheld group, and the rejected count of a group whose `rejection_rate` is withheld (`rejected_hidden`: the rate
    times the size would give it) unless the shown margins give it anyway (`_given`).

    Returns each group's two tables, and the groups whose closed count was hidden here.
    """
    statuses, status_shown, reasons, reason_shown, all_closed_known = overall
    closing = [s for s in CLOSED if s in statuses]
    groups = sorted(pairs)
    values: dict[tuple, int] = {}
    for group in groups:
        by_status: Counter = Counter()
        by_reason: Counter = Counter()
        for (status, reason), n in pairs[group].items():
            by_status[status] += n
            if status == "rejected":
                by_reason[_code(reason)] += n
        values.update({("status", group, status): by_status[status] for status in statuses})
        values.update({("reason", group, reason): by_reason[reason] for reason in reasons})
        values["size", group] = sizes[group]
        values["closed", group] = sum(by_status[s] for s in closing)
    values.update({("all", status): n for status, n in statuses.items()})
    values.update({("reasons", reason): n for reason, n in reasons.items()})
    values[("all_closed",)] = sum(statuses[s] for s in closing)

    def row(cell: Callable[[str], tuple], closed: tuple) -> list[tuple]:
        """A row's statuses, completed and failed as their closed count (which is a line of its own)."""
        return [cell(s) for s in statuses if s not in closing] + ([closed] if closing else [])

    lines: list[Line] = [(("size", g), row(lambda s: ("status", g, s), ("closed", g))) for g in groups]
    lines += [(("closed", g), [("status", g, s) for s in closing]) for g in groups if closing]
    lines += [(("all", s), [("status", g, s) for g in groups]) for s in statuses if s != "rejected"]
    # Sums of those lines, read as a reader would: each group's size is every status, completed and failed apart;
    # or with its rejected count as its reasons.
    implied: list[Line] = [(("size", g), [("status", g, s) for s in statuses]) for g in groups] if closing else []
    if "rejected" in statuses:
        lines += [(("status", g, "rejected"), [("reason", g, r) for r in reasons]) for g in groups]
        lines += [(("reasons", r), [("reason", g, r) for g in groups]) for r in reasons]
        lines.append((("all", "rejected"), [("reasons", r) for r in reasons]))
        # The groups' rejected counts add up to the overall one: the sum of the lines through the reasons.
        implied.append((("all", "rejected"), [("status", g, "rejected") for g in groups]))
        implied += [(("size", g), [("status", g, s) for s in statuses if s != "rejected"]
                     + [("reason", g, r) for r in reasons]) for g in groups]
    lines += [(None, row(lambda s: ("all", s), ("all_closed",))), (None, [("size", g) for g in groups])]
    if closing:
        lines.append((("all_closed",), [("all", s) for s in closing]))

    already = {f for f in values if f[0] in ("status", "reason") and f[1] in withheld}
    already |= {("size", g) for g in withheld} | {("status", g, "rejected") for g in rejected_hidden - withheld
                                                   if "rejected" in statuses}
    # A closed count is known where a rate gives it; a 0 is not known either (no rate is built on it) but as the
    # cells show it, so it may be hidden too, as a known one may (withholding the group's rates).
    hideable = {("closed", g) for g in groups if g in closed_known or not (values["closed", g] or g in withheld)}
    already |= {("closed", g) for g in groups} - hideable
    already |= {("all", s) for s, n in status_shown.items() if n is None}
    already |= {("reasons", r) for r, n in reason_shown.items() if n is None}
    if not all_closed_known and values["all_closed",]:
        already.add(("all_closed",))
    margins = {f for f in values if f[0] in ("size", "closed", "all", "all_closed", "reasons")} - hideable
    # A cell the shown margins give (a group's completed count where nothing of it is closed, say; or its rejected
    # count, whose rate was withheld, where everything not closed is rejected) is as good as shown: hiding it would
    # protect nothing, and the cells it was hidden for would be left exposed. It is shown (the tables protect
    # what it was hidden for).
    given = _given(values, lines, margins - already)
    already -= {f for f in given if f[0] in ("status", "reason") and f[1] not in withheld}
    fixed = margins | (given - already)
    hidden = hidden_figures(values, lines, already, fixed=fixed, implied=implied, last=hideable)

    def shown(figure: tuple) -> int | None:
        return None if figure in hidden else values[figure]

    tables = {g: ({s: shown(("status", g, s)) for s in statuses}, {r: shown(("reason", g, r)) for r in reasons})
              for g in groups}
    return tables, {g for _, g in hideable & hidden}


def _given(values: dict[Any, int], lines: Sequence[Line], shown: set) -> set:
    """The figures that the `shown` ones give away through the lines (not counts from 1 to 4: those are hidden
    whatever gives them): a line's last figure unknown, or its unknown parts when the known ones make its total
    already (counts are never negative)."""
    known = set(shown)
    while True:
        before = len(known)
        for total, parts in lines:
            if total is not None and total not in known:
                if all(p in known for p in parts):
                    known.add(total)
                continue
            unknown = [p for p in parts if p not in known]
            if not unknown:
                continue
            rest = (values[total] if total is not None else None)
            if len(unknown) == 1 or (rest is not None and rest == sum(values[p] for p in parts if p in known)):
                known.update(unknown)
        if len(known) == before:
            return {f for f in known if not 0 < values[f] < SMALL}


def _withheld(figures: Any) -> Any:
    """The same shape with every figure withheld (a group whose size is hidden)."""
    return {k: _withheld(v) for k, v in figures.items()} if isinstance(figures, dict) else None


def _percentile(values: list[float], fraction: float) -> float | None:
    """The value at `fraction` of the way through, unless fewer than SMALL make it or it is the longest or shortest
    value itself (the 90th of 5 is the largest): an extreme wait is one person's, the case that stood out."""
    if len(values) < SMALL:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    if index in (0, len(ordered) - 1):
        return None
    return round(ordered[index], 1)


def age_band(birth_date: date, today: date) -> str:
    age = today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))
    for upper, band in ((24, "16_24"), (34, "25_34"), (49, "35_49"), (64, "50_64")):
        if age <= upper:
            return band
    return "65_plus"


def referral_age_band(referral: Referral) -> str | None:
    """The person's age band on the day they were referred (an equity figure of who was referred; their
    age today would drift as records age). An erased referral keeps only the band (rights.erase)."""
    if referral.birth_date is None:
        return referral.age_band
    return age_band(referral.birth_date, uk_today(referral.submitted_at))


def _days_to_first_contact(referral: Referral) -> float | None:
    if not referral.first_contact_at:
        return None
    start, end = referral.submitted_at, referral.first_contact_at
    if start.tzinfo is None or end.tzinfo is None:
        start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    return (end - start).total_seconds() / 86400


def _rejected(referrals: list[Referral]) -> int:
    return sum(1 for r in referrals if r.status == "rejected")


STATUS_AND_REASON = attrgetter("status", "status_reason")  # a referral's, read in C (Counter(map(...)))


def _closed(referrals: list[Referral]) -> list[Referral]:
    return [r for r in referrals if r.status in CLOSED]


# A referral's outcome types and days to first contact, found by the referral object itself (id()).
Facts = dict[int, tuple[set[str], float | None]]
NO_OUTCOMES: frozenset[str] = frozenset()  # one for every referral without any, not an empty set made for each


def _facts(referrals: list[Referral], outcome_types: dict[Any, set[str]]) -> Facts:
    """Each referral's outcome types and wait, worked out once: every breakdown reads them again for each outcome
    type, and looking them up by the referral's UUID (whose hash Python computes each time) made 2 million lookups
    at 30,000 referrals - most of the figures' time."""
    return {id(r): (outcome_types.get(r.id, NO_OUTCOMES), _days_to_first_contact(r)) for r in referrals}


def _with_outcomes(closed: list[Referral], facts: Facts) -> Counter:
    """How many of the closed referrals have each outcome type, in one pass over them."""
    return Counter(kind for r in closed for kind in facts[id(r)][0])


def _summary(referrals: list[Referral], facts: Facts, closed: list[Referral] | None = None,
             with_outcomes: Counter | None = None, rejected: int | None = None) -> dict[str, Any]:
    """`closed`, `with_outcomes` and `rejected`: of these referrals, if the caller has them already (a breakdown
    does)."""
    waits = [wait for wait in (facts[id(r)][1] for r in referrals) if wait is not None]
    closed = _closed(referrals) if closed is None else closed
    with_outcomes = _with_outcomes(closed, facts) if with_outcomes is None else with_outcomes
    rates = {kind: _rate(with_outcomes[kind], len(closed)) for kind in OUTCOME_TYPES}
    return {
        "referrals": suppress(len(referrals)),
        "rejection_rate": _rate(_rejected(referrals) if rejected is None else rejected, len(referrals)),
        "days_to_first_contact": {"median": round(statistics.median(waits), 1) if len(waits) >= SMALL else None,
                                  "p90": _percentile(waits, 0.9), "referrals": suppress(len(waits))},
        "outcome_rates": rates,
    }


# The columns the figures read: whole referrals would bring their history, attempts, notes and outcomes too (their
# relationships load with them), four more queries per 500 referrals that no figure reads.
FIGURE_COLUMNS = (Referral.id, Referral.status, Referral.status_reason, Referral.source, Referral.area,
                  Referral.submitted_at, Referral.first_contact_at, Referral.birth_date, Referral.age_band,
                  Referral.deprivation_decile, Referral.sex, Referral.ethnicity, Referral.employment_situation,
                  Referral.health_category)
# The figures read each referral's fields again for every breakdown and outcome type: from a named tuple, not the
# SQLAlchemy row, whose field reads cost several times as much (half the figures' time at 30,000 referrals).
FigureRow = namedtuple("FigureRow", [column.key for column in FIGURE_COLUMNS])


def build(session: Session, today: date) -> dict[str, Any]:
    referrals = [FigureRow._make(row) for row in session.execute(
        sa.select(*FIGURE_COLUMNS).where(Referral.status != "entered_in_error"))]
    outcome_types: dict[Any, set[str]] = defaultdict(set)
    for referral_id, kind in session.execute(sa.select(Outcome.referral_id, Outcome.type)):
        outcome_types[referral_id].add(kind)
    return figures(referrals, outcome_types, today)


def read(session: Session, audit: AuditTrail, today: date) -> dict[str, Any]:
    """The figures, with the read audited (who looked at the equity figures) in the same transaction.
    No person is named: the figures are aggregates."""
    audit.record(session, action="read", resource_type="insights", resource_id="alliance")
    return build(session, today)


def figures(referrals: list[Referral], outcome_types: dict[Any, set[str]], today: date) -> dict[str, Any]:
    """The published figures from the referrals (minus those entered in error) and their outcome types."""
    facts = _facts(referrals, outcome_types)

    def breakdown(key: Callable[[Referral], Any]) -> dict[str, Any]:
        groups: dict[str, list[Referral]] = defaultdict(list)
        for referral in referrals:
            value = key(referral)
            groups["not_recorded" if value is None else str(value)].append(referral)
        sizes = {name: len(group) for name, group in groups.items()}
        hidden = hidden_cells(sizes)
        # Each group's referrals by (status, reason), in one pass over them: the two-way tables, and the rejected
        # counts (two more passes over the referrals before, 2026-11-29).
        pairs = {name: Counter(map(STATUS_AND_REASON, group)) for name, group in groups.items()}
        rejected = {name: sum(n for (status, _), n in p.items() if status == "rejected") for name, p in pairs.items()}
        closed = {name: _closed(group) for name, group in groups.items()}
        with_outcomes = {name: _with_outcomes(c, facts) for name, c in closed.items()}
        summaries = {name: _summary(group, facts, closed[name], with_outcomes[name], rejected[name])
                     for name, group in sorted(groups.items())}
        # A hidden group's waits and rates would give its size away; its contacted count is one more breakdown.
        contacted = hidden_cells({name: sum(1 for r in group if r.first_contact_at)
                                  for name, group in groups.items()}, already=hidden)
        rates_hidden = {kind: hidden_rates({name: len(c) for name, c in closed.items()},
                                           {name: with_outcomes[name][kind] for name in closed},
                                           already=hidden) for kind in OUTCOME_TYPES}
        # Who is turned away, by group: the share rejected is a rate over the group's referrals, protected as
        # an outcome rate is (the rejected and not-rejected counts it gives, against the overall rejected count).
        rejection_hidden = hidden_rates(sizes, rejected, already=hidden)
        closed_known = {name for name in groups if any(name not in names for names in rates_hidden.values())}
        tables, closed_hidden = _by_status_and_reason(pairs, sizes, hidden, rejection_hidden, closed_known, overall)
        for name, summary in summaries.items():
            summary["by_status"], summary["rejection_reasons"] = tables[name]
            if name in hidden:
                summaries[name] = _withheld(summary)
                continue
            if name in contacted:
                summary["days_to_first_contact"]["referrals"] = None
            if summary["by_status"].get("rejected", 0) is None:  # hidden as the rate was, or to protect a cell
                summary["rejection_rate"] = None
            for kind, names in rates_hidden.items():
                if name in names or name in closed_hidden:  # a rate would give its closed count away
                    summary["outcome_rates"][kind] = None
        return summaries

    statuses = _tally(r.status for r in referrals)
    reasons = _tally(r.status_reason for r in referrals if r.status == "rejected")
    hidden_status = hidden_statuses(statuses)
    by_status = {name: None if name in hidden_status else n for name, n in statuses.items()}
    rejection_reasons = _counts(reasons, total_hidden=by_status.get("rejected", 0) is None)
    overall = (statuses, by_status, reasons, rejection_reasons, CLOSED_COUNT not in hidden_status)
    summary = _summary(referrals, facts)
    if CLOSED_COUNT in hidden_status:  # a rate would give its closed count away
        summary["outcome_rates"] = dict.fromkeys(summary["outcome_rates"])
    return {
        "generated_on": today,
        "suppression": f"counts from 1 to {SMALL - 1} and figures built on fewer than {SMALL} referrals are null",
        "overall": summary,
        "by_source": _counts(_tally(r.source for r in referrals)),
        "by_area": _counts(_tally(r.area for r in referrals)),
        "by_status": by_status,
        "rejection_reasons": rejection_reasons,
        "equity": {
            "deprivation_decile": breakdown(lambda r: r.deprivation_decile),
            "age_band": breakdown(referral_age_band),
            "sex": breakdown(lambda r: r.sex),
            "ethnicity": breakdown(lambda r: r.ethnicity),
            "source": breakdown(lambda r: r.source),
            # Who is referred, waits and gets work, by their situation and health need when referred.
            "employment_situation": breakdown(lambda r: r.employment_situation),
            "health_category": breakdown(lambda r: r.health_category),
        },
    }

