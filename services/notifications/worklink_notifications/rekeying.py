"""Re-keying users' clinician references after WORKLINK_CLINICIAN_REFERENCE_KEY is rotated.

A user's saved settings keep the clinician reference of their login id (routing.user_recipients: how an
event naming a clinician by reference reaches their e-mail). When the platform-wide key changes, the old
one moves to WORKLINK_CLINICIAN_REFERENCE_KEY_PREVIOUS and the delivery worker, at start and with each
retention pass, rewrites under the new key the references a previous key made (the login id is held, so
each is recomputed). Meanwhile, and for events still in flight under the old key, the inbox answers to a
user's reference under every configured key (inbox.user_owner); an e-mail for an event named under the
other key than the saved one waits for the re-keying or goes to the inbox only.
"""

from __future__ import annotations

import sqlalchemy as sa

from worklink.config import Settings
from worklink.db import Database
from worklink.pseudonyms import clinician_reference, clinician_reference_keys
from worklink_notifications.models import UserChannelSettings


def rekey_user_references(database: Database, keys: tuple[str, ...] | None = None) -> int:
    """Rewrite under the current key the saved references a retired key made; how many users changed."""
    keys = keys or clinician_reference_keys(Settings.from_env("notifications"))
    current, previous = keys[0], keys[1:]
    if not previous:
        return 0
    with database.transaction() as session:
        rows = session.execute(sa.select(UserChannelSettings.user_id, UserChannelSettings.clinician_reference)
                               .where(UserChannelSettings.clinician_reference.is_not(None))).all()
        stale = [row.user_id for row in rows
                 if row.clinician_reference in {clinician_reference(row.user_id, key) for key in previous}]
        for user_id in stale:
            session.execute(sa.update(UserChannelSettings).where(UserChannelSettings.user_id == user_id)
                            .values(clinician_reference=clinician_reference(user_id, current)))
    return len(stale)
