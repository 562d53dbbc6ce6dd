"""HTTP load every service benchmark shares: a closed loop for throughput, an open loop for
latency, run in several processes so the load generator is not the bottleneck.

A scenario is a function `n -> (method, path, body, headers)`: request number n (unique
across processes and threads), so a write benchmark can make each body distinct.

- Throughput: closed loop, `clients` connections across `processes` for `seconds`.
- Latency: open loop at a fixed rate; each request's latency is measured from its
  *scheduled* start, so a slow server cannot hide its queueing (no coordinated omission).
"""

from __future__ import annotations

import http.client
import itertools
import threading
import time
from dataclasses import dataclass
from typing import Callable

from bench.harness import run_processes

Request = tuple[str, str, bytes | None, dict[str, str]]
Scenario = Callable[[int], Request]


def get(paths: list[str], headers: dict[str, str] | None = None) -> Scenario:
    """GET `paths` in rotation."""
    return lambda n: ("GET", paths[n % len(paths)], None, headers or {})


def _send(conn: http.client.HTTPConnection, request: Request) -> int:
    method, path, body, headers = request
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    return response.status


class _Client:
    """One keep-alive connection that reconnects after an error."""

    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def send(self, request: Request, ok_statuses: tuple[int, ...]) -> bool:
        try:
            return _send(self.conn, request) in ok_statuses
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            return False

    def close(self) -> None:
        self.conn.close()


def _numbers(process: int) -> itertools.count:
    return itertools.count(process * 10_000_000 + 1)


def closed_loop(port: int, scenario: Scenario, threads: int, seconds: float, process: int,
                ok_statuses: tuple[int, ...], queue) -> None:
    deadline = time.monotonic() + seconds
    numbers, lock = _numbers(process), threading.Lock()
    counts, errors = [0] * threads, [0] * threads

    def client(i: int) -> None:
        http_client = _Client(port)
        while time.monotonic() < deadline:
            with lock:
                n = next(numbers)
            ok = http_client.send(scenario(n), ok_statuses)
            counts[i] += ok
            errors[i] += not ok
        http_client.close()

    _run_threads(client, threads)
    queue.put((sum(counts), sum(errors)))


def open_loop(port: int, scenario: Scenario, threads: int, rate: float, seconds: float, process: int,
              ok_statuses: tuple[int, ...], queue) -> None:
    start, total = time.monotonic() + 0.2, int(rate * seconds)
    numbers, lock = _numbers(process), threading.Lock()
    latencies: list[float] = []
    errors, next_index = [0], [0]

    def client(_i: int) -> None:
        http_client = _Client(port)
        while True:
            with lock:
                i, n = next_index[0], next(numbers)
                next_index[0] += 1
            if i >= total:
                break
            scheduled = start + i / rate
            if (delay := scheduled - time.monotonic()) > 0:
                time.sleep(delay)
            ok = http_client.send(scenario(n), ok_statuses)
            with lock:
                latencies.append((time.monotonic() - scheduled) * 1000)
                errors[0] += not ok
        http_client.close()

    _run_threads(client, threads)
    queue.put((latencies, errors[0]))


def _run_threads(target, count: int) -> None:
    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * fraction), len(ordered) - 1)] if ordered else float("nan")


@dataclass
class Measured:
    rps: float
    errors: int
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    latency_rate: float = 0.0

    def as_dict(self) -> dict:
        return {"rps": self.rps, "errors": self.errors, "p50_ms": self.p50_ms, "p99_ms": self.p99_ms,
                "latency_rate": self.latency_rate}


def measure(port: int, scenario: Scenario, *, seconds: float, clients: int = 8, processes: int = 2,
            latency: bool = True, ok_statuses: tuple[int, ...] = (200,), warm_up: float = 1.0,
            latency_threads: int = 8) -> Measured:
    """Throughput (closed loop), then - if `latency` - latency at half that rate (open loop)."""
    per_process = max(clients // processes, 1)
    if warm_up:
        run_processes(closed_loop, lambda p: (port, scenario, per_process, warm_up, p + 50, ok_statuses), processes)
    done = run_processes(closed_loop, lambda p: (port, scenario, per_process, seconds, p, ok_statuses), processes)
    result = Measured(rps=sum(c for c, _e in done) / seconds, errors=sum(e for _c, e in done))
    if latency and result.rps > 0:
        result.latency_rate = result.rps / 2
        timed = run_processes(open_loop, lambda p: (port, scenario, latency_threads, result.latency_rate / processes,
                                                    seconds, p + 100, ok_statuses), processes)
        values = [x for lats, _e in timed for x in lats]
        result.errors += sum(e for _l, e in timed)
        result.p50_ms, result.p99_ms = percentile(values, 0.5), percentile(values, 0.99)
    return result


def ratio_line(name: str, measured: Measured, hello_rps: float, throughput_target: float, p99_target_ms: float,
               check_latency: bool = True) -> tuple[str, bool]:
    """One row of a benchmark's table, and whether it met its targets."""
    ratio = measured.rps / hello_rps if hello_rps else 0.0
    passed = ratio >= throughput_target and measured.errors == 0 and (
        not check_latency or measured.p99_ms <= p99_target_ms)
    latency = (f"{measured.p50_ms:8.1f} {measured.p99_ms:8.1f}  ({measured.latency_rate:.0f}/s)"
               if check_latency else f"{'':8} {'':8}")
    return (f"{name:10} {measured.rps:8.0f} {ratio:9.1%} {latency}          {'PASS' if passed else 'FAIL'}"
            f"  errors={measured.errors}"), passed

