"""Alliance insights: aggregates only, with small counts suppressed (no Flask).

Any count from 1 to 4 is replaced by None and flagged, and a median or rate built on
fewer than 5 referrals is withheld too, so no figure can point at a person. The totals
are published, so within a breakdown enough other cells are hidden too that no small
count can be worked out by subtraction (complementary suppression).

An outcome rate counts as publishing three counts: the closed referrals it is built on, those
with the outcome and those without (the closed count may be known from sizes and statuses, so
rate x closed is exact). Each outcome type is suppressed on those three tables per breakdown,
against the overall margin, which is always assumed known (see `hidden_rates`).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict, namedtuple
from datetime import date
from typing import Any, Callable, Iterable

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
    5, and not all ones."""
    hidden = {name for name, n in counts.items() if 0 < n < SMALL} | (set(already) & set(counts))
    others = sorted((n, name) for name, n in counts.items() if n >= SMALL and name not in hidden)

    def exposed() -> bool:
        total = sum(counts[name] for name in hidden)
        return len(hidden) == 1 or total < SMALL or total == len(hidden)

    while hidden and others and exposed():
        hidden.add(others.pop(0)[1])
    return hidden


def _exposed(table: dict[str, int], hidden: set[str], protect: set[str]) -> bool:
    """Whether a protected hidden cell of `table` can be worked out from the margin minus the shown cells."""
    if not protect & hidden:
        return False
    total = sum(table[name] for name in hidden)
    return len(hidden) == 1 or total < SMALL or total == len(hidden)


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


def _counts(values: Iterable[Any], *, total_hidden: bool = False) -> dict[str, int | None]:
    """A breakdown's counts, small ones hidden (hidden_cells). `total_hidden`: what they add up to is a hidden cell
    of another breakdown (the rejection reasons, the rejected count of by_status), so every one is hidden: shown,
    their sum would give that cell, and with it the small cell it was hidden to protect."""
    counts = {str(k if k is not None else "not_recorded"): n for k, n in sorted(
        Counter(values).items(), key=lambda kv: str(kv[0]))}
    hidden = set(counts) if total_hidden else hidden_cells(counts)
    return {name: None if name in hidden else n for name, n in counts.items()}


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
             with_outcomes: Counter | None = None) -> dict[str, Any]:
    """`closed` and `with_outcomes`: of these referrals, if the caller has them already (a breakdown does)."""
    waits = [wait for wait in (facts[id(r)][1] for r in referrals) if wait is not None]
    closed = _closed(referrals) if closed is None else closed
    with_outcomes = _with_outcomes(closed, facts) if with_outcomes is None else with_outcomes
    rates = {kind: _rate(with_outcomes[kind], len(closed)) for kind in OUTCOME_TYPES}
    return {
        "referrals": suppress(len(referrals)),
        "rejection_rate": _rate(_rejected(referrals), len(referrals)),
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
        hidden = hidden_cells({name: len(group) for name, group in groups.items()})
        closed = {name: _closed(group) for name, group in groups.items()}
        with_outcomes = {name: _with_outcomes(c, facts) for name, c in closed.items()}
        summaries = {name: _summary(group, facts, closed[name], with_outcomes[name])
                     for name, group in sorted(groups.items())}
        # A hidden group's waits and rates would give its size away; its contacted count is one more breakdown.
        contacted = hidden_cells({name: sum(1 for r in group if r.first_contact_at)
                                  for name, group in groups.items()}, already=hidden)
        rates_hidden = {kind: hidden_rates({name: len(c) for name, c in closed.items()},
                                           {name: with_outcomes[name][kind] for name in closed},
                                           already=hidden) for kind in OUTCOME_TYPES}
        # Who is turned away, by group: the share rejected is a rate over the group's referrals, protected as
        # an outcome rate is (the rejected and not-rejected counts it gives, against the overall rejected count).
        rejection_hidden = hidden_rates({name: len(group) for name, group in groups.items()},
                                        {name: _rejected(group) for name, group in groups.items()}, already=hidden)
        for name, summary in summaries.items():
            if name in hidden:
                summaries[name] = _withheld(summary)
                continue
            if name in contacted:
                summary["days_to_first_contact"]["referrals"] = None
            if name in rejection_hidden:
                summary["rejection_rate"] = None
            for kind, names in rates_hidden.items():
                if name in names:
                    summary["outcome_rates"][kind] = None
        return summaries

    by_status = _counts(r.status for r in referrals)
    return {
        "generated_on": today,
        "suppression": f"counts from 1 to {SMALL - 1} and figures built on fewer than {SMALL} referrals are null",
        "overall": _summary(referrals, facts),
        "by_source": _counts(r.source for r in referrals),
        "by_area": _counts(r.area for r in referrals),
        "by_status": by_status,
        "rejection_reasons": _counts((r.status_reason for r in referrals if r.status == "rejected"),
                                     total_hidden=by_status.get("rejected", 0) is None),
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

