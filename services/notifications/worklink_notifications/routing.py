"""Turning one event into deliveries: the routing rules applied to the event's ids.

Runs inside the consumer's transaction (with the processed-events insert), so an
event's deliveries are created exactly once. Free of Flask.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from worklink.db import utcnow
from worklink_notifications.messages import CODE_MESSAGE, LINK_MESSAGES, PERSON_MESSAGES, code_for
from worklink_notifications.models import (Delivery, RevokedConsent, OrganisationContact, RoutingRule, ServiceIntake,
                                           ServiceOwner, UserChannelSettings, WebhookSubscriber)
from worklink_notifications.utc import as_utc

ALLIANCE = "alliance"  # the alliance's own inbox (alliance_admin) and contacts

# audience code -> how to find it in an event's data
AUDIENCES = {
    "referrer_org": "the organisation that made the referral (closed-loop feedback)",
    "assigned_org": "the adviser organisation the referral is with (its team)",
    "assigned_org_lead": "the adviser organisation's lead",
    "service_owner": "the organisation that owns the directory listing",
    "alliance": "the alliance (alliance_admin inbox and alliance contacts)",
    "clinician": "the clinician named by the event (their own inbox and email settings)",
    "practice": "the clinician's practice (organisation)",
}

# Facts copied from an event into a delivery: ids and codes that help the reader
# find the record. Never outcome or health codes, which stay in the owning service.
FACT_FIELDS = ("referral_id", "service_id", "organization_id", "suggestion_id", "request_id", "practice_id",
               "response_id", "status",
               "reason", "clock", "due_at", "changed", "superseded_by_id")


@dataclass(frozen=True)
class Recipient:
    kind: str
    id: str
    channel: str
    address: str | None = None
    frequency: str = "immediate"
    # A member hearing their organisation's team mail: which organisation's (kept in the delivery's facts as
    # `team`), so mail still queued when they sign in with another one is not sent (delivery.current_address).
    team: str | None = None


def route_event(session: Session, event) -> int:
    """The consumer handler for every routed event type; returns deliveries created."""
    data = event.data
    if event.type.startswith("directory.service."):
        remember_service_owner(session, data)
    if event.type == CAPACITY_CHANGED and not intake_changed(session, data):
        return 0
    rules = enabled_rules(session, event.type)
    facts = facts_of(data)
    occurred = occurred_at(data)
    created = 0
    for rule in rules:
        for recipient in recipients_for(session, rule, data, event.type):
            created += add_delivery(session, event_id=event.id, event_source=getattr(event, "source", ""),
                                    event_type=event.type, recipient=recipient,
                                    message_code=code_for(rule.message_code, data),
                                    facts=facts, occurred_at=occurred, check_existing=False)
    return created


def enabled_rules(session: Session, event_type: str) -> list[RoutingRule]:
    """The type's rules, read once per transaction (a batch of events shares one session)."""
    cache = session.info.setdefault("routing_rules", {})
    if event_type not in cache and not session.info.get("routing_rules_complete"):
        cache[event_type] = session.scalars(sa.select(RoutingRule).where(
            RoutingRule.event_type == event_type, RoutingRule.enabled.is_(True))).all()
    return cache.get(event_type, [])


def load_snapshot(session: Session) -> tuple[dict[str, list[RoutingRule]], "AddressBook"]:
    """Every enabled rule and the address book, for a consumer to reuse across batches briefly."""
    rules: dict[str, list[RoutingRule]] = {}
    for rule in session.scalars(sa.select(RoutingRule).where(RoutingRule.enabled.is_(True))):
        rules.setdefault(rule.event_type, []).append(rule)
    return rules, address_book(session)


def use_snapshot(session: Session, snapshot: tuple[dict[str, list[RoutingRule]], "AddressBook"]) -> None:
    rules, book = snapshot
    session.info.update(routing_rules=rules, routing_rules_complete=True, address_book=book)


def remember_service_owner(session: Session, data: dict[str, Any]) -> None:
    owner = session.get(ServiceOwner, data["service_id"])
    if owner is None:
        session.add(ServiceOwner(service_id=data["service_id"], organisation_id=data["organization_id"]))
    else:
        owner.organisation_id, owner.updated_at = data["organization_id"], utcnow()


CAPACITY_CHANGED = "referrals.capacity.changed"


