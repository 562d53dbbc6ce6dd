"""Published event versions are frozen: a schema registry's FULL compatibility, done offline.

Every (type, version) in the catalogue has a snapshot of its `data` JSON Schema under
`published/<type>.v<version>.json`, committed with the version. A later change to that
version must let both sides keep working while the other runs old code:
- readers of the old schema read new events (FORWARD): no field removed, none that was
  optional made required or the reverse, no type, format, pattern, range or value set changed;
- readers of the new schema read old events (BACKWARD): a field added must be optional.
Readers ignore unknown fields at every depth (`Catalogue.load`), so an added optional field
is the one change a published version takes. Anything else is a new version.

    python -m worklink.events.compatibility           # list incompatible changes
    python -m worklink.events.compatibility --write   # snapshot versions not yet snapshotted
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from worklink.events.catalogue import Catalogue, EventType

SNAPSHOTS = Path(__file__).with_name("published")
# Words for people, or what only the writer checks (a reader ignores unknown fields).
_NOT_CONTRACT = {"description", "title", "default", "example", "examples", "additionalProperties"}
_STRUCTURE = {"properties", "required", "items"}


def snapshot_path(entry: EventType, directory: Path = SNAPSHOTS) -> Path:
    return directory / f"{entry.type}.v{entry.version}.json"


def json_schema(entry: EventType) -> dict[str, Any]:
    """The JSON Schema of an event version's `data`, nested objects inlined, descriptions dropped."""
    spec = APISpec("events", "1", "3.1.0", plugins=[MarshmallowPlugin(schema_name_resolver=_nested_name)])
    spec.components.schema("Data", schema=entry.schema)
    components = spec.to_dict()["components"]["schemas"]
    return _contract(_inline(components["Data"], components))


def _nested_name(schema) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    return f"{cls.__module__}.{cls.__qualname__}"


def _inline(node: Any, components: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(components[node["$ref"].rsplit("/", 1)[-1]], components)
        return {key: _inline(value, components) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(value, components) for value in node]
    return node


def _contract(node: Any) -> Any:
    if isinstance(node, dict):
        kept = {key: _contract(value) for key, value in node.items() if key not in _NOT_CONTRACT}
        if "properties" in node:  # field names: keep every one, whatever it is called
            kept["properties"] = {name: _contract(value) for name, value in node["properties"].items()}
        if "required" in kept:
            kept["required"] = sorted(kept["required"])
        return kept
    if isinstance(node, list):
        return [_contract(value) for value in node]
    return node


def incompatibilities(published: dict[str, Any], current: dict[str, Any], path: str = "") -> list[str]:
    """Why `current` cannot replace `published` in place (empty when it can)."""
    where = path or "/"
    problems = [f"{where}: {key} changed from {published.get(key)!r} to {current.get(key)!r}"
                for key in sorted((published.keys() | current.keys()) - _STRUCTURE)
                if published.get(key) != current.get(key)]
    if "items" in published or "items" in current:
        if "items" in published and "items" in current:
            problems += incompatibilities(published["items"], current["items"], f"{path}/items")
        else:
            problems.append(f"{where}: items changed")
    old_fields, new_fields = published.get("properties", {}), current.get("properties", {})
    old_required, new_required = set(published.get("required", ())), set(current.get("required", ()))
    for name in sorted(old_fields.keys() | new_fields.keys()):
        pointer = f"{path}/{name}"
        if name not in new_fields:
            problems.append(f"{pointer}: removed (readers of this version may need it)")
        elif name not in old_fields:
            if name in new_required:
                problems.append(f"{pointer}: added as required (events already sent lack it)")
        else:
            if (name in old_required) != (name in new_required):
                became = "required" if name in new_required else "optional"
                problems.append(f"{pointer}: made {became} (readers of one side refuse the other's events)")
            problems += incompatibilities(old_fields[name], new_fields[name], pointer)
    return problems


def check(catalogue: Catalogue, directory: Path = SNAPSHOTS) -> list[str]:
    """Every version snapshotted, every snapshot still declared, every change compatible."""
    problems = []
    declared = set()
    for entry in catalogue:
        path = snapshot_path(entry, directory)
        declared.add(path.name)
        if not path.is_file():
            problems.append(f"{entry.type} v{entry.version}: no snapshot; run "
                            "`python -m worklink.events.compatibility --write` and commit it")
            continue
        published = json.loads(path.read_text())
        problems += [f"{entry.type} v{entry.version} {problem}"
                     for problem in incompatibilities(published, json_schema(entry))]
    for path in sorted(directory.glob("*.json")):
        if path.name not in declared:
            problems.append(f"{path.name}: a published version is no longer declared (events of it may "
                            "still be on a topic or dead-letter topic); keep it, or delete the snapshot "
                            "knowing no consumer will meet it again")
    return problems


def write_missing(catalogue: Catalogue, directory: Path = SNAPSHOTS) -> list[Path]:
    """Snapshot each version that has none yet; never overwrites a published one."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for entry in catalogue:
        path = snapshot_path(entry, directory)
        if not path.exists():
            path.write_text(json.dumps(json_schema(entry), indent=2, sort_keys=True) + "\n")
            written.append(path)
    return written


def main(argv: list[str]) -> int:
    from worklink.events.contracts import CATALOGUE

    if "--write" in argv:
        for path in write_missing(CATALOGUE):
            print(f"wrote {path}")
    problems = check(CATALOGUE)
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
