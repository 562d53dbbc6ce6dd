"""Request and response schemas (they also generate the OpenAPI document)."""

from __future__ import annotations

from urllib.parse import urlsplit

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from worklink_notifications.events import routed_types
from worklink_notifications.models import CHANNELS, FREQUENCIES, STATUSES
from worklink_notifications.routing import AUDIENCES

CODE = validate.Regexp(r"^[a-z0-9][a-z0-9_.:-]{0,63}$", error="Use a lower-case code (letters, digits, _ . : -).")
EVENT_TYPE = validate.Regexp(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$", error="Use an event type such as referrals.referral.accepted.")
# A rule or a subscription for a type nobody publishes (a typo) would silently tell no one: only the event
# catalogue's types this service routes are accepted (and listed as the enum in the OpenAPI document).
ROUTED_TYPE = validate.OneOf(routed_types(), error="No service publishes this event type; use one of: {choices}.")
# Paging deeper than this is refused (422 naming /offset) rather than overflowing the database's integers.
OFFSET = validate.Range(0, 100_000)


# --- inbox ---------------------------------------------------------------------------

class InboxQuery(Schema):
    scope = fields.String(load_default="user", validate=validate.OneOf(["user", "organisation", "alliance"]),
                          metadata={"description": "your own inbox, your organisation's, or the alliance's"})
    unread = fields.Boolean(load_default=False, metadata={"description": "only unread items"})
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    offset = fields.Integer(load_default=0, validate=OFFSET)


class InboxFacts(Schema):
    """What an inbox item keeps of its event to find the record (routing.FACT_FIELDS: ids and codes, never an outcome
    or a health code), or of a failing webhook subscriber; each only when its event carried it."""

    referral_id = fields.UUID(metadata={"description": "the referral (referrals events, adjustments referral "
                                                       "answers)"})
    service_id = fields.UUID(metadata={"description": "the directory listing or adviser service"})
    organization_id = fields.UUID(metadata={"description": "the organisation owning the listing (directory events)"})
    suggestion_id = fields.UUID(metadata={"description": "the adjustment suggestion"})
    request_id = fields.UUID(metadata={"description": "the adjustments referral request"})
    practice_id = fields.UUID(metadata={"description": "the clinician's practice"})
    response_id = fields.UUID(metadata={"description": "the employer's answer to a suggestion"})
    status = fields.String(metadata={"description": "the referral's status code when it happened (accepted, ...)"})
    reason = fields.String(metadata={"description": "the reason code of the event (a rejection's, a withdrawal's)"})
    clock = fields.String(metadata={"description": "the target missed: acknowledge, first_contact_attempt or "
                                                  "first_meeting"})
    due_at = fields.String(metadata={"format": "date-time", "description": "when the missed target was due"})
    changed = fields.List(fields.String(), metadata={"description": "what changed in a listing (codes)"})
    superseded_by_id = fields.UUID(metadata={"description": "suggestion_replaced: the suggestion that replaced it"})
    subscriber_id = fields.UUID(metadata={"description": "webhook_failing: the webhook subscriber that fails"})
    failing_since = fields.String(metadata={"format": "date-time",
                                            "description": "webhook_failing: since when its deliveries fail"})


class InboxItem(Schema):
    id = fields.UUID()
    event_type = fields.String()
    message_code = fields.String()
    title = fields.String()
    text = fields.String()
    details = fields.List(fields.String(), metadata={
        "description": "what the facts say, in words, as the e-mail and digest say it (empty for most messages): "
                       "which target was missed, when it was due (UK time) and how the referral stood; what "
                       "changed in a listing; since when webhooks fail; the whole id of an unanswered request"})
    facts = fields.Nested(InboxFacts, metadata={
        "description": "the ids and codes behind the message, for a program to find the record; `details` says "
                       "them in words", "example": {"referral_id": "2b0b1d4e-8f31-4b8e-9d7a-5c2f6a1e0c11",
                                                     "clock": "first_contact_attempt", "status": "accepted",
                                                     "due_at": "2026-07-01T16:00:00+00:00"}})
    occurred_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)


class InboxPage(Schema):
    scope = fields.String()
    items = fields.List(fields.Nested(InboxItem))
    unread = fields.Integer()
    total = fields.Integer()
    as_of = fields.AwareDateTime(metadata={
        "description": "when this list was read: send it as `up_to` to POST /inbox/read to mark read only what "
                       "had arrived by then"})


