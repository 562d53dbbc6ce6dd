"""One pause for every delivery worker while our mail relay (channel `mail`) or our webhook proxy (`webhook`)
cannot be reached.

Every e-mail (every webhook) would fail alike, so all of them wait and only the first due one tries again when
the pause is over. Several workers (PostgreSQL, SKIP LOCKED) share the pause through a `channel_pause` row: the
worker that finds the relay down sets the moment (its backoff grows with the failures in a row, whoever saw them),
the others read it at most once a second (`refresh`) and send no e-mail until then; a worker whose e-mail the
relay took clears it. SQLite's single worker takes the same path. The row is written in the caller's
transaction (SQLite has one writer: a second transaction would wait for the first), and before any delivery
row, so two workers recording an outage never lock rows in opposite orders. Free of Flask.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worklink.db import Database, utcnow
from worklink_notifications.models import ChannelPause
from worklink_notifications.utc import as_utc

MAIL = "mail"
WEBHOOK = "webhook"  # our forward proxy for webhooks (NOTIFICATIONS_WEBHOOK_PROXY), never one receiver


@dataclass
class SharedPause:
    database: Database
    channel: str = MAIL
    refresh: float = 1.0  # seconds a worker trusts what it last read
    monotonic: Callable[[], float] = time.monotonic
    _until: datetime | None = field(default=None, init=False)
    _read_at: float | None = field(default=None, init=False)

    @property
    def until(self) -> datetime | None:
        """When the pause ends (as last read or written by this worker); None if there is none."""
        if self._read_at is None or self.monotonic() - self._read_at >= self.refresh:
            with self.database.sessions() as session:
                self._remember(session.scalar(sa.select(ChannelPause.paused_until)
                                              .where(ChannelPause.channel == self.channel)))
        return self._until

    def paused(self, now: datetime) -> bool:
        until = self.until
        return until is not None and now < until

    def failed(self, session: Session, now: datetime, backoff: Callable[[int], timedelta]) -> datetime:
        """The relay could not be reached at `now`: pause every worker for backoff(failures in a row), unless
        another worker's pause is already on (this worker's send crossed it), which then stands. Returns its end."""
        row = self._locked_row(session)
        if row.paused_until is None or as_utc(row.paused_until) <= now:
            row.failures += 1
            row.paused_until, row.updated_at = now + backoff(row.failures), now
        self._remember(row.paused_until)
        return self._until

    def reachable(self, session: Session) -> None:
        """The relay took mail (or refused only a message): no pause, the failures in a row forgotten."""
        session.execute(sa.update(ChannelPause).where(
            ChannelPause.channel == self.channel,
            sa.or_(ChannelPause.failures > 0, ChannelPause.paused_until.is_not(None)))
            .values(failures=0, paused_until=None))
        self._remember(None)

    def _locked_row(self, session: Session) -> ChannelPause:
        row = session.get(ChannelPause, self.channel, with_for_update=True)
        if row is None:  # the first outage ever; another worker's first insert may be on its way
            insert = postgresql.insert if self.database.dialect == "postgresql" else sqlite.insert
            session.execute(insert(ChannelPause).values(channel=self.channel, failures=0, updated_at=utcnow())
                            .on_conflict_do_nothing())
            row = session.get(ChannelPause, self.channel, with_for_update=True, populate_existing=True)
        return row

    def _remember(self, until: datetime | None) -> None:
        self._until, self._read_at = (as_utc(until) if until else None), self.monotonic()
