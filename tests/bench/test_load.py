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
