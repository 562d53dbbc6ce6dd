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
    """Vendored schema `name` as an OpenAPI 3.0 Schema Object; references point at the COMPONENTS. The fields
    the read API returns beyond the vendored schema (RETURNED_BEYOND) are added, so the document lists every
    field a response carries; the vendored files, and validation against them, stay ORUK's own."""
    converted = _openapi(load(name))
    for path, properties in RETURNED_BEYOND.get(name, {}).items():
        _object_at(converted, path).setdefault("properties", {}).update(properties)
    if name == "service_at_location":  # its service's locations, which service.json describes
        converted["properties"]["service"]["properties"]["service_at_locations"] = _extension(
            "the service's every location, as on /services/{id}",
            openapi_schema("service")["properties"]["service_at_locations"])
    return converted


def _object_at(schema: dict, path: str) -> dict:
    """The object schema at `path` ('contacts[].phones', '' for the root) of a converted schema."""
    for part in filter(None, path.split(".")):
        schema = schema["properties"][part.removesuffix("[]")]
        if part.endswith("[]"):
            schema = schema["items"]
    return schema


def _extension(description: str, schema: dict) -> dict:
    return {**schema, "description": "Extension to ORUK 3.0: " + description, "x-extension": True}


def _objects(**properties: dict) -> dict:
    return {"type": "array", "items": {"type": "object", "properties": properties}}


_STRING, _UUID, _INTEGER = {"type": "string"}, {"type": "string", "format": "uuid"}, {"type": "integer"}
_DISTANCE = {"distance": _extension("metres from the postcode or point searched from, rounded", _INTEGER)}
_TERM = {  # HSDS 3.0 taxonomy_term fields the ORUK files leave out
    "code": _extension("the term's code in its taxonomy (e.g. counselling)", _STRING),
    "taxonomy_detail": _extension("the term's taxonomy", {"type": "object", "properties": {
        "id": _UUID, "name": _STRING, "description": _STRING, "uri": _STRING}})}
_LOCATION = {  # as service_at_location.json's location has them; the list's schema leaves them out
    "addresses": _extension("the location's address, as on /service_at_locations/{id}", _objects(
        id=_UUID, location_id=_UUID, address_1=_STRING, city=_STRING, state_province=_STRING, postal_code=_STRING,
        country=_STRING, address_type=_STRING)),
    "accessibility": _extension("the location's accessibility, as on /service_at_locations/{id}",
                                _objects(id=_UUID, location_id=_UUID, description=_STRING))}
_SERVICE = {
    "": {"application_process": _extension("how to get help from the service (HSDS 3.0)", _STRING),
         "service_capacity": _extension("HSDS 3.1 service_capacity, from the referrals service's capacity events",
                                        _objects(id=_UUID, service_id=_UUID, available=_INTEGER,
                                                 unit={"type": "object", "properties": {
                                                     "id": _UUID, "name": _STRING, "scheme": _STRING}},
                                                 accepting_referrals={"type": "boolean"},
                                                 typical_wait_days=_INTEGER,
                                                 updated={"type": "string", "format": "date-time"}))},
    "contacts[]": {"email": _extension("the contact's e-mail address (HSDS 3.0)", _STRING),
                   "phones": _extension("the contact's phone numbers (HSDS 3.0 phone)",
                                        _objects(id=_UUID, contact_id=_UUID, number=_STRING, description=_STRING))},
    "attributes[].taxonomy_term": _TERM,
    "service_areas[]": {"x_postcode_districts": _extension(
        "the postcode districts the service covers (a postcode elsewhere is not served)",
        {"type": "array", "items": _STRING})},
}
# The fields the read API returns (oruk.py) that a vendored schema does not list, by schema and object path.
RETURNED_BEYOND = {
    "service": _SERVICE,
    "service_list": {"": _DISTANCE},
    "service_at_location": {f"service.{path}".rstrip("."): properties  # its service as on /services/{id}
                            for path, properties in _SERVICE.items()},
    "service_at_location_list": {"location": {**_LOCATION, **_DISTANCE}},
    "taxonomy": {"taxonomy_terms[]": {"code": _TERM["code"]}},
    "taxonomy_term": {"": _TERM},
}


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
