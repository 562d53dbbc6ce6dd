"""Events addressed to the notifications service.

`notifications.person_message.requested` is how an owning service (referrals,
adjustments) asks for a resident to be told something. Only that service knows
the person and holds their consent, so it publishes the *consented* contact route
and a message code (plus, for `self_referral_code`, the one-time digits the person asked
for) - never names, conditions or free text - on a restricted topic
read only by the notifications service, kept for 3 days (dead letters 7 days).
Notifications renders the message from its own plain-language template for the
code and erases the address once the message has been sent or dead-lettered.
`notifications.person_messages.revoked` (same topic and key, ids only) tells it the person
withdrew that consent: what is not yet sent is stopped and its address erased. Two codes carry
a secret the person asked for or needs: `self_referral_code` its digits (required), and
`referral_received` may carry the path of the person's private status page (never shown to
staff, erased with the address). A referral's messages name the directory service it is with by id
(`service_id`), which the email links to its public page.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from worklink.events.catalogue import EventType
from worklink.events.contracts.common import code


class PersonMessageRequestedV1(Schema):
    """Restricted: contact one resident, by the route they consented to, with a coded message."""

    class ContactRoute(Schema):
        channel = fields.String(required=True, validate=validate.OneOf(["email"]))
        address = fields.Email(required=True)

    message_id = fields.UUID(required=True, metadata={"description": "the publisher's id for this message; "
                                                                     "a repeat with the same id is sent once"})
    person_id = fields.UUID(required=True, metadata={"description": "the publisher's pseudonymous person id"})
    consent_id = fields.UUID(required=True, metadata={"description": "the consent that allows this contact"})
    message_code = code(required=True, metadata={"description": "which plain-language message to send"})
    contact = fields.Nested(ContactRoute, required=True)
    referral_id = fields.UUID(allow_none=True)
    requested_at = fields.DateTime(required=True)
    # Added (optional, so v1 readers are unaffected): the one-time code a resident asked for to
    # prove the contact route is theirs (message code `self_referral_code`). Digits only.
    verification_code = fields.String(validate=validate.Regexp(r"^[0-9]{4,8}$"), load_default=None,
                                      metadata={"description": "only with message_code self_referral_code"})
    # Added (optional): the path of the person's private status page on the owning service's site
    # (only with the first news of a referral: message code `referral_received`, or `referral_being_matched`
    # when it is held; or `status_link_renewed`, a new link the person asked for): a secret, sent only to the person.
    status_link = fields.String(validate=validate.Regexp(r"^/my-referral/[A-Za-z0-9_-]{16,128}$"), load_default=None,
                                metadata={"description": "only with message_code referral_received, "
                                                         "referral_being_matched or status_link_renewed"})
    # Added (optional): the directory service the referral is with; the message links its public page
    # (how to reach it). An id, never the service's name.
    service_id = fields.UUID(allow_none=True, load_default=None,
                             metadata={"description": "the directory service the referral is with, if any"})


class PersonMessagesRevokedV1(Schema):
    """Restricted: the person withdrew the consent their messages were sent under - stop them."""

    consent_id = fields.UUID(required=True, metadata={"description": "the consent withdrawn: every message "
                                                                     "requested under it is stopped"})
    person_id = fields.UUID(required=True, metadata={"description": "the publisher's pseudonymous person id "
                                                                    "(the key: ordered after their messages)"})
    referral_id = fields.UUID(allow_none=True, load_default=None)
    revoked_at = fields.DateTime(required=True)


EVENTS: list[EventType] = [
    EventType("notifications.person_message.requested", 1, PersonMessageRequestedV1,
              "notifications.person-messages", "person_id",
              "With the resident's consent, their owning service asks for a plain-language update to be sent "
              "to them. Carries only the consented contact route and a message code: restricted topic read "
              "only by the notifications service.",
              restricted=True),
    EventType("notifications.person_messages.revoked", 1, PersonMessagesRevokedV1,
              "notifications.person-messages", "person_id",
              "The resident withdrew the consent their messages were requested under: notifications stops every "
              "one not yet sent (pending, retrying, dead or in a digest), erases its address and never sends one "
              "under that consent again. Ids only; same topic and key as the messages, so it is read after them.",
              restricted=True),
]