def intake_changed(session: Session, data: dict[str, Any]) -> bool:
    """Whether this capacity summary says the service stopped or started taking new referrals since the last one
    heard (kept in ServiceIntake). Its counts move with every referral: no news to its owner. The first summary
    heard of a service is where it starts; an older one than that heard (a redelivery) changes nothing."""
    accepting, recorded = data["accepting_referrals"], as_utc(data["recorded_at"])
    intake = session.get(ServiceIntake, data["service_id"], with_for_update=True)
    if intake is None:
        session.add(ServiceIntake(service_id=data["service_id"], accepting_referrals=accepting, recorded_at=recorded))
        return False
    if as_utc(intake.recorded_at) > recorded:
        return False
    flipped = intake.accepting_referrals != accepting
    intake.accepting_referrals, intake.recorded_at = accepting, recorded
    return flipped


def recipients_for(session: Session, rule: RoutingRule, data: dict[str, Any], event_type: str) -> list[Recipient]:
    channels = rule.channel_list
    audience = rule.audience
    if audience == "clinician":
        user = data.get("clinician_id")
        return user_recipients(session, str(user), channels) if user else []
    if audience == "alliance":
        return organisation_recipients(session, ALLIANCE, "team", channels, event_type, kind="alliance")
    organisation = audience_organisation(session, audience, data)
    if organisation is None:
        return []
    purpose = "lead" if audience.endswith("_lead") else "team"
    return organisation_recipients(session, organisation, purpose, channels, event_type)


def audience_organisation(session: Session, audience: str, data: dict[str, Any]) -> str | None:
    if audience == "referrer_org":
        found = data.get("referrer_org_id")
    elif audience in ("assigned_org", "assigned_org_lead"):
        found = data.get("assigned_org_id") or owner_of(session, data.get("service_id"))
    elif audience == "service_owner":
        found = data.get("organization_id") or owner_of(session, data.get("service_id"))
    elif audience == "practice":
        found = data.get("practice_id")
    else:
        found = None
    return str(found) if found else None


def owner_of(session: Session, service_id: uuid.UUID | None) -> uuid.UUID | None:
    owner = session.get(ServiceOwner, service_id) if service_id else None
    return owner.organisation_id if owner else None


def organisation_recipients(session: Session, organisation: str, purpose: str, channels: Iterable[str],
                            event_type: str, kind: str = "organisation") -> list[Recipient]:
    found: list[Recipient] = []
    if "inbox" in channels:
        found.append(Recipient(kind, organisation, "inbox"))
    addresses = address_book(session)
    if "email" in channels:
        found += [Recipient("contact", str(c.id), "email", c.email, c.frequency)
                  for c in addresses.contacts.get(organisation, ()) if c.purpose == purpose]
        if purpose == "team":  # members who chose email hear what their team hears
            found += [Recipient("user", u.user_id, "email", u.email, u.frequency, team=organisation)
                      for u in addresses.members.get(organisation, ())]
    if "webhook" in channels:
        found += [Recipient("subscriber", str(s.id), "webhook", s.url)
                  for s in addresses.subscribers.get(organisation, ()) if s.wants(event_type)]
    return found


@dataclass
class AddressBook:
    contacts: dict[str, list[OrganisationContact]]
    subscribers: dict[str, list[WebhookSubscriber]]
    members: dict[str, list[UserChannelSettings]]  # users who turned email on, by organisation


def address_book(session: Session) -> AddressBook:
    """Organisations' contacts, active subscribers and email-receiving members, read once per transaction.

    These are short lists (a few per organisation), so reading them whole
    once beats two queries per event when a batch of events is routed together.
    """
    book = session.info.get("address_book")
    if book is None:
        book = AddressBook({}, {}, {})
        for contact in session.scalars(sa.select(OrganisationContact)):
            book.contacts.setdefault(contact.organisation_id, []).append(contact)
        for subscriber in session.scalars(sa.select(WebhookSubscriber).where(WebhookSubscriber.active.is_(True))):
            book.subscribers.setdefault(subscriber.organisation_id, []).append(subscriber)
        for member in session.scalars(sa.select(UserChannelSettings).where(
                UserChannelSettings.email_enabled.is_(True), UserChannelSettings.email.is_not(None),
                UserChannelSettings.organisation_id.is_not(None))):
            book.members.setdefault(member.organisation_id, []).append(member)
        session.info["address_book"] = book
    return book


