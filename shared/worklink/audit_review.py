"""Reviewing the audit trail: who read or changed which record, and where to look first.

Recording every access (worklink.audit) is half the duty; the other half is that someone reviews it
(the Data Security and Protection Toolkit asks that access records are monitored, and a person may ask
who has seen their record). These queries serve every service's own audit_log, with no Flask in them:
- `entries`: the entries newest first, filtered by record, person, who, their organisation, action and
  period;
- `summary`: per person who acted in a period, how many entries, how many people's records, how many
  refused attempts, how many out of hours (before 07:00 or from 19:00 UK time, or at a weekend) - most
  refused first, then most records: the accesses that most need a look.
An organisation's admin reviews what their own staff did; an alliance admin reviews everyone's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from worklink.auth import Principal
from worklink.db import PlatformTables
from worklink.uktime import UK

WORKING_HOURS = (time(7, 0), time(19, 0))
LONGEST_SUMMARY = timedelta(days=31)  # a summary reads every entry of its period
COLUMNS = ("occurred_at", "actor", "actor_role", "actor_org", "action", "resource_type", "resource_id",
           "person_id", "purpose", "request_id")


@dataclass
class ActorSummary:
    actor: str
    actor_role: str
    actor_org: str | None
    entries: int = 0
    people: set[str] = field(default_factory=set)
    refused: int = 0
    out_of_hours: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"actor": self.actor, "actor_role": self.actor_role, "actor_org": self.actor_org,
                "entries": self.entries, "people": len(self.people), "refused": self.refused,
                "out_of_hours": self.out_of_hours}


def scope(table: sa.Table, reviewer: Principal) -> list[Any]:
    """An organisation's admin sees what their organisation's staff did; an alliance admin, everything."""
    if reviewer.is_alliance_admin:
        return []
    if reviewer.organisation is None:  # an organisation's admin acting for none answers for no one
        return [sa.false()]
    return [table.c.actor_org == reviewer.organisation]


def entries(session: Session, tables: PlatformTables, reviewer: Principal, query: Mapping[str, Any]
            ) -> tuple[list[dict[str, Any]], int]:
    """The entries matching `query` (record, person, actor, actor_org, action, resource_type, since,
    until, limit, offset), newest first, and how many match in all."""
    table = tables.audit_log
    where = scope(table, reviewer) + _filters(table, query)
    total = session.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()
    rows = session.execute(
        sa.select(*(table.c[name] for name in COLUMNS)).where(*where)
        .order_by(table.c.occurred_at.desc(), table.c.id.desc())
        .limit(query.get("limit", 100)).offset(query.get("offset", 0))).mappings()
    return [{**row, "occurred_at": _utc(row["occurred_at"])} for row in rows], total


def summary(session: Session, tables: PlatformTables, reviewer: Principal, since: datetime, until: datetime
            ) -> list[dict[str, Any]]:
    """Per actor in [since, until): entries, people's records, refusals, out-of-hours entries."""
    table = tables.audit_log
    rows = session.execute(
        sa.select(table.c.actor, table.c.actor_role, table.c.actor_org, table.c.action, table.c.person_id,
                  table.c.occurred_at)
        .where(*scope(table, reviewer), table.c.occurred_at >= since, table.c.occurred_at < until)
        .execution_options(yield_per=2000))
    actors: dict[tuple[str, str, str | None], ActorSummary] = {}
    for row in rows:
        key = (row.actor, row.actor_role, row.actor_org)
        found = actors.get(key) or actors.setdefault(key, ActorSummary(*key))
        found.entries += 1
        if row.person_id:
            found.people.add(row.person_id)
        found.refused += row.action == "denied"
        found.out_of_hours += out_of_hours(_utc(row.occurred_at))
    ranked = sorted(actors.values(), key=lambda a: (-a.refused, -len(a.people), -a.entries, a.actor))
    return [a.as_dict() for a in ranked]


def out_of_hours(moment: datetime) -> bool:
    local = moment.astimezone(UK)
    return local.weekday() >= 5 or not WORKING_HOURS[0] <= local.time() < WORKING_HOURS[1]


def _filters(table: sa.Table, query: Mapping[str, Any]) -> list[Any]:
    equal = {"record": "resource_id", "person": "person_id", "actor": "actor", "actor_org": "actor_org",
             "action": "action", "resource_type": "resource_type"}
    where = [table.c[column] == query[name] for name, column in equal.items() if query.get(name)]
    if query.get("since"):
        where.append(table.c.occurred_at >= query["since"])
    if query.get("until"):
        where.append(table.c.occurred_at < query["until"])
    return where


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive UTC datetimes."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
