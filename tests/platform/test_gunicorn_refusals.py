"""What gunicorn refuses before the app sees it is answered as every WorkLink error is: application/problem+json
(worklink.gunicorn_errors), not gunicorn's own HTML page - on a real gunicorn with worklink.gunicorn_conf."""

from __future__ import annotations

import json
import os
import socket

import pytest

from bench.harness import start_gunicorn, stop
from tests.platform.test_security_gunicorn import _free_port


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    env = {**os.environ, "WORKLINK_VAR": str(tmp_path_factory.mktemp("var")), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    port = _free_port()
    server = start_gunicorn("worklink_directory.wsgi:app", port, env, probe="/healthz")
    yield port
    stop(server)


def answer(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize("raw, status, kind", [
    (b"GET /services?q=" + b"x" * 5000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n", 414, "uri-too-long"),
    (b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Long: " + b"y" * 9000 + b"\r\n\r\n", 431,
     "request-header-fields-too-large"),
    (b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nBad Header: z\r\n\r\n", 400, "bad-request"),
])
def test_a_request_gunicorn_refuses_gets_a_problem(port, raw, status, kind):
    got, headers, body = answer(port, raw)
    assert got == status
    assert headers["content-type"] == "application/problem+json"
    assert int(headers["content-length"]) == len(body)
    problem = json.loads(body)
    assert problem["status"] == status and problem["type"].endswith("/" + kind) and problem["title"]


def test_the_app_still_answers_after_a_refusal(port):
    answer(port, b"GET /" + b"x" * 5000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
    got, headers, body = answer(port, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    assert got == 200 and json.loads(body)["status"] == "ok"
