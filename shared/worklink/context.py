"""Per-request / per-event context carried into logs and outgoing events.

Context variables work the same in a web worker thread and in a consumer loop,
so the log formatter and the outbox read one place whatever the entry point.
"""

from __future__ import annotations

import contextlib
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
        if not value:
            return None
        parts = value.strip().lower().split("-")
        if len(parts) != 4 or parts[0] != "00":
            return None
        _, trace_id, parent_id, flags = parts
        if not (_is_hex(trace_id, 32) and _is_hex(parent_id, 16) and _is_hex(flags, 2)):
            return None
        if set(trace_id) == {"0"} or set(parent_id) == {"0"}:
            return None
        return cls(trace_id, parent_id, flags)

    def child(self) -> "TraceParent":
        """Same trace, new span: what an outgoing event carries."""
        return TraceParent(self.trace_id, secrets.token_hex(8), self.flags)

    def __str__(self) -> str:
        return f"00-{self.trace_id}-{self.parent_id}-{self.flags}"


def _is_hex(value: str, length: int) -> bool:
    return len(value) == length and all(c in "0123456789abcdef" for c in value)


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
