"""What every service's records retention and erasure share (no Flask): the retention period as
configured, its cutoff, the system principal that erases, the UK GDPR Article 17 reason codes, running an
erasure pass in batches of their own transactions, and NothingHeld for a person's rights use cases.

A service decides what "ended" means for its records and what erasing one removes; this module only
runs it (services/referrals/worklink_referrals/rights.py and services/adjustments/worklink_adjustments/
rights.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from worklink.auth import Principal
from worklink.config import ConfigError
from worklink.db import Database

# Who erases past retention: the audit trail names no person for it.
SYSTEM = Principal("system", "system")
RETENTION = "retention"  # the audit purpose of an erasure past retention
# Article 17(1) UK GDPR grounds for erasure: the codes, and the words the pages offer them in.
ERASURE_REASON_WORDS = (
    ("no_longer_necessary", "Their details are no longer needed for the purpose they were collected for"),
    ("consent_withdrawn", "They withdrew the consent the processing relied on"),
    ("objection", "They object to the processing, and there is no overriding legitimate reason to continue"),
    ("unlawful_processing", "Their details were processed unlawfully"),
    ("legal_obligation", "Their details must be erased to meet a legal obligation"),
)
ERASURE_REASONS = tuple(code for code, _ in ERASURE_REASON_WORDS)
BATCH = 200  # records erased per transaction: a first run on years of records takes no long locks


class NothingHeld(LookupError):
    """Nothing the caller answers for is held about the person asked for: a subject access or erasure request
    finds no record (the API answers 404, the pages say so on the find page)."""


def retention_years(env: Mapping[str, str], variable: str, default: int) -> int:
    """`variable` from the environment: a whole number of years, at least 1 (ConfigError otherwise)."""
    text = env.get(variable, str(default)).strip()
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{variable} must be a whole number of years, at least 1 (got {text!r})")
    return int(text)


def years_before(moment: datetime, years: int) -> datetime:
    """The same calendar moment `years` earlier (28 February for a 29th in a year that has none)."""
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February, in a year that has none
        return moment.replace(year=moment.year - years, day=28)


def erase_in_batches(database: Database, erase_batch: Callable[[Session, int], int], limit: int = BATCH) -> int:
    """Call erase_batch(session, limit) in a transaction of its own until it erases fewer than `limit`;
    returns how many were erased in all. Each batch commits on its own, so an interrupted pass keeps what
    it did and the next one carries on (erase_batch must skip what is already erased)."""
    erased = 0
    while True:
        with database.transaction() as session:
            done = erase_batch(session, limit)
        erased += done
        database.between_batches()
        if done < limit:
            return erased


# --- the audit trail's own retention ------------------------------------------------------------------------
# The trail names staff by login id (perhaps an e-mail address) for ever unless a period is set. The alliance's
# information governance lead decides it; unset, the trail is kept.
AUDIT_RETENTION_VARIABLE = "WORKLINK_AUDIT_RETENTION_YEARS"


def audit_retention_years(env: Mapping[str, str], *, records_kept_years: int = 1) -> int | None:
    """WORKLINK_AUDIT_RETENTION_YEARS: None when unset (the trail is kept), else whole years, never fewer than
    the service keeps the records it audits (`records_kept_years`): who saw a record is asked for while it is held."""
    if not (env.get(AUDIT_RETENTION_VARIABLE) or "").strip():
        return None
    years = retention_years(env, AUDIT_RETENTION_VARIABLE, 1)
    if years < records_kept_years:
        raise ConfigError(f"{AUDIT_RETENTION_VARIABLE} ({years}) must be at least the {records_kept_years} years this "
                          "service keeps the records it audits")
    return years


def prune_audit_log(database: Database, table, years: int | None, now: datetime) -> int:
    """Delete the audit entries older than `years` (none when None), oldest first, in batches of their own
    transactions (on the occurred_at index); how many."""
    if years is None:
        return 0
    cutoff = years_before(now, years)

    def batch(session: Session, limit: int) -> int:
        oldest = sa.select(table.c.id).where(table.c.occurred_at < cutoff).order_by(table.c.id).limit(limit)
        return session.execute(table.delete().where(table.c.id.in_(oldest))).rowcount or 0

    return erase_in_batches(database, batch, limit=1000)
