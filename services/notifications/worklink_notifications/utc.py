"""One helper for stored moments, imported by routing, delivery, webhook_secrets, subscribers and the pages (it
lives apart because delivery imports routing, so neither could hold it for the other). Free of Flask."""

from __future__ import annotations

from datetime import datetime, timezone


def as_utc(moment: datetime) -> datetime:
    """The moment with its zone: SQLite gives a stored one back without it (always UTC, as written)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
