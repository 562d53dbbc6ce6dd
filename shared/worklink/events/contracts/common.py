"""Shared field helpers for event schemas."""

from __future__ import annotations

from marshmallow import fields, validate


def code(**kwargs) -> fields.String:
    """A machine code (never free text): lower-case identifier characters, never digits alone
    (an NHS or phone number would otherwise pass as a code on a broadcast event)."""
    return fields.String(validate=validate.Regexp(r"^(?![0-9]+$)[a-z0-9][a-z0-9_.:-]{0,63}$"), **kwargs)
