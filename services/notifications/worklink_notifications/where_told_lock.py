"""One change at a time to where an organisation is told (its e-mail contacts, its webhooks). Free of Flask.

Adding checks first that the address is not there already (contacts.py: the same address and purpose;
subscribers.py: the same webhook URL). A form sent twice - a double click, a reload of its answer - reaches the
server as two requests at once: on PostgreSQL both read before either wrote, so both passed the check, and the
second contact failed its unique key (a 500) and the second webhook was made beside the first, with a secret
nobody was shown. A transaction-scoped advisory lock per organisation makes the second wait for the first and
then see its row. SQLite already serialises writers (BEGIN IMMEDIATE): no lock."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy.orm import Session

_LOCK = sa.text("SELECT pg_advisory_xact_lock(:k)")


def lock_organisation(session: Session, organisation_id: str) -> None:
    """Until the transaction ends, no other request changes `organisation_id`'s contacts or webhooks."""
    if session.get_bind().dialect.name != "postgresql":
        return
    key = hashlib.sha256(f"notifications-where-told:{organisation_id}".encode()).digest()[:8]
    session.execute(_LOCK, {"k": int.from_bytes(key, "big", signed=True)})
