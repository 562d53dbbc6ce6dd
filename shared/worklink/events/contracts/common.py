"""Shared field helpers for event schemas."""

from __future__ import annotations

from marshmallow import fields, validate


def code(**kwargs) -> fields.String:
    """A machine code (never free text): lower-case identifier characters."""
    return fields.String(validate=validate.Regexp(r"^[a-z0-9][a-z0-9_.:-]{0,63}$"), **kwargs)
