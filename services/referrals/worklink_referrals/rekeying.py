"""Re-keying the person pseudonyms after REFERRALS_PERSON_KEY is rotated.

`match_key` (duplicate detection; the person id person messages carry is made from it) is an HMAC of the
person's normalised name, birth date and postcode under the person key. When the key changes, the old one
moves to REFERRALS_PERSON_KEY_PREVIOUS and the clock job (or `worklink referrals rekey-people`) rewrites every
match key a previous key made, from the details the referral still holds; an erased referral's key names only
itself already, and keeps it if erased while a pass runs. It also rewrites a key made unkeyed, as the code before
migration 0008 made it (services.unkeyed_match_key): in a rolling deploy a replica not yet upgraded can still
take in a referral after the migration ran. Idempotent; a page of referrals read, then re-keyed in a transaction
of its own. Until it has run, an intake's duplicate check looks under every key still set, and unkeyed
(services.find_open_duplicate). Person ids change with the key: notifications stops a withdrawn
consent's messages by the consent id alone, and drops a message that arrives after its consent was withdrawn,
so a message and its revocation on two keys still end as one would expect. Rate limits count the hits stored
under every key still set (services.take_rate_limit). A match key is made only at intake, so without a previous
key set the clock job looks for unkeyed ones among the referrals submitted in the last UNKEYED_WINDOW, not
through every referral held every five minutes: an older replica does not outlive a deploy by a week.

`mailbox_key` (a new status link is asked for by address: services.mailbox_key) is an HMAC of the folded
address under the same key: rewritten in the same pass and the same statement, from the address held, when a
retired key made it - or when it is missing though the address is there, as a replica older than migration 0022
writes it. Until then a request for a new link is keyed under every key still set (services.request_status_links).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from worklink.db import Database
from worklink_referrals.models import Referral
from worklink_referrals.services import mailbox_key, match_key, unkeyed_match_key

BATCH = 500
UNKEYED_WINDOW = timedelta(days=7)
# Not a change to the referral: its version (optimistic locking) stays, so no adviser's update is refused for it.
# Only while it still holds the key that was read: a referral erased since (its key then links nobody) keeps its
# erased key, and is not linked to the person again by a key made from the details it no longer holds.
_REFERRALS = Referral.__table__
_REKEY = (_REFERRALS.update()
          .where(_REFERRALS.c.id == sa.bindparam("rid"), _REFERRALS.c.match_key == sa.bindparam("old"))
          .values(match_key=sa.bindparam("new"), mailbox_key=sa.bindparam("mailbox")))


def rekey_people(database: Database, key: str, previous: tuple[str, ...], unkeyed_since: datetime | None = None
                 ) -> int:
    """Rewrite under `key` the match keys the `previous` keys made, and those made unkeyed (with no previous key:
    of referrals submitted since `unkeyed_since`, None: of all); how many referrals changed. Read a page at a
    time outside the write lock; each page's rewrites in one short transaction."""
    changed, after = 0, None
    since = None if previous else unkeyed_since
    while True:
        with database.sessions() as session:
            rows = session.execute(_page(after, since)).all()
        renames = [rename for row in rows if (rename := _rename(row, previous, key))]
        if renames:
            with database.transaction() as session:
                changed += session.execute(_REKEY, renames).rowcount
            database.between_batches()
        if len(rows) < BATCH:
            return changed
        after = rows[-1].id


def _page(after, since: datetime | None) -> sa.Select:
    query = (sa.select(Referral.id, Referral.given_name, Referral.family_name, Referral.birth_date,
                       Referral.postcode, Referral.match_key, Referral.email, Referral.mailbox_key)
             .where(Referral.erased_at.is_(None), Referral.given_name.is_not(None)).order_by(Referral.id).limit(BATCH))
    if since is not None:
        query = query.where(Referral.submitted_at >= since)
    return query if after is None else query.where(Referral.id > after)


def _rename(row, previous: tuple[str, ...], key: str) -> dict | None:
    """The row's keys rewritten under `key` (each only if an old key made it), or None if neither changes."""
    new = _key(row, key)
    if new == row.match_key or row.match_key not in _old_keys(row, previous, key):
        new = row.match_key
    mailbox = mailbox_key(row.email, key)
    if row.mailbox_key is not None and row.mailbox_key not in {mailbox_key(row.email, old) for old in previous}:
        mailbox = row.mailbox_key
    if (new, mailbox) == (row.match_key, row.mailbox_key):
        return None
    return {"rid": row.id, "old": row.match_key, "new": new, "mailbox": mailbox}


def _old_keys(row, previous: tuple[str, ...], key: str) -> set[str]:
    """The keys this row may hold from before: a retired key's, unkeyed, or made from its names as stored (the
    code before names were Unicode-normalised) or with spaces and marks as typed (before they were folded)."""
    details = (row.given_name, row.family_name, row.birth_date, row.postcode, key)
    as_stored = match_key(*details, form=None, folded=False)
    unfolded = match_key(*details, folded=False)
    return {unkeyed_match_key(row.given_name, row.family_name, row.birth_date, row.postcode), as_stored,
            unfolded, *(_key(row, old) for old in previous)}


def _key(row, key: str) -> str:
    return match_key(row.given_name, row.family_name, row.birth_date, row.postcode, key)
