"""The notifications service's database: its own tables plus the platform tables.

Who to tell is data: `RoutingRule` rows (reviewable by alliance_admin) name, per
event type, an audience and the channels to use. Addresses are learnt, never
carried by broadcast events: organisations' contacts and webhook subscribers and
users' own channel settings are registered through this service's API, and a
service's owning organisation is learnt from `directory.*` events.

A `Delivery` is one message to one recipient on one channel for one event, unique
by (event id, recipient, channel): that key is what makes redelivered events
harmless. Inbox deliveries are the inbox; email and webhook deliveries are sent by
the delivery worker, each try recorded as a `DeliveryAttempt`.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from worklink.db import NAMING_CONVENTION, BigIntId, platform_tables, utcnow

CHANNELS = ("inbox", "email", "webhook")
RECIPIENT_KINDS = ("user", "organisation", "alliance", "contact", "subscriber", "person")
# pending -> sent | retrying -> ... -> dead (re-send makes it pending again);
# digest: waiting for the recipient's daily digest; delivered: an inbox row.
# revoked: a resident's message stopped because they withdrew the consent it was sent under.
# cancelled: an e-mail not sent because, by then, its contact was removed or its user turned e-mail off.
STATUSES = ("delivered", "pending", "retrying", "sent", "dead", "digest", "revoked", "cancelled")
FREQUENCIES = ("immediate", "daily")

Timestamp = sa.DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: Timestamp, dict[str, Any]: sa.JSON}


# outbox, processed_events and audit_log live in this service's own database.
PLATFORM = platform_tables(Base.metadata)


class RoutingRule(Base):
    """Who hears about an event type, on which channels, with which message."""

    __tablename__ = "routing_rule"
    __table_args__ = (sa.UniqueConstraint("event_type", "audience", name="uq_routing_rule_event_type_audience"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    event_type: Mapped[str] = mapped_column(sa.String(128), index=True)
    audience: Mapped[str] = mapped_column(sa.String(32))
    channels: Mapped[str] = mapped_column(sa.String(64))  # comma-separated subset of CHANNELS
    message_code: Mapped[str] = mapped_column(sa.String(64))
    enabled: Mapped[bool] = mapped_column(default=True)
    updated_by: Mapped[str | None] = mapped_column(sa.String(255))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def channel_list(self) -> list[str]:
        return [c for c in self.channels.split(",") if c]


class ServiceOwner(Base):
    """Read model from directory.service.*: which organisation owns a listing."""

    __tablename__ = "service_owner"

    service_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ServiceIntake(Base):
    """Read model from referrals.capacity.changed: whether an adviser service was taking new referrals when last heard.
    A capacity summary is news to the service's owner only when that flips; its counts change with every referral."""

    __tablename__ = "service_intake"

    service_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    accepting_referrals: Mapped[bool]
    recorded_at: Mapped[datetime] = mapped_column(Timestamp)


class OrganisationName(Base):
    """An organisation's name, as the tokens of its staff signed in here carried it (`org_name`; worklink.
    organisation_names): the events name organisations by id only, so this is how the alliance's pages name them.
    Organisations only, never people."""

    __tablename__ = "organisation_names"

    org_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    seen_at: Mapped[datetime] = mapped_column(Timestamp)  # when a token first carried this name


