"""AsyncAPI 3.0 document generated from the event catalogue and topic declarations."""

from __future__ import annotations

from typing import Any, Iterable

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from worklink import __version__
from worklink.events.catalogue import Catalogue, EventType
from worklink.events.envelope import STRUCTURED_CONTENT_TYPE

KAFKA_BINDING_VERSION = "0.5.0"


def _message_name(entry: EventType) -> str:
    words = entry.type.replace("_", ".").split(".")
    return "".join(word.capitalize() for word in words) + f"V{entry.version}"


def _channel_id(topic: str) -> str:
    return topic.replace(".", "_").replace("-", "_")


def _data_schema_name(entry: EventType) -> str:
    return entry.schema.__name__  # several event types may share one schema class


def _data_schemas(catalogue: Catalogue) -> dict[str, Any]:
    spec = APISpec("events", __version__, "3.0.3", plugins=[MarshmallowPlugin()])
    for schema in {entry.schema for entry in catalogue}:
        spec.components.schema(schema.__name__, schema=schema)
    return spec.to_dict()["components"]["schemas"]


def asyncapi_document(catalogue: Catalogue, topics: Iterable[Any],
                      consumers: dict[str, Iterable[str]] | None = None) -> dict[str, Any]:
    """`topics` are TopicSpec-like; `consumers` maps consumer group -> event types it handles."""
    topic_specs = {t.name: t for t in topics}
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
        channel = channels.setdefault(channel_id, _channel(entry.topic, topic_specs.get(entry.topic)))
        channel["messages"][name] = {"$ref": f"#/components/messages/{name}"}
        messages[name] = _message(entry, name)
        owner = entry.type.split(".", 1)[0]
        operations[f"{owner}.send.{name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{name}"}],
            "summary": f"The {owner} service publishes {entry.type} through its transactional outbox.",
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
        channel["description"] = spec.description + (" RESTRICTED: personal data, one reader." if spec.restricted else "")
        channel["bindings"] = {"kafka": {
            "topic": topic, "partitions": spec.partitions, "replicas": spec.replication_factor,
            "topicConfiguration": {"cleanup.policy": ["delete"], "retention.ms": spec.retention_ms},
            "bindingVersion": KAFKA_BINDING_VERSION,
        }}
    return channel


def _message(entry: EventType, name: str) -> dict[str, Any]:
    return {
        "name": entry.type,
        "title": f"{entry.type} v{entry.version}",
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
                "data": {"$ref": f"#/components/schemas/{_data_schema_name(entry)}"},
            },
        },
        "bindings": {"kafka": {"key": {"type": "string", "description": f"data.{entry.key}"},
                               "bindingVersion": KAFKA_BINDING_VERSION}},
        "x-restricted": entry.restricted,
    }
