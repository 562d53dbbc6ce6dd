"""Re-keying the audit trail's patient references after ADJUSTMENTS_PERSON_KEY is rotated.

The trail names a patient by the keyed reference of their NHS number (services.person_reference). When
the key changes (suspected disclosure, a scheduled rotation) the old key moves to
ADJUSTMENTS_PERSON_KEY_PREVIOUS and every reference it made is rewritten under the new key - person_id,
and resource_id where an admin's review of that person is itself recorded - so reviews and subject access
by NHS number find every access again. Only patients still held can be re-keyed (the number is needed);
an erased patient's entries already name their suggestion instead of them (rights.erase). Idempotent: the
sweep runs it on every pass while previous keys are set; once nothing is left under them, the operator
drops them (and nothing a retired key made stays in the trail).

Each pass also converts leftovers of a rolling deploy: an older replica still running after migration 0014
writes the NHS number itself as person_id (and as the resource_id of an admin's review). Any value of ten
digits (spaces and hyphens ignored, as 0014 reads them) becomes its reference under the current key, whether or
not the patient is still held: the trail must never hold the number in clear. The sweep looks only at the
entries of the last LEFTOVER_WINDOW (by the indexed occurred_at, not the whole trail every hour): an older
replica does not outlive a deploy by a week. `worklink adjustments rekey-audit` looks at the whole trail.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import sqlalchemy as sa

from worklink.db import Database
from worklink_adjustments.models import PLATFORM, Suggestion
from worklink_adjustments.services import person_reference

_REFERENCE = re.compile(r"[0-9a-f]{64}")
_NHS_NUMBER = re.compile(r"[0-9]{10}")
BATCH = 500
LEFTOVER_WINDOW = timedelta(days=7)


def rekey_audit(database: Database, key: str, previous: tuple[str, ...], leftovers_since: datetime | None = None
                ) -> int:
    """Rewrite the references the `previous` keys made, and any NHS number an older replica wrote (in entries
    since `leftovers_since`; None: in any), under `key`; how many audit entries changed."""
    with database.sessions() as session:
        renames = _numbers_in_trail(session, key, leftovers_since)
        if previous:
            written = _references_in_trail(session)
            numbers = session.scalars(sa.select(Suggestion.nhs_number).where(Suggestion.nhs_number.is_not(None))
                                      .distinct()).all()
            renames |= {old: person_reference(number, key) for number in numbers for old_key in previous
                        if (old := person_reference(number, old_key)) in written}
    changed, pending = 0, sorted(renames.items())
    for start in range(0, len(pending), BATCH):
        with database.transaction() as session:
            changed += sum(_rename(session, old, new) for old, new in pending[start:start + BATCH])
        database.between_batches()
    return changed


def _references_in_trail(session) -> set[str]:
    """The keyed references the trail holds (a person's, or a reviewed person's as the record reviewed)."""
    audit = PLATFORM.audit_log.c
    found = set(session.scalars(sa.select(audit.person_id).where(sa.func.length(audit.person_id) == 64).distinct()))
    found |= set(session.scalars(sa.select(audit.resource_id).where(
        audit.resource_type == "audit_log", sa.func.length(audit.resource_id) == 64).distinct()))
    return {value for value in found if _REFERENCE.fullmatch(value)}


def _numbers_in_trail(session, key: str, since: datetime | None) -> dict[str, str]:
    """NHS numbers written in clear (by a replica older than migration 0014) in entries since `since`, each with
    its reference under `key`."""
    audit = PLATFORM.audit_log.c
    recent = sa.true() if since is None else audit.occurred_at >= since
    short = sa.func.length(audit.person_id) <= 16  # not a suggestion id (36), not a reference (64)
    found = set(session.scalars(sa.select(audit.person_id).where(recent, short).distinct()))
    found |= set(session.scalars(sa.select(audit.resource_id).where(
        recent, audit.resource_type == "audit_log", sa.func.length(audit.resource_id) <= 16).distinct()))
    return {value: person_reference(digits, key) for value in found if value
            and _NHS_NUMBER.fullmatch(digits := re.sub(r"[\s-]", "", value))}


def _rename(session, old: str, new: str) -> int:
    audit = PLATFORM.audit_log
    people = session.execute(audit.update().where(audit.c.person_id == old).values(person_id=new)).rowcount
    reviews = session.execute(audit.update().where(audit.c.resource_type == "audit_log", audit.c.resource_id == old)
                              .values(resource_id=new)).rowcount
    return (people or 0) + (reviews or 0)