def user_recipients(session: Session, user_id: str, channels: Iterable[str]) -> list[Recipient]:
    """A user named by their id or by their clinician reference (worklink.pseudonyms).

    A reference whose user has saved settings is addressed to that user's id, like their
    other deliveries (one digest a day); without settings it stays the reference, which
    the user's inbox also reads (inbox.owner_for)."""
    settings = session.get(UserChannelSettings, user_id) or session.scalar(
        sa.select(UserChannelSettings).where(UserChannelSettings.clinician_reference == user_id))
    if settings is not None:
        user_id = settings.user_id
    found: list[Recipient] = []
    if "inbox" in channels and (settings is None or settings.inbox_enabled):
        found.append(Recipient("user", user_id, "inbox"))
    if "email" in channels and settings is not None and settings.email_enabled and settings.email:
        found.append(Recipient("user", user_id, "email", settings.email, settings.frequency))
    return found


def add_delivery(session: Session, *, event_id: str, event_type: str, recipient: Recipient, message_code: str,
                 facts: dict[str, Any], occurred_at: datetime | None, check_existing: bool = True,
                 verification_code: str | None = None, status_link: str | None = None,
                 event_source: str = "") -> int:
    """Queue a delivery unless (event source and id, recipient, channel) already has one; returns 1 if queued.

    Rows are queued on the session and inserted together just before it commits (one
    multi-row INSERT per transaction). `check_existing=False` is for event ids that are
    new by construction (the consumer recorded them as unprocessed in this transaction);
    the unique key still guards them.
    """
    key = (event_id, event_source, recipient.kind, recipient.id, recipient.channel)
    queued = pending_deliveries(session)
    if key in queued:
        return 0
    if check_existing and session.scalar(sa.select(Delivery.id).where(
            Delivery.event_id == event_id, Delivery.event_source == event_source,
            Delivery.recipient_kind == recipient.kind, Delivery.recipient_id == recipient.id,
            Delivery.channel == recipient.channel)):
        return 0
    queued[key] = dict(id=uuid.uuid4(), event_id=event_id, event_source=event_source, event_type=event_type,
                       recipient_kind=recipient.kind,
                       recipient_id=recipient.id, channel=recipient.channel, message_code=message_code,
                       facts={**facts, "team": recipient.team} if recipient.team else facts,
                       address=recipient.address, verification_code=verification_code,
                       status_link=status_link,
                       occurred_at=occurred_at,
                       status=initial_status(recipient), next_attempt_at=None, attempts=0, created_at=utcnow())
    return 1


def pending_deliveries(session: Session) -> dict[tuple, dict]:
    queued = session.info.get("pending_deliveries")
    if queued is None:
        queued = session.info["pending_deliveries"] = {}
        if not session.info.get("inserts_pending_deliveries"):
            sa.event.listen(session, "before_commit", _insert_pending)
            sa.event.listen(session, "after_rollback", lambda s: s.info.pop("pending_deliveries", None))
            session.info["inserts_pending_deliveries"] = True
    return queued


def _insert_pending(session: Session) -> None:
    queued = session.info.pop("pending_deliveries", None)
    if queued:
        session.execute(sa.insert(Delivery.__table__), list(queued.values()))
        _remove_superseded_notices(session, queued.values())


# Notices that say only how something stands now: a newer one of the same record makes an older one still unread
# noise (a service that stopped taking referrals and then started again: only "taking referrals again" is true).
SUPERSEDED_BY_NEWER = frozenset({"capacity_changed", "intake_paused", "intake_resumed"})


def _remove_superseded_notices(session: Session, rows: Iterable[dict]) -> None:
    """Keep one unread inbox notice per recipient and service of SUPERSEDED_BY_NEWER codes: the newest (events of
    one service arrive in order, on its partition). A notice already read stays, as the recipient saw it."""
    newest = {(row["recipient_kind"], row["recipient_id"], row["facts"]["service_id"]): row["id"]
              for row in rows if row["channel"] == "inbox" and row["message_code"] in SUPERSEDED_BY_NEWER
              and row["facts"].get("service_id")}
    for (kind, recipient, service), keep in newest.items():
        unread = session.execute(sa.select(Delivery.id, Delivery.facts).where(
            Delivery.channel == "inbox", Delivery.recipient_kind == kind, Delivery.recipient_id == recipient,
            Delivery.read_at.is_(None), Delivery.message_code.in_(SUPERSEDED_BY_NEWER))).all()
        older = [row.id for row in unread if row.id != keep and (row.facts or {}).get("service_id") == service]
        if older:
            session.execute(sa.delete(Delivery).where(Delivery.id.in_(older)))


def initial_status(recipient: Recipient) -> str:
    if recipient.channel == "inbox":
        return "delivered"
    return "digest" if recipient.channel == "email" and recipient.frequency == "daily" else "pending"


def facts_of(data: dict[str, Any]) -> dict[str, Any]:
    return {name: json_value(data[name]) for name in FACT_FIELDS if data.get(name) is not None}


