"""A person's rights over HTTP, as every service with `/people` answers them (referrals, adjustments): the
API's 404 when nothing is held. The use cases themselves are each service's rights.py."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from worklink.problems import Problem
from worklink.retention import NothingHeld


@contextmanager
def nothing_held(detail: str) -> Iterator[None]:
    """A use case that finds nothing about the person becomes a 404 problem saying `detail`."""
    try:
        yield
    except NothingHeld:
        raise Problem(404, detail) from None
