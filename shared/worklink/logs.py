"""JSON structured logging: one object per line, with request and trace ids."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
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
        # Context stamped at creation (see _stamp_context) and anything passed
        # as logger.info(..., extra={...}) become fields.
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_") and value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = without_personal_details(self.formatException(record.exc_info))
        if isinstance(entry.get("error"), str):
            entry["error"] = without_personal_details(entry["error"])
        return json.dumps(entry, default=str)


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# What may spell an identifier (worklink.events.identifiers decides): digits with spaces, dashes or slashes (NHS,
# CHI, phone numbers, dates), a postcode, a National Insurance number.
_CANDIDATE = re.compile(r"\+?\b[0-9][0-9 ./-]{4,24}[0-9]\b"
                        r"|\b[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}\b"
                        r"|\b[A-Z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]?\b", re.IGNORECASE)


def without_personal_details(text: str) -> str:
    """An exception's text (or an error's) with e-mail addresses and what spells a person's identifier or a date
    masked: the message of an error no code foresaw - a KeyError of an address, a library quoting its input - must
    not carry them into a log line, whatever raised it."""
    from worklink.events.identifiers import personal_identifier

    text = _EMAIL.sub("<email>", text)
    return _CANDIDATE.sub(lambda m: "<redacted>" if personal_identifier(m.group()) else m.group(), text)


_base_factory = logging.getLogRecordFactory()


def _stamp_context(*args, **kwargs) -> logging.LogRecord:
    """Copy request/trace context onto each record when it is created, in the
    thread that logged it, so any handler (files, test capture) sees it."""
    record = _base_factory(*args, **kwargs)
    record.request_id = request_id_var.get()
    record.correlation_id = correlation_id_var.get()
    trace = current_trace()
    record.trace_id = trace.trace_id if trace else None
    return record


logging.setLogRecordFactory(_stamp_context)


class QuietRepeats(logging.Filter):
    """kafka-python repeats itself every half second for as long as something lasts - a topic another
    service's operator has not created yet, a broker down: each of its messages passes once a window,
    not as a flood of lines a service run on its own would write for days. Our own loggers pass untouched."""

    def __init__(self, window_seconds: float = 300.0):
        super().__init__()
        self.window = window_seconds
        self._last: dict[tuple, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("kafka"):
            return True
        key, now = (record.name, record.levelno, record.getMessage()), time.monotonic()
        if now - self._last.get(key, float("-inf")) < self.window:
            return False
        if len(self._last) > 1000:  # messages carrying ids or addresses: keep the memory bounded
            self._last.clear()
        self._last[key] = now
        return True


def configure_logging(service: str | None = None, level: str = "INFO") -> None:
    """Send every logger to stderr as JSON. Idempotent."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(QuietRepeats())
    handler._worklink = True
    # Replace the plain default handler and our own earlier one; keep others (e.g. test capture).
    root.handlers[:] = [h for h in root.handlers
                        if not getattr(h, "_worklink", False) and type(h) is not logging.StreamHandler] + [handler]
    root.setLevel(level.upper())
    # kafka-python is chatty at INFO about every connection attempt.
    logging.getLogger("kafka").setLevel(max(logging.WARNING, root.level))
