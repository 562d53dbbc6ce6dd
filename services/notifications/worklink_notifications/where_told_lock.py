"""One change at a time to where an organisation is told (its e-mail contacts, its webhooks). Free of Flask.

Adding checks first that the address is not there already (contacts.py: the same address and purpose;
subscribers.py: the same webhook URL). A form sent twice - a double click, a reload of its answer - reaches the
server as two requests at once: on PostgreSQL both read before either wrote, so both passed the check, and the
second contact failed its unique key (a 500) and the second webhook was made beside the first, with a secret
nobody was shown. A transaction-scoped advisory lock per organisation makes the second wait for the first and
then see its row. SQLite already serialises writers (BEGIN IMMEDIATE): no lock.

A change also names the version of the contact or webhook it was made from (optimistic locking, as referrals'
`version` and adjustments' `revision`): two administrators editing one at once, the later save silently undid the
earlier one. `check_version` refuses a change made from an older version (ChangedMeanwhile: the API's 409, the
page's form again, what was typed kept); each change moves it (`moved`)."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy.orm import Session

_LOCK = sa.text("SELECT pg_advisory_xact_lock(:k)")


class ChangedMeanwhile(Exception):
    """Someone else changed the contact or webhook after the version the change was made from was read."""

    def __init__(self, current_version: int):
        super().__init__(f"It changed after you read it: it is at version {current_version} now.")
        self.current_version = current_version


def lock_organisation(session: Session, organisation_id: str) -> None:
    """Until the transaction ends, no other request changes `organisation_id`'s contacts or webhooks."""
    if session.get_bind().dialect.name != "postgresql":
        return
    key = hashlib.sha256(f"notifications-where-told:{organisation_id}".encode()).digest()[:8]
    session.execute(_LOCK, {"k": int.from_bytes(key, "big", signed=True)})


def check_version(session: Session, row, read: int | None) -> None:
    """Takes the organisation's turn and reads `row` as it is now; raises ChangedMeanwhile if it is no longer at
    the version `read` (None: a change that cannot undo another's, such as switching a webhook on, is not
    checked)."""
    lock_organisation(session, row.organisation_id)
    session.refresh(row)  # read before the turn was ours: another's change may have been committed since
    if read is not None and row.version != read:
        raise ChangedMeanwhile(row.version)


def moved(row) -> None:
    """A change was made: a form or a read from before it is stale now."""
    row.version += 1
