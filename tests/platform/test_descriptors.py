"""Open file descriptors: a disposed Database or service app gives back what it opened.

The whole suite builds thousands of apps. Each kept its SQLite writer-queue lock file open for the process's life,
and its pooled connections until garbage collection: the pytest process passed 1,024 descriptors, and select()
fails above that.
"""

from __future__ import annotations

import fcntl
import gc
import os
import threading

import pytest
import sqlalchemy as sa

from tests.apps import dispose_app
from worklink.config import Settings
from worklink.db import Database
from worklink.service import get_service

SERVICES = ("adjustments", "directory", "notifications", "referrals")


def open_descriptors() -> list[str]:
    """What each of this process's descriptors is open on."""
    targets = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            targets.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # the descriptor listdir itself used, closed meanwhile
            pass
    return targets


def lock_files_open(under) -> list[str]:
    """The writer-queue lock files open on files in `under` (a test's own directory)."""
    return [target for target in open_descriptors()
            if target.startswith(str(under)) and target.endswith("-writer.lock")]


def write_once(database: Database) -> None:
    """A write transaction: takes a turn in the writer queue (opening its lock file) and a pooled connection."""
    with database.transaction() as session:
        session.execute(sa.text("SELECT 1"))


def test_disposing_a_database_closes_its_writer_lock_file_and_it_still_writes_afterwards(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    write_once(database)
    assert lock_files_open(tmp_path) == [f"{tmp_path / 'db.sqlite'}-writer.lock"]

    database.dispose()
    assert lock_files_open(tmp_path) == []

    write_once(database)  # a later turn opens the lock file again
    assert len(lock_files_open(tmp_path)) == 1
    database.dispose()


def test_disposing_inside_a_write_keeps_the_lock_the_writer_holds(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with database.transaction():
        database.dispose()
        with open(f"{tmp_path / 'db.sqlite'}-writer.lock", "a+b") as other:  # as another process would
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    database.dispose()
    assert lock_files_open(tmp_path) == []


def test_disposing_while_another_thread_writes_leaves_that_writer_its_lock(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    writing, disposed = threading.Event(), threading.Event()

    def writer():
        with database.transaction():
            writing.set()
            disposed.wait(5)

    thread = threading.Thread(target=writer)
    thread.start()
    assert writing.wait(5)
    database.dispose()  # does not wait for the writer, and does not take its lock away
    assert len(lock_files_open(tmp_path)) == 1
    disposed.set()
    thread.join(5)
    database.dispose()
    assert lock_files_open(tmp_path) == []


def test_databases_on_one_file_share_one_queue_and_a_forgotten_one_gives_its_lock_file_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    first, second = Database(url), Database(url)
    assert first._writers is second._writers  # two flocks of one file in one thread would block each other
    write_once(first)
    del first, second  # never disposed
    gc.collect()
    assert lock_files_open(tmp_path) == []


@pytest.fixture()
def collector_off():
    """Counts that do not depend on when garbage collection happens to run."""
    gc.collect()
    gc.disable()
    yield
    gc.enable()


def build_app(service: str, tmp_path):
    tmp_path.mkdir()
    settings = Settings.from_env(service, {"WORKLINK_VAR": str(tmp_path), "WORKLINK_ENV": "test",
                                           "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
                                           f"{service.upper()}_DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}"})
    return get_service(service).create_app(settings=settings)


def test_building_and_disposing_service_apps_50_times_leaves_no_descriptor_open(tmp_path, collector_off):
    before = len(open_descriptors())
    for i in range(50):
        app = build_app(SERVICES[i % len(SERVICES)], tmp_path / str(i))
        database = app.extensions["worklink"].database
        database.ping()
        write_once(database)
        dispose_app(app)
    assert len(open_descriptors()) - before <= 3, sorted(set(open_descriptors()))
