"""Helpers for real-browser tests: serve a Flask app on loopback, check pages with axe-core."""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator
from urllib.parse import quote

from werkzeug.serving import make_server


@contextlib.contextmanager
def live_server(app) -> Iterator[str]:
    """Serve `app` on a free loopback port in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


def submit(page, button) -> None:
    """Click a form's button (or a link) and wait for the next page to load, so what follows
    reads it and not the page before (is_visible and content() do not wait)."""
    with page.expect_navigation():
        button.click()


def sign_in(page, base: str, token: str, next_path: str = "/") -> None:
    """Sign in at `base` with a token, as a person pastes one on the development sign-in page, and wait for
    the page it leads to (`next_path`)."""
    page.goto(f"{base}/signin?next={quote(next_path, safe='/')}")
    page.get_by_label("Access token").fill(token)
    submit(page, page.get_by_role("button", name="Sign in"))


def assert_accessible(page) -> None:
    """No axe-core violations (WCAG 2.x A/AA rules and best practices) on the current page.

    axe-core is JavaScript: in a context made with java_script_enabled=False it never
    answers, so check accessibility in a normal context and test no-JS flows separately.
    """
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    violations = results.response["violations"]
    assert not violations, results.generate_report()


def sealed(app, token: str) -> str:
    """The session cookie a browser signed in with `token` holds (the token sealed under the service's key):
    for a test that sets the cookie instead of signing in through /signin."""
    return app.extensions["worklink"].cookie_seal.seal(token)


def width_at(page, width: int = 320, settle_ms: int = 5000) -> int:
    """Narrow the page to `width` and return how wide it then lays out. NHS.UK's header re-lays its menu (items
    into "More") in a script on the resize event, a moment after the viewport changes: read straight away, a
    signed-in admin's longer menu still stood 90 px past the edge. Waits up to `settle_ms` for the page to fit,
    then returns the width either way, so a page that never fits fails its assertion with the figure."""
    page.set_viewport_size({"width": width, "height": 800})
    measure = "document.documentElement.scrollWidth"
    try:
        page.wait_for_function(f"{measure} <= {width}", timeout=settle_ms)
    except Exception:  # noqa: BLE001 - playwright's TimeoutError: the figure below tells the test
        pass
    return page.evaluate(measure)
