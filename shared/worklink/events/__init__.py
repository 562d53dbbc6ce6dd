"""Integration events: the CloudEvents envelope and the catalogue of event types."""

from worklink.events.catalogue import Catalogue, EventSchemaError, EventType, UnknownEventType
from worklink.events.envelope import CloudEvent, EnvelopeError

__all__ = ["Catalogue", "CloudEvent", "EnvelopeError", "EventSchemaError", "EventType", "UnknownEventType"]
