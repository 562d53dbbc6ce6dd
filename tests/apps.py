"""Service apps built for a test are disposed of when it ends.

An app's Database holds pooled connections (SQLite: the file, its -wal and -shm; PostgreSQL: a socket) and SQLite's
writer-queue lock file. Left to garbage collection they piled up: late in the whole suite the pytest process held
over 1,024 descriptors, and anything still using select() failed.
"""

from __future__ import annotations

from typing import Iterator


def dispose_app(app) -> None:
    """Close what a service app holds open (it stays usable: a later request reopens what it needs)."""
    app.extensions["worklink"].database.dispose()


def disposed_after(app) -> Iterator:
    """For a fixture: `yield from disposed_after(build())` gives the test the app, then disposes of it."""
    try:
        yield app
    finally:
        dispose_app(app)
