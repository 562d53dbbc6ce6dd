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
