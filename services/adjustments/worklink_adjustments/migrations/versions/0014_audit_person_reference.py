"""audit person reference: audit_log names a patient by the keyed reference of their NHS number
(HMAC-SHA256 under ADJUSTMENTS_PERSON_KEY), no longer by the number itself

Rewrites person_id, and the resource_id of an admin's review of a person's accesses (resource_type
audit_log), wherever they hold an NHS number (ten digits, spaces and hyphens ignored: a reviewer's mistyped
number too). The key is the one of the environment this migration runs in: run it with the service's own
ADJUSTMENTS_PERSON_KEY, or the references will not match those the service writes. Production without the
key stops here. No schema change.

Downgrade puts back the NHS number of every patient still held (their suggestions hold it, so their
reference can be matched again), under the current key and any a rotation retired that the sweep has not yet
re-keyed (ADJUSTMENTS_PERSON_KEY_PREVIOUS). An HMAC cannot be reversed: a reference of a number no suggestion holds
(a review of someone never held, a draft's number later corrected) stays a reference, and the downgrade
says how many.

Revision ID: adjustments_0014
Revises: adjustments_0013
Create Date: 2026-11-26 15:40:00
"""
import logging
import os
import re

from alembic import op
import sqlalchemy as sa

from worklink_adjustments.config import person_key, previous_person_keys
from worklink_adjustments.services import person_reference

revision = "adjustments_0014"
down_revision = "adjustments_0013"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
_AUDIT = sa.table("audit_log", sa.column("person_id", sa.String), sa.column("resource_id", sa.String),
                  sa.column("resource_type", sa.String))
_SUGGESTIONS = sa.table("suggestions", sa.column("nhs_number", sa.String))
_REVIEW = _AUDIT.c.resource_type == "audit_log"


def upgrade() -> None:
    if op.get_context().as_sql:  # offline SQL script: there are no rows to read
        return
    key, bind = person_key(os.environ), op.get_bind()
    named = _short_values(bind, _AUDIT.c.person_id) | _short_values(bind, _AUDIT.c.resource_id, _REVIEW)
    _rename(bind, {value: person_reference(digits, key) for value in named
                   if (digits := _nhs_digits(value))})


def downgrade() -> None:
    if op.get_context().as_sql:
        return
    keys, bind = (person_key(os.environ), *previous_person_keys(os.environ)), op.get_bind()
    held = bind.execute(sa.select(_SUGGESTIONS.c.nhs_number).where(_SUGGESTIONS.c.nhs_number.is_not(None))
                        .distinct()).scalars().all()
    _rename(bind, {person_reference(number, key): number for number in held for key in keys})
    left = bind.execute(sa.select(sa.func.count()).select_from(_AUDIT).where(
        sa.or_(sa.func.length(_AUDIT.c.person_id) == 64,
               sa.and_(_REVIEW, sa.func.length(_AUDIT.c.resource_id) == 64)))).scalar_one()
    if left:
        log.warning("%d audit entries keep a person reference: it matches no NHS number still held, and an HMAC "
                    "cannot be reversed", left)


def _short_values(bind, column, *where) -> set[str]:
    """The column's distinct values short enough to be an NHS number (not a suggestion id, not a reference)."""
    return set(bind.execute(sa.select(column).where(column.is_not(None), sa.func.length(column) <= 16, *where)
                            .distinct()).scalars())


def _nhs_digits(value: str) -> str | None:
    digits = re.sub(r"[\s-]", "", value)
    return digits if re.fullmatch(r"[0-9]{10}", digits) else None


def _rename(bind, names: dict[str, str]) -> None:
    """Each old name becomes its new one, as person_id and as the resource_id of a review of that person."""
    for old, new in names.items():
        bind.execute(sa.update(_AUDIT).where(_AUDIT.c.person_id == old).values(person_id=new))
        bind.execute(sa.update(_AUDIT).where(_REVIEW, _AUDIT.c.resource_id == old).values(resource_id=new))