def occurred_at(data: dict[str, Any]) -> datetime | None:
    for name in ("occurred_at", "detected_at", "published_at", "updated_at", "withdrawn_at", "due_since",
                 "recorded_at", "requested_at", "occurred_on"):
        if isinstance(data.get(name), datetime):
            return data[name]
    return None


def json_value(value: Any) -> Any:
    if isinstance(value, (uuid.UUID, datetime, date)):
        return value.isoformat() if not isinstance(value, uuid.UUID) else str(value)
    if isinstance(value, list):
        return [json_value(v) for v in value]
    return value


log = logging.getLogger(__name__)


class UnknownPersonMessage(ValueError):
    pass


class InvalidPersonMessage(UnknownPersonMessage):
    """A code where none belongs, or a code message without its code: refused (dead-lettered)."""


def request_person_message(session: Session, event) -> int:
    """Handler for notifications.person_message.requested: one email to the consented address.

    Keyed by the publisher's message id, so a message re-published under a new event id
    is still sent once.
    """
    data = event.data
    if data["message_code"] not in PERSON_MESSAGES:
        raise UnknownPersonMessage(f"no resident message {data['message_code']!r}")
    code = data.get("verification_code")
    if (data["message_code"] == CODE_MESSAGE) != (code is not None):
        raise InvalidPersonMessage(f"verification_code goes with {CODE_MESSAGE!r} and only with it")
    link = data.get("status_link")
    if link is not None and data["message_code"] not in LINK_MESSAGES:
        raise InvalidPersonMessage(f"status_link goes only with {' or '.join(sorted(LINK_MESSAGES))}")
    if session.get(RevokedConsent, data["consent_id"]) is not None:
        log.info("person message under a withdrawn consent: not sent", extra={"message_id": str(data["message_id"])})
        return 0
    recipient = Recipient("person", str(data["person_id"]), data["contact"]["channel"], data["contact"]["address"])
    facts = {"message_id": str(data["message_id"]), "consent_id": str(data["consent_id"])}
    for name in ("referral_id", "service_id"):  # ids for the audit trail; the email links the service's page
        if data.get(name):
            facts[name] = str(data[name])
    return add_delivery(session, event_id=f"message:{data['message_id']}", event_type=event.type,
                        recipient=recipient, message_code=data["message_code"], facts=facts,
                        occurred_at=data["requested_at"], verification_code=code, status_link=link)


UNSENT = ("pending", "retrying", "dead", "digest")
# A person's message stopped by the withdrawal of its consent: never sent or re-sent, address and secrets erased.
STOPPED = {"status": "revoked", "address": None, "verification_code": None, "status_link": None,
           "next_attempt_at": None, "last_error": "consent withdrawn"}


def revoke_person_messages(session: Session, event) -> int:
    """Handler for notifications.person_messages.revoked: the person withdrew the consent their messages
    were requested under. Every one not yet sent - queued in this batch, pending, retrying (an SMTP
    outage), dead (re-sendable) or waiting for a digest - is stopped (`revoked`, which is never sent or
    re-sent) and its address and secrets erased; a message under that consent arriving later is
    dropped. It travels on the messages' topic and key, so it is read after every one sent before it.
    Returns how many deliveries were stopped."""
    data = event.data
    consent = str(data["consent_id"])
    if session.get(RevokedConsent, data["consent_id"]) is None:
        session.add(RevokedConsent(consent_id=data["consent_id"], person_id=str(data["person_id"]),
                                   referral_id=data.get("referral_id"), revoked_at=data["revoked_at"]))
        session.flush()
    stopped = STOPPED
    revoked = 0
    for queued in pending_deliveries(session).values():  # requested earlier in this same batch
        if queued["recipient_kind"] == "person" and queued["facts"].get("consent_id") == consent:
            queued.update({k: v for k, v in stopped.items() if k in queued})  # one multi-row INSERT: same keys
            revoked += 1
    # By consent alone (consent ids are unique): a person id may have been re-keyed by its owner
    # since the message came. Unsent messages to people are few: they are sent or erased quickly.
    candidates = session.scalars(sa.select(Delivery).where(
        Delivery.recipient_kind == "person", Delivery.status.in_(UNSENT)).with_for_update())
    for delivery in candidates:
        if delivery.facts.get("consent_id") == consent:
            for name, value in stopped.items():
                setattr(delivery, name, value)
            revoked += 1
    log.info("person messages revoked", extra={"consent_id": consent, "stopped": revoked})
    return revoked
