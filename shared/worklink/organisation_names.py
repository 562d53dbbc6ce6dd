"""Organisations' names as their own staff's tokens carry them (`org_name`), kept by a service that must name an
organisation to people of another: broadcast events carry organisation ids only, never names. Organisations only,
never people. Each service keeps its own table of this shape (org_id primary key, name, seen_at)."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def remember(session: Session, table: sa.Table, org_id: str | None, name: str | None, now: datetime) -> None:
    """Keep `name` for the organisation. Read first: an upsert would lock the row on every request of the
    organisation's staff; written only when new or renamed (the latest wins)."""
    if not (org_id and name):
        return
    if session.scalar(sa.select(table.c.name).where(table.c.org_id == org_id)) == name:
        return
    insert = (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(table)
    insert = insert.values(org_id=org_id, name=name, seen_at=now)
    session.execute(insert.on_conflict_do_update(index_elements=[table.c.org_id], set_={
        "name": insert.excluded.name, "seen_at": insert.excluded.seen_at}))


def names_of(session: Session, table: sa.Table, org_ids: Iterable[str | None]) -> dict[str, str]:
    """The names known for these organisation ids; an id with none is left out."""
    wanted = {org for org in org_ids if org}
    if not wanted:
        return {}
    return dict(session.execute(sa.select(table.c.org_id, table.c.name).where(table.c.org_id.in_(wanted))).all())
