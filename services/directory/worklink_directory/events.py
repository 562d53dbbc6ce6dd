"""Integration events the directory service publishes and the handlers for those it consumes.

Event types and their schemas are declared once in `worklink.events.contracts`.
"""

from __future__ import annotations

from worklink.messaging.consumer import Handler

PUBLISHES: tuple[str, ...] = ()

HANDLERS: dict[str, Handler] = {}
