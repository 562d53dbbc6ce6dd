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
from dataclasses import dataclass, field
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
    ratio: float | None = None  # median over rounds of rps / the baseline's rps in the same round
    cpu_ms: float | None = None  # server CPU (all gunicorn processes) per request
    rates: list[float] = field(default_factory=list)  # req/s in each interleaved round, in order

    def as_dict(self) -> dict:
        return {"rps": self.rps, "errors": self.errors, "p50_ms": self.p50_ms, "p99_ms": self.p99_ms,
                "latency_rate": self.latency_rate, "ratio": self.ratio, "cpu_ms_per_request": self.cpu_ms,
                "round_rates": self.rates}


def round_ratio(measured: Measured, reference: Measured) -> float:
    """The median over rounds of measured's rate / reference's in the same round (both from one `compare`)."""
    ratios = [a / b for a, b in zip(measured.rates, reference.rates) if b]
    return median(ratios) if ratios else 0.0


@dataclass
class Target:
    """A scenario against a running server; `pid` (the gunicorn master) lets us count its CPU."""

    name: str
    port: int
    scenario: Scenario
    pid: int | None = None
    ok_statuses: tuple[int, ...] = (200,)


def server_cpu_seconds(pid: int | None) -> float:
    """User + system CPU of a process and its children so far (0 without psutil or a pid)."""
    if pid is None:
        return 0.0
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with the test extras
        return 0.0
    master = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in [master, *master.children(recursive=True)])


def compare(targets: list[Target], *, baseline: str, seconds: float, rounds: int = 3, clients: int = 8,
            processes: int = 2, latency: bool = True, warm_up: float = 1.0) -> dict[str, Measured]:
    """Throughput of every target in `rounds` interleaved rounds (baseline, a, b, baseline, a, b, ...),
    so a machine whose load drifts still compares like with like: each ratio is taken against the
    baseline's rate in the same round, and the median ratio reported. Then, unless `latency` is
    off, each non-baseline target's latency at half its median rate (open loop)."""
    per_process, phase = max(clients // processes, 1), seconds / rounds
    for t in targets:
        if warm_up:
            run_processes(closed_loop, lambda p: (t.port, t.scenario, per_process, warm_up, p + 50, t.ok_statuses),
                          processes)
    rates: dict[str, list[float]] = {t.name: [] for t in targets}
    errors = {t.name: 0 for t in targets}
    cpu = {t.name: 0.0 for t in targets}
    for _ in range(rounds):
        for t in targets:
            before = server_cpu_seconds(t.pid)
            done = run_processes(closed_loop, lambda p: (t.port, t.scenario, per_process, phase, p, t.ok_statuses),
                                 processes)
            cpu[t.name] += server_cpu_seconds(t.pid) - before
            rates[t.name].append(sum(c for c, _e in done) / phase)
            errors[t.name] += sum(e for _c, e in done)
    results = {}
    for t in targets:
        ratios = [r / b for r, b in zip(rates[t.name], rates[baseline]) if b]
        requests = sum(rates[t.name]) * phase
        results[t.name] = Measured(rps=median(rates[t.name]), errors=errors[t.name],
                                   ratio=median(ratios) if ratios else 0.0, rates=rates[t.name],
                                   cpu_ms=cpu[t.name] * 1000 / requests if requests and t.pid else None)
    if latency:
        for t in targets:
            result = results[t.name]
            if t.name == baseline or result.rps <= 0:
                continue
            result.latency_rate = result.rps / 2
            timed = run_processes(open_loop, lambda p: (t.port, t.scenario, 8, result.latency_rate / processes,
                                                        seconds / rounds * 2, p + 100, t.ok_statuses), processes)
            values = [x for lats, _e in timed for x in lats]
            result.errors += sum(e for _l, e in timed)
            result.p50_ms, result.p99_ms = percentile(values, 0.5), percentile(values, 0.99)
    return results


def median(values: list[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


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
    ratio = measured.ratio if measured.ratio is not None else (measured.rps / hello_rps if hello_rps else 0.0)
    passed = ratio >= throughput_target and measured.errors == 0 and (
        not check_latency or measured.p99_ms <= p99_target_ms)
    latency = (f"{measured.p50_ms:8.1f} {measured.p99_ms:8.1f} {measured.latency_rate:7.0f}/s"
               if check_latency else f"{'':8} {'':8} {'':9}")
    cpu = f"{measured.cpu_ms:7.2f}" if measured.cpu_ms is not None else f"{'':7}"
    return (f"{name:10} {measured.rps:8.0f} {ratio:9.1%} {latency} {cpu}   {'PASS' if passed else 'FAIL'}"
            f"  errors={measured.errors}"), passed


HEADER = (f"{'scenario':10} {'req/s':>8} {'vs hello':>9} {'p50 ms':>8} {'p99 ms':>8} {'at':>9} {'cpu ms':>7}   verdict"
          "\n(req/s: median of interleaved rounds; vs hello: median of per-round ratios; p50/p99: open loop at"
          " the rate shown; cpu ms: server CPU per request, all gunicorn processes)")


def floor_line(name: str, measured: Measured, floor_name: str, floor: Measured) -> str:
    """Context, not a verdict: the endpoint's rate as a share of the bare platform's matching endpoint
    (bench/floor_app.py) in the same rounds, and the server CPU it spends beyond it."""
    extra = (f"; {measured.cpu_ms - floor.cpu_ms:+.2f} ms server CPU a request beyond it"
             if measured.cpu_ms is not None and floor.cpu_ms is not None else "")
    return f"{name} is {round_ratio(measured, floor):.1%} of the floor's {floor_name} ({floor.rps:.0f} req/s{extra})"


def baseline_line(measured: Measured) -> str:
    cpu = f"{measured.cpu_ms:7.2f}" if measured.cpu_ms is not None else f"{'':7}"
    return f"{'hello':10} {measured.rps:8.0f} {'100%':>9} {'':8} {'':8} {'':9} {cpu}"
