"""Events every service's pages share: "Sign me out on every computer".

A user who signs out everywhere at one service expects it to end their page sessions at every
service. That service ends its own sessions and announces `<service>.user_sessions.ended` in the
same transaction (worklink.web.sessions); each service that handles it ends the open sessions of
that user which began before `ended_at`. The user is named by `user_reference`, the hex
HMAC-SHA256 of their login id under the platform-wide key (worklink.pseudonyms.clinician_reference):
a login id may be an e-mail address and never rides on a broadcast event.

One schema, one event type and topic per announcing service (`<service>.user-sessions`, keyed by
`user_key`, the user reference's first half as a UUID, as every partition key is an id): topics stay
named for their owner, and the Kafka ACL plan lets a service announce only its own users' sign-outs.
"""

from __future__ import annotations

import uuid

from marshmallow import Schema, fields, validate

from worklink.events.catalogue import EventType

# The services whose pages announce a sign-out everywhere (each lists the type in its PUBLISHES).
ANNOUNCERS = ("directory", "adjustments", "referrals", "notifications")
REFERENCE = validate.Regexp(r"^[0-9a-f]{64}$")


class UserSessionsEndedV1(Schema):
    """A user signed out on every computer: end their page sessions that began before `ended_at`."""

    user_reference = fields.String(required=True, validate=REFERENCE,
                                   metadata={"description": "worklink.pseudonyms.clinician_reference of the "
                                                            "user's login id (64 hex digits), never the id"})
    ended_at = fields.DateTime(required=True, metadata={"description": "when the user signed out everywhere"})
    # Partition keys are ids (UUIDs, in one canonical form): the user's, made from the reference.
    user_key = fields.UUID(required=True, metadata={"description": "the first 32 hex digits of user_reference "
                                                                   "as a UUID: the partition key"})


def user_key(reference: str) -> uuid.UUID:
    """The partition key of a user's announcements: one user's stay on one partition, in order."""
    return uuid.UUID(hex=reference[:32])


def user_sessions_ended(service: str) -> str:
    """The event type by which `service` announces a sign-out everywhere."""
    return f"{service}.user_sessions.ended"


SESSION_EVENT_TYPES = tuple(user_sessions_ended(service) for service in ANNOUNCERS)

EVENTS: list[EventType] = [
    EventType(user_sessions_ended(service), 1, UserSessionsEndedV1, f"{service}.user-sessions", "user_key",
              f"A user signed out on every computer at {service}: every service ends that user's page sessions "
              "that began before then. The user is a pseudonymous reference (keyed hash of the login id).")
    for service in ANNOUNCERS
]
