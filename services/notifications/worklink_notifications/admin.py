"""Routing rules and delivery administration (alliance_admin). Free of Flask."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from worklink.audit import AuditTrail
from worklink.db import utcnow
from worklink_notifications.messages import CODE_MESSAGE
from worklink_notifications.models import Delivery, RoutingRule


class CannotResend(Exception):
    pass


def rules(session: Session, event_type: str | None = None) -> list[RoutingRule]:
    query = sa.select(RoutingRule).order_by(RoutingRule.event_type, RoutingRule.audience)
    if event_type:
        query = query.where(RoutingRule.event_type == event_type)
    return list(session.scalars(query))


def rule_for(session: Session, event_type: str, audience: str) -> RoutingRule | None:
    return session.scalars(sa.select(RoutingRule).where(RoutingRule.event_type == event_type,
                                                        RoutingRule.audience == audience)).first()


def add_rule(session: Session, body: dict[str, Any], actor: str) -> RoutingRule:
    rule = RoutingRule(event_type=body["event_type"], audience=body["audience"],
                       channels=",".join(dict.fromkeys(body["channels"])), message_code=body["message_code"],
                       enabled=body["enabled"], updated_by=actor)
    session.add(rule)
    session.flush()
    return rule


def change_rule(rule: RoutingRule, body: dict[str, Any], actor: str) -> RoutingRule:
    if "channels" in body:
        rule.channels = ",".join(dict.fromkeys(body["channels"]))
    for name in ("message_code", "enabled"):
        if name in body:
            setattr(rule, name, body[name])
    rule.updated_by = actor
    return rule


def deliveries(session: Session, query: dict[str, Any]) -> tuple[list[Delivery], int]:
    where = [getattr(Delivery, name) == query[name] for name in ("status", "channel", "event_id") if query.get(name)]
    total = session.scalar(sa.select(sa.func.count()).select_from(Delivery).where(*where))
    rows = session.scalars(sa.select(Delivery).where(*where).order_by(Delivery.created_at.desc(), Delivery.id)
                           .limit(query["limit"]).offset(query["offset"])).all()
    return list(rows), total


def resend(delivery: Delivery) -> None:
    """Queue a dead delivery again. The caller reads it locked (FOR UPDATE): a re-send read unlocked while
    another administrator's went and the worker sent it would queue it again, and it would go twice."""
    refusal = why_not_resent(delivery)
    if refusal:
        raise CannotResend(refusal)
    delivery.status, delivery.attempts, delivery.next_attempt_at = "pending", 0, None
    delivery.resent_at = utcnow()  # an outage's time limit counts from now


def why_not_resent(delivery: Delivery) -> str | None:
    """Why `resend` refuses this delivery, or None if it may be re-sent: /admin offers no Re-send button that can
    only fail, and says why instead."""
    if delivery.channel == "inbox":
        return "Inbox items are delivered when they are created; there is nothing to re-send."
    if delivery.status == "revoked":
        return "The person withdrew the consent this message was sent under; it is never sent."
    if delivery.status != "dead":
        return f"Only dead deliveries can be re-sent; this one is {delivery.status}."
    if delivery.redacted_at is not None:
        return "Its address and details were removed under the retention schedule; there is nothing left to re-send."
    if delivery.message_code == CODE_MESSAGE and delivery.recipient_kind == "person":
        return "A one-time code is never sent twice; the person asks for a new one."
    if not delivery.address and delivery.channel == "email":
        return ("The address was erased (a resident's address is kept 7 days); ask the owning service to request "
                "the message again.")
    return None


def already_resent(delivery: Delivery) -> bool:
    """Queued again by an administrator and not dead since: a second press of Re-send (or another
    administrator's, from a page shown before) finds it so, which is what it asked for, not an error."""
    return delivery.resent_at is not None and delivery.status in ("pending", "retrying", "sent")


# The audit type of a delivery (a resident's is part of their record): reads, changes and refused attempts
# (@person_record on every view naming one delivery) all use it, so one query finds everything about it.
RECORD_TYPE = "person_message"
SECRETS = ("verification_code", "status_link")  # a resident's secrets: never shown, even to administrators


def shown(delivery: Delivery, with_attempts: bool = False, removed_note: str = "Removed") -> dict[str, Any]:
    """A delivery for an administrator: a resident's address is masked; one the retention schedule removed
    says so (`removed`, e.g. "Removed after 30 days")."""
    fields = {c.key: getattr(delivery, c.key) for c in Delivery.__table__.columns if c.key not in SECRETS}
    if delivery.recipient_kind == "person":
        fields["address"] = mask(delivery.address)
    fields["removed"] = removed_note if delivery.redacted_at is not None else None
    if with_attempts:
        fields["attempt_log"] = list(delivery.attempt_log)
    return fields


def mask(address: str | None) -> str | None:
    if not address or "@" not in address:
        return None if not address else "***"
    local, domain = address.split("@", 1)
    return f"{local[:1]}***@{domain}"


def audit_people(audit: AuditTrail, session: Session, rows: list[Delivery], action: str) -> None:
    """A resident's delivery is part of their record: audit every look at one."""
    for row in rows:
        if row.recipient_kind == "person":
            audit.record(session, action=action, resource_type=RECORD_TYPE, resource_id=str(row.id),
                         person_id=row.recipient_id, purpose="delivery administration")
