"""AsyncAPI 3.0 document generated from the event catalogue and topic declarations.

Data schemas are JSON Schema (apispec's OpenAPI 3.1 output: a nullable field is
`type: [..., "null"]`), which is what AsyncAPI's default schema format reads; OpenAPI 3.0's
`nullable` means nothing there. `asyncapi-3.0.0.schema.json` beside this module is the AsyncAPI
3.0.0 JSON Schema (`schemas/3.0.0-without-$id.json` of the npm package @asyncapi/specs 6.11.1,
Apache-2.0, minified); the tests validate the document against it.
"""

from __future__ import annotations

from typing import Any, Iterable

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from worklink import __version__
from worklink.events.catalogue import Catalogue, EventType
from worklink.events.envelope import STRUCTURED_CONTENT_TYPE
from worklink.messaging.consumer import dlt_topic

KAFKA_BINDING_VERSION = "0.5.0"


def _message_name(entry: EventType) -> str:
    words = entry.type.replace("_", ".").split(".")
    return "".join(word.capitalize() for word in words) + f"V{entry.version}"


def _channel_id(topic: str) -> str:
    return topic.replace(".", "_").replace("-", "_")


def _data_schema_name(entry: EventType) -> str:
    return entry.schema.__name__  # several event types may share one schema class


def _data_schemas(catalogue: Catalogue) -> dict[str, Any]:
    spec = APISpec("events", __version__, "3.1.0", plugins=[MarshmallowPlugin()])
    for schema in {entry.schema for entry in catalogue}:
        spec.components.schema(schema.__name__, schema=schema)
    return spec.to_dict()["components"]["schemas"]


def asyncapi_document(catalogue: Catalogue, topics: Iterable[Any],
                      consumers: dict[str, Iterable[str]] | None = None,
                      publishers: dict[str, Iterable[str]] | None = None) -> dict[str, Any]:
    """`topics` are TopicSpec-like (each declared topic and its dead-letter topic becomes a
    channel); `consumers` maps consumer group -> event types it handles; `publishers` maps
    service -> event types it publishes (default: each installed service's PUBLISHES - the
    type's prefix names its topic's owner, not always its sender)."""
    topic_specs = {t.name: t for t in topics}
    if publishers is None:
        from worklink.service import installed_services

        publishers = {name: spec.publishes for name, spec in installed_services().items()}
    senders: dict[str, list[str]] = {}
    for service, published in publishers.items():
        for event_type in published:
            senders.setdefault(event_type, []).append(service)
    schemas = _data_schemas(catalogue)
    schemas["Headers"] = {
        "type": "object",
        "properties": {
            "content-type": {"type": "string", "const": STRUCTURED_CONTENT_TYPE},
            "traceparent": {"type": "string", "description": "W3C Trace Context"},
            "correlation-id": {"type": "string", "description": "Correlates every event of one user action"},
        },
    }
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for entry in catalogue:
        name = _message_name(entry)
        channel_id = _channel_id(entry.topic)
        for address in (entry.topic, dlt_topic(entry.topic)):  # a dead letter is the record as it came
            channel = channels.setdefault(_channel_id(address), _channel(address, topic_specs.get(address)))
            channel["messages"][name] = {"$ref": f"#/components/messages/{name}"}
        messages[name] = _message(entry, name, catalogue.superseded(entry))
        sending = [] if entry.readers_only or catalogue.current(entry.type) is not entry else senders.get(entry.type, [])
        for service in sending:
            operations[f"{service}.send.{name}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{channel_id}"},
                "messages": [{"$ref": f"#/channels/{channel_id}/messages/{name}"}],
                "summary": f"The {service} service publishes {entry.type} through its transactional outbox.",
            }
        for group, handled in (consumers or {}).items():
            if entry.type in handled:
                operations[f"{group}.receive.{name}"] = {
                    "action": "receive",
                    "channel": {"$ref": f"#/channels/{channel_id}"},
                    "messages": [{"$ref": f"#/channels/{channel_id}/messages/{name}"}],
                    "bindings": {"kafka": {"groupId": {"type": "string", "const": group},
                                           "bindingVersion": KAFKA_BINDING_VERSION}},
                }
    for spec in topic_specs.values():  # declared topics no event uses yet are channels too
        channels.setdefault(_channel_id(spec.name), _channel(spec.name, spec))
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "WorkLink integration events",
            "version": __version__,
            "description": ("CloudEvents 1.0 in structured JSON mode on Kafka. Each message is keyed by its "
                            "aggregate id. Broadcast events carry ids, codes and timestamps only; restricted "
                            "channels carry a person's details to one consumer group, with short retention. "
                            "Every channel has a dead-letter companion `<topic>.dlt`."),
        },
        "defaultContentType": STRUCTURED_CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def _channel(topic: str, spec: Any | None) -> dict[str, Any]:
    channel: dict[str, Any] = {"address": topic, "messages": {}}
    if spec is not None:
        channel["description"] = spec.description + (
            f" RESTRICTED: personal data, read only by {spec.reader}." if spec.restricted else "")
        configuration = {"cleanup.policy": ["delete"], "retention.ms": spec.retention_ms}
        if spec.segment_ms is not None:
            configuration["segment.ms"] = spec.segment_ms
        channel["bindings"] = {"kafka": {
            "topic": topic, "partitions": spec.partitions, "replicas": spec.replication_factor,
            "topicConfiguration": configuration, "bindingVersion": KAFKA_BINDING_VERSION,
        }}
        if spec.restricted:
            channel["x-restricted"] = True
            channel["x-reader"] = spec.reader
    return channel


def _message(entry: EventType, name: str, superseded: bool) -> dict[str, Any]:
    status = (" (no longer sent; still read)" if superseded
              else " (declared for readers; not sent yet)" if entry.readers_only else "")
    return {
        "name": entry.type,
        "title": f"{entry.type} v{entry.version}{status}",
        "summary": entry.description,
        "contentType": STRUCTURED_CONTENT_TYPE,
        "headers": {"$ref": "#/components/schemas/Headers"},
        "correlationId": {"location": "$message.header#/correlation-id"},
        "payload": {
            "type": "object",
            "required": ["specversion", "id", "source", "type", "dataschema", "data"],
            "properties": {
                "specversion": {"type": "string", "const": "1.0"},
                "id": {"type": "string", "format": "uuid"},
                "source": {"type": "string", "format": "uri-reference"},
                "type": {"type": "string", "const": entry.type},
                "time": {"type": "string", "format": "date-time"},
                "subject": {"type": "string"},
                "datacontenttype": {"type": "string", "const": "application/json"},
                "dataschema": {"type": "string", "const": entry.dataschema},
                "partitionkey": {"type": "string", "description": f"CloudEvents Partitioning: data.{entry.key}, "
                                                                  "the Kafka key"},
                "data": {"$ref": f"#/components/schemas/{_data_schema_name(entry)}"},
            },
        },
        "bindings": {"kafka": {"key": {"type": "string", "format": "uuid", "description": f"data.{entry.key}"},
                               "bindingVersion": KAFKA_BINDING_VERSION}},
        "x-restricted": entry.restricted,
    }
