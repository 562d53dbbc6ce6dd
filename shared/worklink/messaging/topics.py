"""Topic declarations (deploy/topics.toml) and their creation on a cluster."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Iterable

from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
from kafka.errors import TopicAlreadyExistsError

from worklink.config import KafkaSettings
from worklink.events.catalogue import Catalogue
from worklink.messaging import kafka
from worklink.messaging.consumer import DLT_SUFFIX, dlt_topic


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    retention_ms: int
    restricted: bool = False
    reader: str | None = None
    description: str = ""
    # Kafka deletes whole closed segments only: on a topic that keeps receiving records a
    # record lives up to retention + segment.ms (broker default 7 days). A restricted topic
    # declares a short one so its short retention is what a person's details really get.
    segment_ms: int | None = None

    def config(self) -> dict[str, str]:
        config = {"retention.ms": str(self.retention_ms), "cleanup.policy": "delete"}
        if self.segment_ms is not None:
            config["segment.ms"] = str(self.segment_ms)
        return config


def find_topics_file() -> Path:
    if explicit := os.environ.get("WORKLINK_TOPICS_FILE"):
        return Path(explicit)
    for base in (Path.cwd(), *Path.cwd().parents, *Path(__file__).resolve().parents):
        candidate = base / "deploy" / "topics.toml"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("deploy/topics.toml not found; set WORKLINK_TOPICS_FILE")


def load_topics(path: Path | None = None) -> list[TopicSpec]:
    """The declared topics followed by their dead-letter companions."""
    raw = tomllib.loads((path or find_topics_file()).read_text())
    defaults = raw.get("defaults", {})
    specs: list[TopicSpec] = []
    for name, declared in raw.get("topics", {}).items():
        merged = {**defaults, **declared}
        spec = TopicSpec(name=name, partitions=int(merged["partitions"]),
                         replication_factor=int(merged["replication_factor"]),
                         retention_ms=int(merged["retention_ms"]),
                         restricted=bool(merged.get("restricted", False)),
                         reader=merged.get("reader"), description=merged.get("description", ""),
                         segment_ms=int(merged["segment_ms"]) if "segment_ms" in merged else None)
        specs.append(spec)
        specs.append(TopicSpec(name=dlt_topic(name), partitions=spec.partitions,
                               replication_factor=spec.replication_factor,
                               retention_ms=int(merged["dlt_retention_ms"]), restricted=spec.restricted,
                               reader=spec.reader, description=f"Dead letters of {name}.",
                               segment_ms=spec.segment_ms))
    return specs


def dedup_window(topics: list[str], specs: list[TopicSpec] | None = None) -> timedelta | None:
    """How long a consumer of `topics` must remember an event id: as long as any of them - or
    its dead-letter topic - keeps an event, plus a day for events published late by a relay
    that was down. A replay from the earliest offset can bring back no older event; nor can a
    re-drive: an event another group dead-lettered, put back on its topic from the DLT while
    the DLT still has it, must still be a duplicate to the groups that handled it the first
    time. None if a topic is not declared."""
    by_name = {spec.name: spec for spec in (specs if specs is not None else load_topics())}
    if not topics or any(t not in by_name for t in topics):
        return None
    kept = [by_name[name].retention_ms for t in topics for name in (t, dlt_topic(t)) if name in by_name]
    return timedelta(milliseconds=max(kept)) + timedelta(days=1)


# How long a restricted topic keeps a person's details - its dead-letter companion too, which holds the same
# records until they are re-driven or expire (an undeclared dlt_retention_ms is the 30-day default).
RESTRICTED_RETENTION = timedelta(days=7)


def check_catalogue(catalogue: Catalogue, specs: list[TopicSpec]) -> list[str]:
    """Problems between the catalogue and the declarations (empty when consistent)."""
    by_name = {spec.name: spec for spec in specs}
    problems = []
    for entry in catalogue:
        spec = by_name.get(entry.topic)
        if spec is None:
            problems.append(f"{entry.type} names topic {entry.topic!r}, which deploy/topics.toml does not declare")
        elif entry.restricted and not spec.restricted:
            problems.append(f"{entry.type} carries personal details but {entry.topic!r} is not restricted")
        elif spec.restricted and not entry.restricted:
            problems.append(f"{entry.type} is a broadcast event on restricted topic {entry.topic!r}")
    keys: dict[str, set[str]] = {}
    for entry in catalogue:
        keys.setdefault(entry.topic, set()).add(entry.key)
    problems += [f"topic {topic!r} carries events keyed by different fields ({', '.join(sorted(fields))}): "
                 "one aggregate's events must share a key to stay in order"
                 for topic, fields in sorted(keys.items()) if len(fields) > 1]
    for spec in specs:
        if spec.restricted and (spec.segment_ms is None or spec.segment_ms > spec.retention_ms):
            problems.append(f"restricted topic {spec.name!r} must declare segment_ms no longer than its "
                            "retention, or its records outlive the retention by up to a segment's age")
        if spec.restricted and timedelta(milliseconds=spec.retention_ms) > RESTRICTED_RETENTION:
            problems.append(f"restricted topic {spec.name!r} keeps records {spec.retention_ms} ms: a person's "
                            f"details are kept at most {RESTRICTED_RETENTION.days} days (dlt_retention_ms too)")
        if spec.restricted and not spec.reader:
            problems.append(f"restricted topic {spec.name!r} must name its one reader")
    return problems


def service_topics(catalogue: Catalogue, specs: list[TopicSpec], publishes: Iterable[str],
                   handles: Iterable[str]) -> tuple[list[TopicSpec], list[TopicSpec]]:
    """A service's own topics - those it publishes and their dead-letter companions, which its operator
    creates - and the others it needs: the topics it reads and their .dlt, created by their publishers."""
    def topics_of(types: Iterable[str]) -> set[str]:
        return {catalogue.latest(t).topic for t in types if t in catalogue}

    owned = topics_of(publishes)
    read = topics_of(handles) - owned
    return ([s for s in specs if s.name.removesuffix(DLT_SUFFIX) in owned],
            [s for s in specs if s.name.removesuffix(DLT_SUFFIX) in read])


def check_readers(catalogue: Catalogue, specs: list[TopicSpec], handlers: dict[str, Iterable[str]]) -> list[str]:
    """Problems with who reads a restricted topic (empty when each has exactly its declared reader).

    `handlers` maps consumer group -> the event types it handles; a group reads the topic of each
    (as the consumer subscribes), so handling any type on a restricted topic makes it a reader."""
    reads = {group: {catalogue.latest(t).topic for t in types if t in catalogue} for group, types in handlers.items()}
    problems = []
    for spec in specs:
        if not spec.restricted or spec.name.endswith(DLT_SUFFIX):
            continue
        readers = sorted(group for group, topics in reads.items() if spec.name in topics)
        if readers != [spec.reader]:
            problems.append(f"restricted topic {spec.name!r} is read by {readers or 'no group'}, "
                            f"declared reader {spec.reader!r}")
    return problems


def ensure_topics(kafka_settings: KafkaSettings, specs: list[TopicSpec], *,
                  grow_partitions: bool = False) -> dict[str, str]:
    """Create missing topics and set the declared configs (retention, cleanup policy, segment
    age) of topics that exist with others; returns name -> what was done.

    Partitions are grown only when asked: every event is keyed, and a key hashes to another
    partition once there are more, so its next events could overtake ones still waiting on
    the old partition (a consent withdrawal overtaking its request). Grow them after the
    topic's consumers have drained it."""
    client = kafka.admin(kafka_settings)
    try:
        existing = _partition_counts(client)
        corrected = _align_configs(client, [s for s in specs if s.name in existing])
        report: dict[str, str] = {}
        missing = [s for s in specs if s.name not in existing]
        if missing:
            try:
                client.create_topics([NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=s.config())
                                      for s in missing])
            except TopicAlreadyExistsError:
                pass  # created concurrently by another process
            report.update({s.name: f"created ({s.partitions} partitions)" for s in missing})
        for spec in specs:
            have = existing.get(spec.name)
            if have is None:
                continue
            if have < spec.partitions and grow_partitions:
                client.create_partitions({spec.name: NewPartitions(total_count=spec.partitions)})
                report[spec.name] = f"partitions {have} -> {spec.partitions}"
            elif have < spec.partitions:
                report[spec.name] = (f"exists with {have} partitions (declared {spec.partitions}; not grown: "
                                     "drain its consumers, then `worklink topics --grow-partitions`)")
            elif have > spec.partitions:
                report[spec.name] = f"exists with {have} partitions (declared {spec.partitions}; cannot shrink)"
            else:
                report[spec.name] = "exists"
            if spec.name in corrected:
                report[spec.name] += f"; {corrected[spec.name]}"
        return report
    finally:
        client.close()


