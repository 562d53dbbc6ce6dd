"""Requests gunicorn refuses before any app sees them - a request line over its limit (414), too many or too long
headers (431), a malformed request line or header (400) - answered as every WorkLink error is: problem+json
(RFC 9457), not gunicorn's HTML page. A client parsing our errors read that page as a broken response.

gunicorn writes those answers with `gunicorn.util.write_error`, which its workers look up on each error; `install`
puts ours in its place, once per process, from worklink.gunicorn_conf."""

from __future__ import annotations

import json

from gunicorn import util

from worklink.problems import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE, STATUS_TYPES


def problem_bytes(status: int, reason: str, detail: str) -> bytes:
    """The whole HTTP answer: status line, headers (closing the connection, as gunicorn does) and the problem."""
    problem = {"type": PROBLEM_TYPE_BASE + STATUS_TYPES.get(status, str(status)), "title": reason, "status": status}
    if detail:
        problem["detail"] = detail
    body = json.dumps(problem).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: {PROBLEM_MEDIA_TYPE}\r\n"
            f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\r\n")
    return head.encode("latin-1") + body


def write_problem(sock, status_int: int, reason: str, mesg: str) -> None:
    util.write_nonblock(sock, problem_bytes(int(status_int), reason, mesg))


def install() -> None:
    util.write_error = write_problem
