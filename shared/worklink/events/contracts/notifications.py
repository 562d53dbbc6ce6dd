"""Events the notifications service publishes."""

from __future__ import annotations

from worklink.events.catalogue import EventType

EVENTS: list[EventType] = []