class UnreadCounts(Schema):
    user = fields.Integer()
    organisation = fields.Integer(allow_none=True)
    alliance = fields.Integer(allow_none=True)


class MarkAllRead(Schema):
    scope = fields.String(load_default="user", validate=validate.OneOf(["user", "organisation", "alliance"]))
    up_to = fields.AwareDateTime(load_default=None, metadata={
        "description": "mark only items that had arrived by this moment (the inbox list's `as_of`), so one "
                       "arriving after you looked stays unread; left out, every unread item"})


class MarkedRead(Schema):
    marked = fields.Integer()


# --- addresses and preferences --------------------------------------------------------

class ChannelSettingsIn(Schema):
    email = fields.Email(allow_none=True, load_default=None)
    inbox_enabled = fields.Boolean(load_default=True)
    email_enabled = fields.Boolean(load_default=False)
    frequency = fields.String(load_default="immediate", validate=validate.OneOf(FREQUENCIES),
                              metadata={"description": "email each message now, or one daily digest"})


class ChannelSettingsOut(ChannelSettingsIn):
    user_id = fields.String()
    organisation_id = fields.String(allow_none=True)
    updated_at = fields.DateTime()


class ContactIn(Schema):
    email = fields.Email(required=True)
    purpose = fields.String(load_default="team", validate=validate.OneOf(["team", "lead"]))
    frequency = fields.String(load_default="immediate", validate=validate.OneOf(FREQUENCIES))


VERSION = validate.Range(1, 2**31 - 1)


def _read_version(**kwargs) -> fields.Integer:
    return fields.Integer(validate=VERSION, **kwargs)


class ContactChange(ContactIn):
    version = _read_version(required=True, metadata={
        "description": "the contact's `version` as you read it: if someone else changed it since, nothing is "
                       "changed (409 with its `current_version`)"})


class ContactOut(ContactIn):
    id = fields.UUID()
    organisation_id = fields.String()
    created_at = fields.DateTime()
    version = fields.Integer(metadata={"description": "moved by every change; send it back to change the contact"})


# --- routing rules ---------------------------------------------------------------------

def _channels(value: list[str]) -> None:
    if not value:
        raise ValidationError("Name at least one channel.")


class RoutingRuleIn(Schema):
    event_type = fields.String(required=True, validate=ROUTED_TYPE)
    audience = fields.String(required=True, validate=validate.OneOf(sorted(AUDIENCES)))
    channels = fields.List(fields.String(validate=validate.OneOf(CHANNELS)), required=True, validate=_channels)
    message_code = fields.String(required=True, validate=CODE)
    enabled = fields.Boolean(load_default=True)


class RoutingRulePatch(Schema):
    channels = fields.List(fields.String(validate=validate.OneOf(CHANNELS)), validate=_channels)
    message_code = fields.String(validate=CODE)
    enabled = fields.Boolean()


class RoutingRuleOut(Schema):
    id = fields.UUID()
    event_type = fields.String()
    audience = fields.String()
    channels = fields.List(fields.String(), attribute="channel_list")
    message_code = fields.String()
    enabled = fields.Boolean()
    updated_by = fields.String(allow_none=True)
    updated_at = fields.DateTime()


class RoutingRuleQuery(Schema):
    event_type = fields.String(validate=EVENT_TYPE)


# --- deliveries --------------------------------------------------------------------------

class DeliveryQuery(Schema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    event_id = fields.String(validate=validate.Length(1, 255))
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))
    offset = fields.Integer(load_default=0, validate=OFFSET)


class AttemptOut(Schema):
    attempted_at = fields.DateTime()
    outcome = fields.String()
    detail = fields.String(allow_none=True)
    duration_ms = fields.Integer(allow_none=True)


class DeliveryOut(Schema):
    id = fields.UUID()
    event_id = fields.String()
    event_type = fields.String()
    recipient_kind = fields.String()
    recipient_id = fields.String()
    channel = fields.String()
    message_code = fields.String()
    address = fields.String(allow_none=True, metadata={"description": "masked for a resident"})
    status = fields.String()
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)
    redacted_at = fields.DateTime(allow_none=True, metadata={
        "description": "when the retention schedule removed its address and cut its errors to codes"})
    removed = fields.String(allow_none=True, metadata={
        "description": "what was removed and when, for people to read (\"Removed after 30 days\"); null if "
                       "nothing was"})