class OrganisationContact(Base):
    """An organisation's email address for a purpose (its team, its lead), registered by its admin."""

    __tablename__ = "organisation_contact"
    __table_args__ = (sa.UniqueConstraint("organisation_id", "purpose", "email",
                                          name="uq_organisation_contact_org_purpose_email"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organisation_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    purpose: Mapped[str] = mapped_column(sa.String(16))  # team | lead
    email: Mapped[str] = mapped_column(sa.String(254))
    frequency: Mapped[str] = mapped_column(sa.String(16), default="immediate")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Moved by every change (where_told_lock.moved): a change made from an older one is refused (optimistic locking).
    version: Mapped[int] = mapped_column(default=1, server_default="1")


class UserChannelSettings(Base):
    """A user's own choices: which channels, and email now or in a daily digest."""

    __tablename__ = "user_channel_settings"

    user_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)  # the token's `sub`
    # worklink.pseudonyms.clinician_reference of user_id: how events that may not carry the
    # login id (adjustments.employer_response.recorded) name this user. Set on every save.
    clinician_reference: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    organisation_id: Mapped[str | None] = mapped_column(sa.String(64))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    inbox_enabled: Mapped[bool] = mapped_column(default=True)
    email_enabled: Mapped[bool] = mapped_column(default=False)
    frequency: Mapped[str] = mapped_column(sa.String(16), default="immediate")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WebhookSubscriber(Base):
    """A partner system receiving signed webhooks for its organisation's events."""

    __tablename__ = "webhook_subscriber"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organisation_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    url: Mapped[str] = mapped_column(sa.String(2048))
    event_types: Mapped[str] = mapped_column(sa.Text, default="")  # comma-separated; empty = all
    # Sealed (webhook_secrets.py: a copy of the database signs nothing); the API shows it in clear once, when made.
    secret: Mapped[str] = mapped_column(sa.String(255))
    # After a rotation the old secret also signs until it expires, so receivers can switch over. Sealed too.
    previous_secret: Mapped[str | None] = mapped_column(sa.String(255))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column()
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Health, kept by the delivery worker: failed tries in a row, since when, the last one's error (a status
    # or a connection error, never a person's data), and when the organisation was told (once a streak).
    consecutive_failures: Mapped[int] = mapped_column(default=0, server_default="0")
    failing_since: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(sa.String(1000))
    failure_reported_at: Mapped[datetime | None] = mapped_column()
    # Moved by an administrator's change or rotation (where_told_lock.moved), not by the worker's health: a change
    # or rotation made from an older one is refused (optimistic locking; a rotation sent twice is not made twice).
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    def wants(self, event_type: str) -> bool:
        return self.active and (not self.event_types or event_type in self.event_types.split(","))


class Digest(Base):
    """One daily digest email per recipient address per day (unique: sent once)."""

    __tablename__ = "digest"
    __table_args__ = (sa.UniqueConstraint("recipient_kind", "recipient_id", "day",
                                          name="uq_digest_recipient_day"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    recipient_kind: Mapped[str] = mapped_column(sa.String(16))
    recipient_id: Mapped[str] = mapped_column(sa.String(255))
    day: Mapped[date] = mapped_column(sa.Date)
    # The address it went to: removed by the retention schedule (retention.py) after the support window.
    address: Mapped[str | None] = mapped_column(sa.String(254))
    items: Mapped[int] = mapped_column()
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    redacted_at: Mapped[datetime | None] = mapped_column()


class Delivery(Base):
    __tablename__ = "delivery"
    __table_args__ = (
        # An event is unique by CloudEvents source and id together: two producers may use the same id.
        sa.UniqueConstraint("event_id", "event_source", "recipient_kind", "recipient_id", "channel",
                            name="uq_delivery_key"),
        # Partial indexes: most rows are inbox rows, which the worker never reads, and the
        # worker's rows never appear in an inbox; each row updates only the index it needs.
        sa.Index("ix_delivery_inbox", "recipient_kind", "recipient_id", "read_at",
                 postgresql_where=sa.text("channel = 'inbox'"), sqlite_where=sa.text("channel = 'inbox'")),
        sa.Index("ix_delivery_due", "next_attempt_at",
                 postgresql_where=sa.text("status IN ('pending', 'retrying')"),
                 sqlite_where=sa.text("status IN ('pending', 'retrying')")),
        sa.Index("ix_delivery_digest", "recipient_kind", "recipient_id",
                 postgresql_where=sa.text("status = 'digest'"), sqlite_where=sa.text("status = 'digest'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    event_id: Mapped[str] = mapped_column(sa.String(255))
    # "" for deliveries the service makes itself (and for rows from before the source was kept)
    event_source: Mapped[str] = mapped_column(sa.String(255), server_default="")
    event_type: Mapped[str] = mapped_column(sa.String(128))
    recipient_kind: Mapped[str] = mapped_column(sa.String(16))
    recipient_id: Mapped[str] = mapped_column(sa.String(255))
    channel: Mapped[str] = mapped_column(sa.String(16))
    message_code: Mapped[str] = mapped_column(sa.String(64))
    # Ids and codes from the event (never a person's details), for links and templates.
    facts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Where to send it: an email address or webhook URL. A person's address is erased
    # once the message has been sent or dead-lettered.
    address: Mapped[str | None] = mapped_column(sa.String(2048))
    # A resident's one-time code (self_referral_code only): erased with the address, never shown.
    verification_code: Mapped[str | None] = mapped_column(sa.String(8))
    # A resident's private status link (referral_status_link only): erased with the address, never shown.
    status_link: Mapped[str | None] = mapped_column(sa.String(160))
    status: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(sa.String(1000))
    occurred_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When an administrator last re-sent it: an outage gives a delivery up that long after it was queued.
    resent_at: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    read_at: Mapped[datetime | None] = mapped_column()
    digest_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("digest.id"))
    # When the retention schedule removed its address, secrets and server replies (retention.py); the row
    # itself (ids, codes, status, times) stays for delivery statistics until it is deleted.
    redacted_at: Mapped[datetime | None] = mapped_column()

    attempt_log: Mapped[list["DeliveryAttempt"]] = relationship(
        back_populates="delivery", order_by="DeliveryAttempt.id", cascade="all, delete-orphan")


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempt"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("delivery.id", ondelete="CASCADE"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    outcome: Mapped[str] = mapped_column(sa.String(16))  # sent | failed | permanent
    detail: Mapped[str | None] = mapped_column(sa.String(1000))
    duration_ms: Mapped[int | None] = mapped_column()

    delivery: Mapped[Delivery] = relationship(back_populates="attempt_log")


class RevokedConsent(Base):
    """A consent the owning service told us was withdrawn: no message under it is ever sent again."""

    __tablename__ = "revoked_consent"

    consent_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    person_id: Mapped[str] = mapped_column(sa.String(255))
    referral_id: Mapped[uuid.UUID | None] = mapped_column()
    revoked_at: Mapped[datetime] = mapped_column()
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChannelPause(Base):
    """A pause every delivery worker honours: our mail relay (our webhook proxy) could not be reached, so no worker
    tries it again before `paused_until` (one row per channel, `mail` or `webhook`; `failures` in a row make the
    pause grow). Shared, so N workers probe a dead relay once per pause, not N times (pause.SharedPause)."""

    __tablename__ = "channel_pause"

    channel: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    paused_until: Mapped[datetime | None] = mapped_column()
    failures: Mapped[int] = mapped_column(default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
