"""The in-app inbox: inbox deliveries for a user, an organisation or the alliance. Free of Flask."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from worklink.auth import Principal
from worklink.db import utcnow
from worklink.pseudonyms import clinician_reference
from worklink_notifications.messages import details, wording
from worklink_notifications.models import Delivery
from worklink_notifications.routing import ALLIANCE


class NotYours(Exception):
    """The caller may not see that inbox."""


@dataclass(frozen=True)
class InboxOwner:
    kind: str
    id: str
    # A user's inbox also holds what was addressed to their clinician reference: events that may
    # not carry a login id name the clinician by it (worklink.pseudonyms); under each key still
    # configured, so what was addressed before a key rotation stays in the inbox.
    references: tuple[str, ...] = ()

    @property
    def recipient_ids(self) -> tuple[str, ...]:
        return (self.id, *self.references)

    def holds(self, delivery: Delivery) -> bool:
        return delivery.channel == "inbox" and delivery.recipient_kind == self.kind \
            and delivery.recipient_id in self.recipient_ids


def user_owner(principal: Principal, reference_keys: tuple[str, ...]) -> InboxOwner:
    return InboxOwner("user", principal.subject, tuple(clinician_reference(principal.subject, key)
                                                       for key in reference_keys))


def owner_for(principal: Principal, scope: str, reference_keys: tuple[str, ...]) -> InboxOwner:
    if scope == "user":
        return user_owner(principal, reference_keys)
    if scope == "organisation":
        if not principal.organisation:
            raise NotYours("You act for no organisation, so there is no organisation inbox to show.")
        return InboxOwner("organisation", principal.organisation)
    if not principal.is_alliance_admin:
        raise NotYours("Only alliance_admin may read the alliance inbox.")
    return InboxOwner("alliance", ALLIANCE)


def owners_for(principal: Principal, reference_keys: tuple[str, ...]) -> list[InboxOwner]:
    """Every inbox this user may read (for unread counts and marking an item read)."""
    owners = [user_owner(principal, reference_keys)]
    if principal.organisation:
        owners.append(InboxOwner("organisation", principal.organisation))
    if principal.is_alliance_admin:
        owners.append(InboxOwner("alliance", ALLIANCE))
    return owners


def _of(owner: InboxOwner):
    ids = owner.recipient_ids
    return sa.and_(Delivery.channel == "inbox", Delivery.recipient_kind == owner.kind,
                   Delivery.recipient_id == ids[0] if len(ids) == 1 else Delivery.recipient_id.in_(ids))


def items(session: Session, owner: InboxOwner, unread_only: bool, limit: int, offset: int) -> tuple[list[dict], int]:
    where = [_of(owner)] + ([Delivery.read_at.is_(None)] if unread_only else [])
    total = session.scalar(sa.select(sa.func.count()).select_from(Delivery).where(*where))
    rows = session.scalars(sa.select(Delivery).where(*where)
                           .order_by(Delivery.created_at.desc(), Delivery.id).limit(limit).offset(offset)).all()
    return [as_item(row) for row in rows], total


def unread(session: Session, owner: InboxOwner) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(Delivery)
                          .where(_of(owner), Delivery.read_at.is_(None)))


def as_item(delivery: Delivery) -> dict:
    title, text = wording(delivery.message_code)
    return {"id": delivery.id, "event_type": delivery.event_type, "message_code": delivery.message_code,
            "title": title, "text": text, "details": details(delivery.message_code, delivery.facts),
            "facts": delivery.facts, "occurred_at": delivery.occurred_at,
            "created_at": delivery.created_at, "read_at": delivery.read_at}


def mark_read(session: Session, principal: Principal, item_id: uuid.UUID, reference_keys: tuple[str, ...],
              now: datetime | None = None) -> dict | None:
    """Mark one of the caller's inbox items read (organisation items: read for the whole team)."""
    delivery = session.get(Delivery, item_id)
    if delivery is None or not any(owner.holds(delivery) for owner in owners_for(principal, reference_keys)):
        return None
    if delivery.read_at is None:
        delivery.read_at = now or utcnow()
    return as_item(delivery)


def mark_all_read(session: Session, owner: InboxOwner, now: datetime | None = None,
                  up_to: datetime | None = None) -> int:
    """Mark the owner's unread items read; with `up_to` (when the caller looked), only those that had arrived by
    then: one arriving while its reader pressed "Mark all as read" was never seen, and stays unread."""
    unread = [_of(owner), Delivery.read_at.is_(None)]
    if up_to is not None:
        unread.append(Delivery.created_at <= up_to)
    result = session.execute(sa.update(Delivery).where(*unread).values(read_at=now or utcnow()))
    return result.rowcount
