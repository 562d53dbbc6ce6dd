"""Per-request / per-event context carried into logs and outgoing events.

Context variables work the same in a web worker thread and in a consumer loop,
so the log formatter and the outbox read one place whatever the entry point.
"""

from __future__ import annotations

import contextlib
import functools
import re
import secrets
from contextvars import ContextVar
from dataclasses import dataclass

request_id_var: ContextVar[str | None] = ContextVar("worklink_request_id", default=None)
correlation_id_var: ContextVar[str | None] = ContextVar("worklink_correlation_id", default=None)
traceparent_var: ContextVar[str | None] = ContextVar("worklink_traceparent", default=None)


@dataclass(frozen=True)
class TraceParent:
    """W3C Trace Context `traceparent` (version 00)."""

    trace_id: str
    parent_id: str
    flags: str = "01"

    @classmethod
    def new(cls) -> "TraceParent":
        return cls(secrets.token_hex(16), secrets.token_hex(8))

    @classmethod
    def parse(cls, value: str | None) -> "TraceParent | None":
        return _parse_traceparent(value) if value else None

    def child(self) -> "TraceParent":
        """Same trace, new span: what an outgoing event carries."""
        return TraceParent(self.trace_id, secrets.token_hex(8), self.flags)

    def __str__(self) -> str:
        return f"00-{self.trace_id}-{self.parent_id}-{self.flags}"


_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


@functools.lru_cache(maxsize=1024)  # every log line and event of a request parses the same value
def _parse_traceparent(value: str) -> TraceParent | None:
    match = _TRACEPARENT.fullmatch(value.strip().lower())
    if match is None:
        return None
    trace_id, parent_id, flags = match.groups()
    if set(trace_id) == {"0"} or set(parent_id) == {"0"}:
        return None
    return TraceParent(trace_id, parent_id, flags)


_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def an_id(value: str | None) -> str | None:
    """`value` if it is an id (a request or correlation id a caller or a record brought: at most 128 letters, digits
    and . _ : -), else None. It rides on every log line and every event published meanwhile: never free text."""
    return value if value and _ID.fullmatch(value) else None


def current_trace() -> TraceParent | None:
    return TraceParent.parse(traceparent_var.get())


@contextlib.contextmanager
def bound(*, request_id: str | None = None, correlation_id: str | None = None,
          traceparent: str | None = None):
    """Bind context for the duration of a block (used by the consumer loop)."""
    tokens = [
        request_id_var.set(request_id),
        correlation_id_var.set(correlation_id),
        traceparent_var.set(traceparent),
    ]
    try:
        yield
    finally:
        traceparent_var.reset(tokens[2])
        correlation_id_var.reset(tokens[1])
        request_id_var.reset(tokens[0])
