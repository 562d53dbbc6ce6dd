"""The API blueprint every service uses: flask-smorest's, with a parser that builds each argument schema once."""

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
