"""Helpers for tests that drive a real consumer against the real broker."""

from __future__ import annotations

import time

from worklink.messaging.consumer import EventConsumer, Outcome


def consume(consumer: EventConsumer, wanted: int, timeout: float = 60) -> list[Outcome]:
    """Poll until the consumer has dealt with `wanted` records; their outcomes, in order."""
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + timeout
    while len(outcomes) < wanted:
        assert time.monotonic() < deadline, f"only {outcomes} after {timeout}s"
        outcomes += consumer.poll_once(timeout_ms=500)
    return outcomes
