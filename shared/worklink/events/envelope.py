"""CloudEvents 1.0 envelope, structured JSON mode, with its Kafka binding.

The whole event travels in the Kafka value (`content-type:
application/cloudevents+json`). W3C `traceparent` and our correlation id ride in
Kafka headers so they can be read without parsing the body. Consumers also read
binary content mode (attributes in `ce_` headers, the data alone in the value),
which the binding tells apart by the `content-type` header.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type")
# Attributes of CloudEvents type String (and the Partitioning extension's partitionkey).
STRING_ATTRIBUTES = (*REQUIRED_ATTRIBUTES, "dataschema", "subject", "datacontenttype", "time", "partitionkey")
# RFC 3339 date-time: a full date, a full time and an offset (fromisoformat alone takes a bare
# date or a time with no offset, which would give handlers a naive datetime).
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

HEADER_CONTENT_TYPE = "content-type"
BINARY_PREFIX = "ce_"  # binary content mode: one header per attribute
HEADER_TRACEPARENT = "traceparent"
HEADER_CORRELATION_ID = "correlation-id"


class EnvelopeError(ValueError):
    """The bytes are not a CloudEvents 1.0 structured-mode JSON event."""


@dataclass(frozen=True)
class CloudEvent:
    type: str
    source: str
    data: dict[str, Any]
    dataschema: str
    subject: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    datacontenttype: str = "application/json"
    specversion: str = "1.0"
    # CloudEvents Partitioning extension: the Kafka key (the aggregate id), so any CloudEvents
    # Kafka binding's key mapper keys a forwarded copy of the event as we did.
    partitionkey: str | None = None

    def to_dict(self) -> dict[str, Any]:
        body = {
            "specversion": self.specversion,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "datacontenttype": self.datacontenttype,
            "dataschema": self.dataschema,
            "data": self.data,
        }
        if self.subject is not None:
            body["subject"] = self.subject
        if self.partitionkey is not None:
            body["partitionkey"] = self.partitionkey
        return body

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: bytes | str | None) -> "CloudEvent":
        return cls.from_dict(_parse_json(raw, "a CloudEvent"))

    @classmethod
    def from_kafka(cls, value: bytes | None, headers: list[tuple[str, bytes]] | None) -> "CloudEvent":
        """A record in either content mode (Kafka protocol binding 3): structured when its
        content-type is a CloudEvents media type, binary when it is another and the attributes
        are `ce_` headers. No content-type and no `ce_` headers: structured, as our relay sends."""
        content_type = header_value(headers, HEADER_CONTENT_TYPE)
        attributes = {key[3:]: raw for key, raw in headers or () if key.startswith(BINARY_PREFIX)}
        essence = (content_type or "").split(";", 1)[0].strip().lower()
        if essence.startswith("application/cloudevents") or (content_type is None and not attributes):
            if essence not in ("", "application/cloudevents+json"):
                which = "a batch" if "batch" in essence else "an event format this consumer cannot read"
                raise EnvelopeError(f"content-type {content_type[:60]!r} is {which}")
            return cls.from_json(value)
        return cls._from_binary(value, content_type, attributes)

    @classmethod
    def _from_binary(cls, value: bytes | None, content_type: str | None,
                     attributes: dict[str, bytes]) -> "CloudEvent":
        try:
            body: dict[str, Any] = {name: raw.decode("utf-8") for name, raw in attributes.items() if raw is not None}
        except UnicodeDecodeError:
            raise EnvelopeError("a ce_ header is not UTF-8") from None
        if content_type is not None:
            body["datacontenttype"] = content_type
        if not _is_json(body.get("datacontenttype", "application/json")):
            raise EnvelopeError(f"datacontenttype {body['datacontenttype'][:60]!r} is not JSON")
        body["data"] = _parse_json(value, "binary-mode data")
        return cls.from_dict(body)

    @classmethod
    def from_dict(cls, body: Any) -> "CloudEvent":
        if not isinstance(body, dict):
            raise EnvelopeError("a CloudEvent must be a JSON object")
        # JSON format: an attribute whose value is null is absent.
        body = {name: value for name, value in body.items() if value is not None or name == "data"}
        missing = [name for name in REQUIRED_ATTRIBUTES if name not in body or body[name] == ""]
        if missing:
            raise EnvelopeError(f"missing required CloudEvents attributes: {', '.join(missing)}")
        # Strict about the envelope (every consumer relies on it), tolerant about the rest:
        # extension attributes a reader does not know are ignored, as are unknown data fields.
        not_strings = [name for name in STRING_ATTRIBUTES if name in body and not isinstance(body[name], str)]
        if not_strings:
            raise EnvelopeError(f"CloudEvents attributes must be strings: {', '.join(not_strings)}")
        if body["specversion"] != "1.0":
            raise EnvelopeError(f"unsupported specversion {body['specversion']!r}")
        if not _is_json(body.get("datacontenttype", "application/json")):
            raise EnvelopeError(f"datacontenttype {body['datacontenttype']!r} is not JSON")
        if not isinstance(body.get("data"), dict):
            raise EnvelopeError("data must be a JSON object")
        if not body.get("dataschema"):
            raise EnvelopeError("dataschema is required: it names the schema version")
        time = _rfc3339(body["time"]) if "time" in body else datetime.now(timezone.utc)
        return cls(
            type=body["type"],
            source=body["source"],
            id=body["id"],
            data=body["data"],
            dataschema=body["dataschema"],
            subject=body.get("subject"),
            time=time,
            datacontenttype=body.get("datacontenttype", "application/json"),
            partitionkey=body.get("partitionkey"),
        )


def _parse_json(raw: bytes | str | None, what: str) -> Any:
    if raw is None:  # a Kafka tombstone (null value): nothing to parse
        raise EnvelopeError(f"empty record (tombstone): {what} needs a value")
    try:
        return json.loads(raw)
    except RecursionError:  # nesting deeper than the parser's stack, e.g. [[[[...]]]]
        raise EnvelopeError("not valid JSON: nested too deeply") from None
    except (TypeError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise EnvelopeError(f"not valid JSON: {exc}") from exc


def _rfc3339(value: str) -> datetime:
    try:
        if _RFC3339.match(value):
            return datetime.fromisoformat(value.upper())
    except ValueError:  # well-formed but no such moment: month 13, second 60
        pass
    raise EnvelopeError(f"time is not an RFC 3339 timestamp: {value[:40]!r}")


def _is_json(media_type: str) -> bool:
    """application/json or any +json type, parameters (charset) aside."""
    essence = media_type.split(";", 1)[0].strip().lower()
    return essence == "application/json" or essence.endswith("+json")


def kafka_headers(traceparent: str | None, correlation_id: str | None) -> list[tuple[str, bytes]]:
    headers = [(HEADER_CONTENT_TYPE, STRUCTURED_CONTENT_TYPE.encode())]
    if traceparent:
        headers.append((HEADER_TRACEPARENT, traceparent.encode()))
    if correlation_id:
        headers.append((HEADER_CORRELATION_ID, correlation_id.encode()))
    return headers


def header_value(headers: list[tuple[str, bytes]] | None, name: str) -> str | None:
    for key, value in headers or ():
        if key == name and value is not None:
            return value.decode("utf-8", "replace")
    return None
