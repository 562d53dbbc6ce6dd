"""Checks a real response against the response schema a service's own OpenAPI document gives for it.

Each service's `test_openapi_responses.py` calls a read endpoint on a record it made, then
`assert_documented(client, "get", "/referrals/{referral_id}", response)`. The document is read from the app's
`/openapi.json`, as a client generator reads it, and checked strictly: every object schema is closed
(`additionalProperties: false` unless it says otherwise), an object documented as anything too, so a field the
response has and the document lacks fails as a wrong type does. `undocumented_fields_never_returned` catches the
other way round: a documented property that none of the responses seen carried.
"""

from __future__ import annotations

import copy
from typing import Any, Iterable

from openapi_schema_validator import OAS30Validator


def documented_response_schema(spec: dict, method: str, path: str, status: int) -> dict:
    """The JSON schema of `method path`'s `status` response, every $ref resolved and every object closed."""
    responses = spec["paths"][path][method.lower()]["responses"]
    schema = responses[str(status)]["content"]["application/json"]["schema"]
    return _closed(_resolved(schema, spec))


def assert_documented(client, method: str, path: str, response, status: int = 200) -> dict:
    """`response` (a Flask test response to `method path`) has the status and matches its documented schema."""
    assert response.status_code == status, response.get_data(as_text=True)
    spec = client.get("/openapi.json").get_json()
    schema = documented_response_schema(spec, method, path, status)
    errors = sorted(OAS30Validator(schema).iter_errors(response.get_json()), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors)
    return schema


def documented_fields(schema: dict, prefix: str = "") -> set[str]:
    """Every property path the schema documents ('notes[].by_name'), through arrays and nested objects."""
    if schema.get("type") == "array" and "items" in schema:
        return documented_fields(schema["items"], prefix + "[]")
    found = set()
    for name, sub in (schema.get("properties") or {}).items():
        found.add(prefix + ("." if prefix else "") + name)
        found |= documented_fields(_one_schema(sub), prefix + ("." if prefix else "") + name)
    return found


def returned_fields(value: Any, prefix: str = "") -> set[str]:
    """Every field path present in a JSON value, in the same spelling as documented_fields."""
    if isinstance(value, list):
        return set().union(*(returned_fields(item, prefix + "[]") for item in value)) if value else set()
    if not isinstance(value, dict):
        return set()
    found = set()
    for name, sub in value.items():
        path = prefix + ("." if prefix else "") + name
        found |= {path} | returned_fields(sub, path)
    return found


def undocumented_fields_never_returned(schema: dict, bodies: Iterable[Any], free_form: Iterable[str] = ()) -> set[str]:
    """Documented properties no body carried; `free_form` names maps whose keys are data, not fields."""
    seen = set().union(*(returned_fields(body) for body in bodies))
    missing = documented_fields(schema) - seen
    return {path for path in missing if not any(path.startswith(prefix) for prefix in free_form)}


def _one_schema(schema: dict) -> dict:
    """A nullable nested schema is written allOf/anyOf [ref] by apispec: its single member."""
    for key in ("allOf", "anyOf", "oneOf"):
        members = [m for m in schema.get(key, []) if m.get("type") != "null"]
        if len(members) == 1:
            return members[0]
    return schema


def _resolved(schema: Any, spec: dict, seen: tuple = ()) -> Any:
    if isinstance(schema, list):
        return [_resolved(item, spec, seen) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref not in seen, f"recursive schema {ref}"
        target = spec
        for part in ref.lstrip("#/").split("/"):
            target = target[part]
        return _resolved(target, spec, seen + (ref,))
    return {key: _resolved(value, spec, seen) for key, value in schema.items()}


def _closed(schema: Any) -> Any:
    """A copy in which an object schema takes no properties but those it lists unless it says what others hold: an
    object documented as anything (a bare marshmallow `fields.Dict()`, which apispec writes `additionalProperties:
    {}`) takes none, so a response that puts something in it fails until the document says what it holds (or, for
    a map whose keys are data, what its values are)."""
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: _closed(value) for key, value in copy.copy(schema).items()}
    says_nothing = closed.get("additionalProperties") == {} or (
        closed.get("type") == "object" and "additionalProperties" not in closed)
    if ("properties" in closed and "additionalProperties" not in closed) or says_nothing:
        closed["additionalProperties"] = False
    return closed
