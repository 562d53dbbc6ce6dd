"""The shared load generator counts what it sends: requests, errors and open-loop latencies."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.load import get, measure, percentile


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[str] = []

    def do_GET(self):
        status = 500 if self.path == "/broken" else 200
        body = b"{}"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()


def test_percentile_picks_the_rank():
    values = list(range(1, 101))
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile(values, 1.0)) == (51, 100, 100)
    assert percentile([], 0.5) != percentile([], 0.5)  # NaN: no data is not a latency of zero


def test_measure_counts_successes_and_latencies(server):
    result = measure(server, get(["/a", "/b"]), seconds=0.5, clients=2, processes=2, warm_up=0)
    assert result.rps > 0 and result.errors == 0
    assert 0 < result.p50_ms <= result.p99_ms < 1000
    assert result.latency_rate == pytest.approx(result.rps / 2)


def test_measure_counts_unexpected_statuses_as_errors(server):
    result = measure(server, get(["/broken"]), seconds=0.3, clients=2, processes=1, warm_up=0, latency=False)
    assert result.rps == 0 and result.errors > 0


def test_compare_interleaves_rounds_and_reports_ratios_against_the_baseline(server):
    import os

    from bench.load import Target, compare, median

    assert median([3, 1, 2]) == 2 and median([4, 1, 3, 2]) == 2.5
    targets = [Target("hello", server, get(["/"])), Target("same", server, get(["/a"]), pid=os.getpid()),
               Target("broken", server, get(["/broken"]))]
    results = compare(targets, baseline="hello", seconds=0.6, rounds=2, clients=2, processes=1, warm_up=0)
    assert results["hello"].ratio == 1.0
    assert 0.2 < results["same"].ratio < 5  # the same server, so the same order of rate
    # Measured for a target with a pid (how much depends on the clock tick: 0 is possible for a
    # sub-tick run; test_server_cpu_counts_a_process_and_its_children checks the counting), not without.
    assert results["same"].cpu_ms is not None and results["same"].cpu_ms >= 0
    assert results["hello"].cpu_ms is None
    assert results["same"].p99_ms > 0 and results["same"].errors == 0
    assert results["broken"].ratio == 0 and results["broken"].errors > 0
    assert len(results["same"].rates) == 2 and results["same"].as_dict()["round_rates"] == results["same"].rates


def test_a_share_of_the_floor_is_taken_round_by_round():
    from bench.load import Measured, floor_line, round_ratio

    # Round by round 50% and 25%: the median of the two, not the ratio of the medians (600/1300 = 46%).
    endpoint, floor = Measured(rps=600, errors=0, rates=[1000, 200]), Measured(rps=1300, errors=0, rates=[2000, 800])
    assert round_ratio(endpoint, floor) == pytest.approx(0.375)
    endpoint.cpu_ms, floor.cpu_ms = 3.0, 1.75
    assert floor_line("issue", endpoint, "/write", floor) == (
        "issue is 37.5% of the floor's /write (1300 req/s; +1.25 ms server CPU a request beyond it)")
    assert round_ratio(endpoint, Measured(rps=0, errors=0, rates=[0, 0])) == 0.0


def test_server_cpu_counts_a_process_and_its_children():
    import os
    import subprocess
    import sys
    import time

    from bench.load import server_cpu_seconds

    assert server_cpu_seconds(None) == 0.0
    before = server_cpu_seconds(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "import time\nt = time.process_time()\n"
                              "while time.process_time() - t < 0.3: pass\ntime.sleep(30)"])
    try:
        deadline = time.monotonic() + 20
        while server_cpu_seconds(os.getpid()) - before < 0.25 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server_cpu_seconds(os.getpid()) - before >= 0.25  # the child's busy 0.3 s is counted
    finally:
        child.kill()
        child.wait()
