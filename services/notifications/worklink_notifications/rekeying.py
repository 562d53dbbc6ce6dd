"""Re-keying users' clinician references after WORKLINK_CLINICIAN_REFERENCE_KEY is rotated, and re-sealing webhook
signing secrets after NOTIFICATIONS_WEBHOOK_SECRET_KEY is (`reseal_webhook_secrets`).

A user's saved settings keep the clinician reference of their login id (routing.user_recipients: how an
event naming a clinician by reference reaches their e-mail). When the platform-wide key changes, the old
one moves to WORKLINK_CLINICIAN_REFERENCE_KEY_PREVIOUS and the delivery worker, at start and with each
retention pass, rewrites under the new key the references a previous key made (the login id is held, so
each is recomputed). Meanwhile, and for events still in flight under the old key, the inbox answers to a
user's reference under every configured key (inbox.user_owner); an e-mail for an event named under the
other key than the saved one waits for the re-keying or goes to the inbox only.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from worklink.config import Settings
from worklink.db import Database
from worklink.keyring import Seal, Unopenable
from worklink.pseudonyms import clinician_reference, clinician_reference_keys
from worklink_notifications import webhook_secrets
from worklink_notifications.models import UserChannelSettings, WebhookSubscriber

log = logging.getLogger(__name__)


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


def reseal_webhook_secrets(database: Database, seal: Seal) -> int:
    """Seal under the current key every webhook secret a retired key sealed, or an older replica stored in clear;
    how many secrets changed. One no key opens is left as it is and logged (the worker refuses to sign with it):
    only the key it was sealed with, or a rotation of the subscriber's secret, mends it."""
    changed = 0
    with database.transaction() as session:
        rows = session.execute(sa.select(WebhookSubscriber.id, WebhookSubscriber.secret,
                                         WebhookSubscriber.previous_secret)).all()
        for row in rows:
            for column in ("secret", "previous_secret"):
                stored = getattr(row, column)
                try:
                    resealed = _resealed(stored, seal) if stored else stored
                except Unopenable:
                    log.error("a webhook signing secret is sealed under none of the keys configured",
                              extra={"subscriber_id": str(row.id)})
                    continue
                if resealed != stored:  # only if unchanged since read: a rotation meanwhile wins
                    changed += session.execute(sa.update(WebhookSubscriber).where(
                        WebhookSubscriber.id == row.id, getattr(WebhookSubscriber, column) == stored)
                        .values({column: resealed})).rowcount
    return changed


def _resealed(stored: str, seal: Seal) -> str:
    if webhook_secrets.in_clear(stored):
        return seal.seal(stored)
    return stored if seal.is_current(stored) else seal.reseal(stored)