def topic_drift(kafka_settings: KafkaSettings, specs: list[TopicSpec]) -> dict[str, str]:
    """What the broker has that differs from the declarations, changing nothing: missing
    topics, fewer partitions, other configs (e.g. a restricted topic keeping records longer)."""
    client = kafka.admin(kafka_settings)
    try:
        existing = _partition_counts(client)
        drift = {s.name: "missing" for s in specs if s.name not in existing}
        drift.update({s.name: f"partitions {existing[s.name]} (declared {s.partitions})" for s in specs
                      if s.name in existing and existing[s.name] < s.partitions})
        for name, configs in _align_configs(client, [s for s in specs if s.name in existing], apply=False).items():
            drift[name] = f"{drift[name]}; {configs}" if name in drift else configs
        return drift
    finally:
        client.close()


def _align_configs(client, specs: list[TopicSpec], apply: bool = True) -> dict[str, str]:
    """Set each existing topic's declared configs where the broker has others (a topic created
    by another tool or auto-created, or a declaration tightened since); returns what changed
    (or, with apply=False, what would)."""
    if not specs:
        return {}
    described = client.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, s.name, configs=dict.fromkeys(s.config())) for s in specs],
        config_filter="all")
    live = described.get("topic", described.get(ConfigResourceType.TOPIC, {}))
    changes = {}
    for spec in specs:
        have = {key: entry.get("value") for key, entry in live.get(spec.name, {}).items()}
        wrong = {key: value for key, value in spec.config().items() if have.get(key) != value}
        if not wrong:
            continue
        if apply:
            client.alter_configs([ConfigResource(ConfigResourceType.TOPIC, spec.name, configs=wrong)])
        changes[spec.name] = ", ".join(f"{key} {have.get(key)} -> {value}" for key, value in wrong.items())
    return changes


def _partition_counts(client) -> dict[str, int]:
    counts = {}
    for topic in client.describe_topics():
        name = topic.get("name") or topic.get("topic")  # key differs across kafka-python versions
        if name and not name.startswith("__"):
            counts[name] = len(topic["partitions"])
    return counts
