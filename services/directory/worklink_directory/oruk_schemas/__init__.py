"""Vendored ORUK 3.0 JSON schemas (CC BY-SA 4.0, see ATTRIBUTION.md) and validators for them."""

from __future__ import annotations

import functools
import json
from importlib import resources

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

NAMES = ("service", "service_list", "service_at_location", "service_at_location_list", "taxonomy", "taxonomy_term")


def load(name: str) -> dict:
    return json.loads(resources.files(__name__).joinpath(f"{name}.json").read_text())


@functools.cache
def validator(name: str) -> Draft202012Validator:
    """A validator for one schema; `taxonomy.json` refers to `taxonomy_term.json` by relative name."""
    registry = Registry().with_resources(
        (f"{n}.json", Resource.from_contents(load(n), default_specification=DRAFT202012)) for n in NAMES)
    return Draft202012Validator(load(name), registry=registry, format_checker=FormatChecker())


def problems(name: str, document: dict) -> list[str]:
    """Each way `document` breaks the schema, as '<json pointer>: <message>'."""
    return [f"/{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in sorted(validator(name).iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))]


# The OpenAPI 3.0 document describes the read API's answers with these schemas, as components named here.
COMPONENTS = {"service": "OrukService", "service_list": "OrukServiceListItem",
              "service_at_location": "OrukServiceAtLocation", "service_at_location_list": "OrukServiceAtLocationListItem",
              "taxonomy": "OrukTaxonomy", "taxonomy_term": "OrukTaxonomyTerm"}
# JSON Schema keywords an OpenAPI 3.0 Schema Object takes; the rest (name, path, constraints, core, examples
# typed as strings, datapackage metadata) is Open Referral's tabular metadata, not part of the JSON's shape.
_OPENAPI_KEYWORDS = {"type", "format", "title", "description", "enum", "items", "properties", "required"}


def openapi_schema(name: str) -> dict:
    """Vendored schema `name` as an OpenAPI 3.0 Schema Object; references point at the COMPONENTS."""
    return _openapi(load(name))


def _openapi(node: dict) -> dict:
    if "$ref" in node:  # "taxonomy_term.json" -> the component
        return {"$ref": f"#/components/schemas/{COMPONENTS[node['$ref'].removesuffix('.json')]}"}
    converted = {}
    for keyword, value in node.items():
        if keyword == "properties":
            converted[keyword] = {prop: _openapi(schema) for prop, schema in value.items()}
        elif keyword == "items":
            converted[keyword] = _openapi(value)
        elif keyword in _OPENAPI_KEYWORDS and (keyword != "required" or value):  # 3.0: required is never empty
            converted[keyword] = value
    return converted
