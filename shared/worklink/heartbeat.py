"""A worker's liveness: its loop beats as it goes, and /healthz on its metrics port says whether it still does.

A relay, consumer or job stuck for good (a hung socket, a deadlock, a database call with no timeout) still
answers /metrics from its server thread, so that alone made it look healthy. Each loop therefore calls
`HEARTBEAT.beat()` every iteration (a monotonic timestamp: no I/O) and says at its start how long a healthy
iteration can take (`expect`); the process is stale once the last beat is older than
max(STALE_CADENCES x that, MIN_STALE_SECONDS), or WORKLINK_HEARTBEAT_STALE_SECONDS when set. A loop about to wait
on purpose (a backoff through a broker or database outage, the hour between two sweeps) says so in its beat,
`beat(waiting=seconds)`: it is alive and doing the right thing, so the wait is added to its allowance.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from typing import Callable

from worklink.config import positive_number

STALE_AFTER_SETTING = "WORKLINK_HEARTBEAT_STALE_SECONDS"
STALE_CADENCES = 3  # iterations a loop may miss before it counts as stuck
MIN_STALE_SECONDS = 60.0


def stale_after(cadence: float, env: Mapping[str, str] | None = None) -> float:
    """Seconds without a beat after which a loop whose iterations take up to `cadence` seconds counts as stuck."""
    env = os.environ if env is None else env
    if env.get(STALE_AFTER_SETTING, "").strip():
        return positive_number(env, STALE_AFTER_SETTING, MIN_STALE_SECONDS, unit="seconds")
    return max(STALE_CADENCES * cadence, MIN_STALE_SECONDS)


class Heartbeat:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.cadence = 0.0
        self._beat = (clock(), 0.0)  # (when, then waiting): one tuple, so a reader never sees half a beat

    def expect(self, cadence: float) -> None:
        """The longest one iteration of the loop that starts now takes while all is well, in seconds."""
        self.cadence = cadence
        self.beat()

    def beat(self, waiting: float = 0.0) -> None:
        self._beat = (self.clock(), waiting)

    def age(self) -> float:
        """Seconds since the last beat."""
        return self.clock() - self._beat[0]

    def limit(self, env: Mapping[str, str] | None = None) -> float:
        """Seconds the last beat may age before the loop counts as stuck: its allowance plus any wait it announced."""
        return stale_after(self.cadence, env) + self._beat[1]

    def alive(self, env: Mapping[str, str] | None = None) -> bool:
        return self.age() <= self.limit(env)


HEARTBEAT = Heartbeat()  # one loop per worker process: the relay's, the consumer's or the job's


def healthz(heartbeat: Heartbeat, process: str) -> tuple[int, str, bytes]:
    """The worker's /healthz: status, content type and body, in the web /healthz's shape (a 200 with `status`, a 503
    as problem+json)."""
    from worklink.problems import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE, STATUS_TYPES

    age, limit = heartbeat.age(), heartbeat.limit()
    beat = {"last_beat_seconds_ago": round(age, 3), "stale_after_seconds": round(limit, 3)}
    if age <= limit:
        return 200, "application/json", json.dumps({"status": "ok", "process": process, **beat}).encode()
    body = {"type": PROBLEM_TYPE_BASE + STATUS_TYPES[503], "title": "Service Unavailable", "status": 503,
            "detail": f"{process} has made no progress for {age:.0f} s (stuck after {limit:.0f} s).",
            "instance": "/healthz", "process": process, **beat}
    return 503, PROBLEM_MEDIA_TYPE, json.dumps(body).encode()
