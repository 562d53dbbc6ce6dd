"""The API blueprint every service uses: flask-smorest's, with a parser that builds each argument schema once and
holds a JSON body to its JSON types, and a JSON body documented as required exactly when leaving it out is refused."""

from __future__ import annotations

import flask_smorest
import marshmallow as ma
from webargs.flaskparser import FlaskParser


class SchemaReusingParser(FlaskParser):
    """Given a Schema class, webargs builds an instance for every request: each declared field deep-copied and every
    nested schema rebuilt on first use, which cost a write endpoint more than reading its body. Loading keeps no
    state in the instance (marshmallow 4 has no schema context), so one instance per class serves every request and
    thread. Instances, dicts and callables are left to webargs as before."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._instances: dict[type[ma.Schema], ma.Schema] = {}

    def _get_schema(self, argmap, req) -> ma.Schema:
        if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
            schema = self._instances.get(argmap)
            # Two threads meeting a class first may both build one; setdefault keeps a single instance.
            return schema if schema is not None else self._instances.setdefault(argmap, argmap())
        return super()._get_schema(argmap, req)

    def _process_location_data(self, location_data, schema, req, location, unknown, validators):
        """A JSON body is held to its JSON types too, in the same 422 as the schema's own errors."""
        wrong = json_type_errors(schema, location_data) if location == "json" else {}
        try:
            data = super()._process_location_data(location_data, schema, req, location, unknown, validators)
        except ma.ValidationError as exc:
            if not wrong:
                raise
            raise ma.ValidationError(_merged(exc.normalized_messages(), wrong)) from None
        if wrong:
            raise ma.ValidationError(wrong)
        return data


# Decimal is left out: a decimal may be sent as a string to keep its digits.
_NUMBERS = (ma.fields.Integer, ma.fields.Float)


def json_type_errors(schema: ma.Schema, data) -> dict:
    """The values of a JSON body that have the wrong JSON type but that marshmallow would take, by field (as
    marshmallow reports errors): 1, "0" or "yes" for a boolean, "3" for a number. The document says boolean and
    integer; a client sending "false" for a flag has a bug that should be told, not read one way or the other."""
    if not isinstance(data, dict):
        return {}
    errors = {}
    for name, field in schema.load_fields.items():
        key = field.data_key or name
        if key in data and (error := _type_error(field, data[key])):
            errors[key] = error
    return errors


def _type_error(field: ma.fields.Field, value):
    if value is None:
        return None  # allowed or not: the field's own rule says
    if isinstance(field, ma.fields.Boolean):
        return None if isinstance(value, bool) else ["Not a valid boolean: send true or false."]
    if isinstance(field, _NUMBERS):
        return ["Not a valid number: send it without quotes."] if isinstance(value, str) else None
    if isinstance(field, ma.fields.Nested):
        if field.many:
            return _each(value, lambda item: json_type_errors(field.schema, item))
        return json_type_errors(field.schema, value) or None
    if isinstance(field, ma.fields.List):
        return _each(value, lambda item: _type_error(field.inner, item))
    return None


def _each(value, check):
    if not isinstance(value, list):
        return None  # not a list: the field's own error
    found = {index: error for index, item in enumerate(value) if (error := check(item))}
    return found or None


def _merged(messages, more):
    """Two marshmallow error trees as one (a field in both keeps every message)."""
    if isinstance(messages, dict) and isinstance(more, dict):
        merged = dict(messages)
        for key, value in more.items():
            merged[key] = _merged(merged[key], value) if key in merged else value
        return merged
    if isinstance(messages, list) and isinstance(more, list):
        return messages + [message for message in more if message not in messages]
    return messages


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = SchemaReusingParser()

    def arguments(self, schema, *, location="json", required=None, **kwargs):
        """As flask-smorest's, but a POST's JSON body whose fields are all optional is documented as optional:
        webargs reads an absent body as {}, so such a POST (a search with no filters, an action with nothing to
        add) is answered without one, and the document must not say a client has to send it. A POST with a
        required field refuses an absent body with that field's 422; a PUT or PATCH always requires its body
        (worklink.web.app refuses one without)."""
        if required is not None or location != "json":
            return super().arguments(schema, location=location, required=True if required is None else required,
                                     **kwargs)

        def decorator(view):
            optional = view.__name__ == "post" and not _has_a_required_field(schema)
            return flask_smorest.Blueprint.arguments(self, schema, location=location, required=not optional,
                                                     **kwargs)(view)
        return decorator


def _has_a_required_field(schema) -> bool:
    instance = schema() if isinstance(schema, type) else schema
    partial = instance.partial
    return any(field.required and not (partial is True or (partial and name in partial))
               for name, field in instance.fields.items())
