"""JSON structured logging: one object per line, with request and trace ids."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

from worklink.context import correlation_id_var, current_trace, request_id_var

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str | None = None):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if self.service:
            entry["service"] = self.service
        if request_id := request_id_var.get():
            entry["request_id"] = request_id
        if correlation_id := correlation_id_var.get():
            entry["correlation_id"] = correlation_id
        if trace := current_trace():
            entry["trace_id"] = trace.trace_id
        # Anything passed as logger.info(..., extra={...}) becomes a field.
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(service: str | None = None, level: str = "INFO") -> None:
    """Send every logger to stderr as JSON. Idempotent."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # kafka-python is chatty at INFO about every connection attempt.
    logging.getLogger("kafka").setLevel(max(logging.WARNING, root.level))
