"""Integration events the notifications service publishes and the handlers for those it consumes.

Every broadcast type of the directory, adjustments and referrals services is routed
by one handler, `route_event`, which reads the routing rules (data) for the type:
so a type declared later in the catalogue is consumed as soon as it exists, and
tells whoever an alliance_admin's rule names. Types not in the catalogue when the
consumer starts are skipped and counted by the shared EventConsumer.
"""

from __future__ import annotations

import logging

from worklink.events.contracts import CATALOGUE
from worklink.events.contracts.platform import SESSION_EVENT_TYPES
from worklink.messaging.consumer import Handler, PermanentError
from worklink.web.sessions import ending_sessions_handler
from worklink_notifications import routing
from worklink_notifications.models import PLATFORM

log = logging.getLogger(__name__)

PUBLISHES: tuple[str, ...] = ("notifications.user_sessions.ended",)  # a sign-out everywhere (worklink.web.sessions)

ROUTED_PREFIXES = ("directory.", "adjustments.", "referrals.")
PERSON_MESSAGE = "notifications.person_message.requested"
PERSON_MESSAGES_REVOKED = "notifications.person_messages.revoked"


def on_event(session, event) -> None:
    routing.route_event(session, event)


def from_its_own_topic(handler: Handler) -> Handler:
    """A resident's message, or the withdrawal of its consent, is believed only from its restricted topic, which
    only the services holding people's consent may write (Kafka ACLs, worklink.messaging.acls). The same type on
    a broadcast topic we read - which its publisher, or the operator re-driving dead letters, may write - would
    e-mail anyone, or stop a resident's messages: it is ignored, logged without its data, and never dead-lettered
    (that would copy a resident's address onto a broadcast dead-letter topic)."""
    def handle(session, event):
        if event.topic != event.entry.topic:
            log.warning("restricted event on a topic not its own: ignored", extra={
                "event_type": event.type, "topic": event.topic, "event_id": event.id})
            return 0
        return handler(session, event)

    return handle


def on_person_message(session, event) -> None:
    try:
        routing.request_person_message(session, event)
    except routing.UnknownPersonMessage as exc:
        raise PermanentError(str(exc)) from exc


def routed_types(catalogue=CATALOGUE) -> list[str]:
    """Broadcast types of the other services (restricted hand-overs are not ours to read; a user's
    sign-out everywhere is about page sessions, nothing anyone is told of)."""
    return sorted({e.type for e in catalogue if e.type.startswith(ROUTED_PREFIXES) and not e.restricted
                   and e.type not in SESSION_EVENT_TYPES})


HANDLERS: dict[str, Handler] = {**{t: on_event for t in routed_types()},
                                 PERSON_MESSAGE: from_its_own_topic(on_person_message),
                                 PERSON_MESSAGES_REVOKED: from_its_own_topic(routing.revoke_person_messages),
                                 # a user signed out on every computer at a service: end their sessions here
                                 **{t: ending_sessions_handler(PLATFORM.web_sessions, "notifications")
                                    for t in SESSION_EVENT_TYPES}}


def _consumer_class():
    from worklink_notifications.consumer import BatchingConsumer
    return BatchingConsumer


# `worklink consume -s notifications` runs this subclass: one transaction per poll (see consumer.py).
CONSUMER_CLASS = _consumer_class()
