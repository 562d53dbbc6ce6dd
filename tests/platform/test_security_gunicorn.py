"""The web server as deployed (gunicorn with worklink.gunicorn_conf): it believes no forwarded
header itself; only the app's WORKLINK_TRUSTED_PROXIES does."""

from __future__ import annotations

import http.client
import os
import socket

from bench.harness import start_gunicorn, stop


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _headers(port: int, **sent) -> dict[str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/healthz", headers={name.replace("_", "-"): value for name, value in sent.items()})
    response = conn.getresponse()
    response.read()
    conn.close()
    return dict(response.getheaders())


def test_a_forwarded_proto_counts_only_from_a_proxy_the_app_trusts(tmp_path):
    env = {**os.environ, "WORKLINK_VAR": str(tmp_path), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    env.pop("WORKLINK_TRUSTED_PROXIES", None)
    port = _free_port()
    server = start_gunicorn("worklink_directory.wsgi:app", port, env, probe="/healthz")
    try:
        assert "Strict-Transport-Security" not in _headers(port, X_Forwarded_Proto="https")
    finally:
        stop(server)
    port = _free_port()
    server = start_gunicorn("worklink_directory.wsgi:app", port, {**env, "WORKLINK_TRUSTED_PROXIES": "1"},
                            probe="/healthz")
    try:
        assert "max-age=" in _headers(port, X_Forwarded_Proto="https")["Strict-Transport-Security"]
    finally:
        stop(server)