class DeliveryDetail(DeliveryOut):
    attempt_log = fields.List(fields.Nested(AttemptOut), data_key="attempt_history")


class DeliveryPage(Schema):
    items = fields.List(fields.Nested(DeliveryOut))
    total = fields.Integer()


# --- webhook subscribers ---------------------------------------------------------------------

def _no_credentials(value: str) -> None:
    """A URL's user:password would be shown back in every listing and on /admin, and sent in clear over http."""
    if "@" in value.split("//", 1)[-1].split("/", 1)[0]:
        raise ValidationError("Put no credentials in the URL; requests are signed instead.")


def _a_port(value: str) -> None:
    """The URL field takes any digits after the colon: 99999 failed every try (ValueError), and 0 every connection."""
    try:
        port = urlsplit(value).port
    except ValueError:
        port = 0
    if port == 0:
        raise ValidationError("Give a port from 1 to 65535, or none for the scheme's own.")


def _webhook_url(**kwargs) -> fields.Url:
    """A receiver's URL, the same rules on registration and on every change."""
    return fields.Url(schemes={"http", "https"}, validate=[validate.Length(max=2048), _no_credentials, _a_port],
                      **kwargs)


class SubscriberIn(Schema):
    organisation_id = fields.String(validate=validate.Length(1, 64),
                                    metadata={"description": "alliance_admin only; defaults to your organisation"})
    url = _webhook_url(required=True)
    event_types = fields.List(fields.String(validate=ROUTED_TYPE), load_default=list,
                              metadata={"description": "empty: every event routed to the organisation"})


class SubscriberPatch(Schema):
    url = _webhook_url()
    event_types = fields.List(fields.String(validate=ROUTED_TYPE))
    active = fields.Boolean()
    version = _read_version(required=True, metadata={
        "description": "the subscriber's `version` as you read it: if someone else changed it or rotated its "
                       "secret since, nothing is changed (409 with its `current_version`)"})


class SubscriberOut(Schema):
    id = fields.UUID()
    organisation_id = fields.String()
    url = fields.String()
    event_types = fields.Method("_types")
    active = fields.Boolean()
    created_at = fields.DateTime()
    previous_secret_expires_at = fields.DateTime(allow_none=True)
    consecutive_failures = fields.Integer(metadata={"description": "tries that failed in a row (0: working)"})
    failing_since = fields.DateTime(allow_none=True, metadata={
        "description": "when the current run of failures began; the organisation's inbox is told once it has "
                       "lasted NOTIFICATIONS_WEBHOOK_ALERT_HOURS"})
    last_error = fields.String(allow_none=True, metadata={"description": "the last failed try's error"})
    version = fields.Integer(metadata={"description": "moved by every change and rotation (not by deliveries); "
                                                      "send it back to change the subscriber"})

    def _types(self, subscriber) -> list[str]:
        return [t for t in subscriber.event_types.split(",") if t]


class SubscriberWithSecret(SubscriberOut):
    secret = fields.String(metadata={"description": "shown once: keep it to verify webhook-signature"})


class RotateIn(Schema):
    grace_hours = fields.Integer(load_default=24, validate=validate.Range(0, 168),
                                 metadata={"description": "how long the old secret also signs"})
    drop_previous = fields.Boolean(load_default=False, metadata={
        "description": "rotate again while the last rotation's old secret still signs, dropping that one "
                       "at once (after a leak); without it such a rotation is refused (409)"})
    keep_previous = fields.Boolean(load_default=False, metadata={
        "description": "rotate again while the last rotation's old secret still signs, replacing the newest secret "
                       "instead (it was never copied: the receiver still uses the old one, which signs on until it "
                       "expires); without a secret still signing, an ordinary rotation"})
    version = _read_version(metadata={
        "description": "the subscriber's `version` as you read it: a rotation or change made since (this request "
                       "sent twice, say) makes this one a 409 instead of a second rotation, which with "
                       "`drop_previous` would stop the secret the receiver still uses"})

    @validates_schema
    def _one_secret_kept(self, data, **kwargs):
        if data.get("drop_previous") and data.get("keep_previous"):
            raise ValidationError("Drop the previous secret or keep it, not both.", "keep_previous")
