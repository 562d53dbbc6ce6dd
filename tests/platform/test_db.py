"""Database transactions on SQLite: writers take the lock up front, readers never wait for it."""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest
import sqlalchemy as sa

from worklink.db import Database

things = sa.Table("things", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True))


def test_sqlite_readers_run_beside_a_writer_and_writers_queue(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'db.sqlite'}", connect_args={"timeout": 0.2})
    things.metadata.create_all(database.engine)
    with database.transaction() as writer:
        writer.execute(things.insert().values(id=1))
        with database.sessions() as reader:  # a read is not blocked by the open write
            assert reader.execute(sa.select(sa.func.count()).select_from(things)).scalar_one() == 0
        with pytest.raises(sa.exc.OperationalError, match="locked"):
            with database.transaction():  # a second writer waits for the lock (here: 0.2 s, then gives up)
                pass
    with database.sessions() as reader:
        assert reader.execute(sa.select(sa.func.count()).select_from(things)).scalar_one() == 1


def test_a_writer_stuck_in_its_transaction_makes_the_others_give_up_not_pile_up(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    things.metadata.create_all(database.engine)
    database._writers.timeout = 0.2
    holding, release = threading.Event(), threading.Event()

    def stuck_writer() -> None:
        with database.transaction() as session:
            session.execute(things.insert().values(id=1))
            holding.set()
            release.wait(10)

    stuck = threading.Thread(target=stuck_writer)
    stuck.start()
    assert holding.wait(10)
    started = time.monotonic()
    with pytest.raises(sa.exc.OperationalError, match="no turn to write within 0.2 s"):
        with database.transaction() as session:
            session.execute(things.insert().values(id=2))
    assert 0.15 < time.monotonic() - started < 5
    release.set()
    stuck.join(10)
    with database.transaction() as session:  # the turn is free again
        session.execute(things.insert().values(id=3))
    with database.sessions() as reader:
        assert reader.scalars(sa.select(things.c.id).order_by(things.c.id)).all() == [1, 3]


def _write_in_threads(database: Database, worker: int, threads: int, writes: int, failures) -> None:
    database.engine.dispose(close=False)  # a forked child must not reuse its parent's connections

    def write(thread: int) -> None:
        for n in range(writes):
            try:
                with database.transaction() as session:
                    session.execute(things.insert().values(id=(worker * 100 + thread) * 1000 + n))
                    time.sleep(0.003)  # hold the lock longer than the busy timeout below
            except sa.exc.OperationalError as exc:
                failures.put(str(exc))

    pool = [threading.Thread(target=write, args=(t,)) for t in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def test_sqlite_writers_in_several_processes_and_threads_queue_for_the_lock(tmp_path):
    """Like gunicorn: the app (and its database) made before the workers fork. Writers queue
    in the kernel, not in SQLite's busy handler: with a 1 ms busy timeout and each transaction
    holding the lock 3 ms, any writer that reached SQLite's lock while another held it would fail."""
    database = Database(f"sqlite:///{tmp_path / 'db.sqlite'}", connect_args={"timeout": 0.001})
    things.metadata.create_all(database.engine)
    with database.transaction() as session:  # the parent opens its lock file before forking
        session.execute(things.insert().values(id=-1))
    context = multiprocessing.get_context("fork")
    failures = context.Queue()
    workers = [context.Process(target=_write_in_threads, args=(database, w, 3, 10, failures)) for w in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    errors = []
    while not failures.empty():
        errors.append(failures.get())
    assert errors == []
    with database.sessions() as reader:
        assert reader.execute(sa.select(sa.func.count()).select_from(things)).scalar_one() == 1 + 3 * 3 * 10


def _kill_backends(url: str, database: Database) -> None:
    """Terminate the pooled connection's server process, as a database restart would."""
    with database.engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    admin = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        assert conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})").scalar_one()
    admin.dispose()


def test_postgresql_replaces_a_dead_idle_connection_before_a_request_sees_it(postgres_url, monkeypatch):
    from worklink import db

    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)  # every reuse counts as "after idle"
    database = Database(postgres_url, pool_size=1, max_overflow=0)
    _kill_backends(postgres_url, database)
    with database.sessions() as session:  # the dead connection was pinged, dropped and replaced
        assert session.execute(sa.text("SELECT 1")).scalar_one() == 1
    database.dispose()


def test_postgresql_skips_the_ping_for_a_connection_in_steady_use(postgres_url):
    database = Database(postgres_url, pool_size=1, max_overflow=0)
    statements = []
    sa.event.listen(database.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    pings = []
    original = database.engine.dialect.do_ping
    database.engine.dialect.do_ping = lambda conn: pings.append(1) or original(conn)
    for _ in range(3):
        with database.sessions() as session:
            session.execute(sa.text("SELECT 1"))
    assert pings == []  # used moments ago: no extra round trip
    _kill_backends(postgres_url, database)
    with pytest.raises(sa.exc.OperationalError):  # dying while in use fails that one statement ...
        with database.sessions() as session:
            session.execute(sa.text("SELECT 1"))
    with database.sessions() as session:  # ... and the pool reconnects for the next
        assert session.execute(sa.text("SELECT 1")).scalar_one() == 1
    database.dispose()


def test_a_sqlite_writer_gives_up_at_its_deadline_however_it_waits(tmp_path):
    """Queued behind other threads and then behind a lock held outside the queue (another
    tool's transaction), each writer fails when its one deadline passes - not after its
    turn's wait plus a whole busy timeout more."""
    import sqlite3

    path = tmp_path / "db.sqlite"
    database = Database(f"sqlite:///{path}")  # SQLite's own busy timeout: 30 s
    things.metadata.create_all(database.engine)
    database._writers.timeout = 1.5
    outsider = sqlite3.connect(path, isolation_level=None)
    outsider.execute("BEGIN EXCLUSIVE")
    waited: list[float] = []
    errors: list[str] = []

    def write(n: int) -> None:
        started = time.monotonic()
        try:
            with database.transaction() as session:
                session.execute(things.insert().values(id=n))
        except sa.exc.OperationalError as exc:
            errors.append(str(exc))
        waited.append(time.monotonic() - started)

    try:
        writers = [threading.Thread(target=write, args=(n,)) for n in range(3)]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join(60)
    finally:
        outsider.execute("ROLLBACK")
        outsider.close()
    assert len(errors) == 3 and all("locked" in error for error in errors), errors
    assert max(waited) < 4, waited  # 1.5 s deadline; without one a writer waited 30 s and more
    with database.transaction() as session:  # the lock is free again: writing works
        session.execute(things.insert().values(id=7))


def test_a_sqlite_writer_past_its_deadline_is_a_503_with_retry_after(tmp_path):
    import sqlite3

    from flask.views import MethodView
    from flask_smorest import Blueprint

    from worklink.config import Settings
    from worklink.db import NAMING_CONVENTION, platform_tables
    from worklink.web import create_service_app, service_context

    blp = Blueprint("writes", __name__)

    @blp.route("/things")
    class Things(MethodView):
        @blp.response(201)
        def post(self):
            with service_context().database.transaction() as session:
                session.execute(things.insert().values(id=1))
            return {}

    settings = Settings.from_env("testsvc", {"WORKLINK_VAR": str(tmp_path)})
    app, api = create_service_app("testsvc", __name__, tables=platform_tables(
        sa.MetaData(naming_convention=NAMING_CONVENTION)), title="Test", description="Test", settings=settings)
    api.register_blueprint(blp)
    database = app.extensions["worklink"].database
    things.metadata.create_all(database.engine)
    database._writers.timeout = 1.0
    outsider = sqlite3.connect(database.engine.url.database, isolation_level=None)
    outsider.execute("BEGIN EXCLUSIVE")
    try:
        response = app.test_client().post("/things", json={})
    finally:
        outsider.execute("ROLLBACK")
        outsider.close()
    assert response.status_code == 503, response.data
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"] == "5"


def test_timezone_aware_columns_read_back_in_utc_on_both_databases(database_url):
    """SQLite keeps no offset: without help it hands back naive datetimes (sent without an
    offset, which is not RFC 3339) and stores an aware value's wall-clock time, not its instant."""
    from datetime import datetime, timedelta, timezone

    metadata = sa.MetaData()
    moments = sa.Table("moments", metadata, sa.Column("id", sa.Integer, primary_key=True),
                       sa.Column("at", sa.DateTime(timezone=True)), sa.Column("local", sa.DateTime()))
    database = Database(database_url)
    metadata.create_all(database.engine)
    summer_in_london = datetime(2026, 6, 1, 12, 30, tzinfo=timezone(timedelta(hours=1)))
    with database.transaction() as session:
        session.execute(moments.insert().values(id=1, at=summer_in_london, local=datetime(2026, 6, 1, 12, 30)))
        session.execute(moments.insert().values(id=2, at=None, local=None))
    with database.sessions() as session:
        rows = session.execute(sa.select(moments).order_by(moments.c.id)).all()
        earlier = session.scalars(sa.select(moments.c.id).where(
            moments.c.at < datetime(2026, 6, 1, 11, 45, tzinfo=timezone.utc))).all()
    at, local = rows[0].at, rows[0].local
    assert at == summer_in_london and at.utcoffset() == timedelta(0), at  # the same instant, in UTC
    assert at.isoformat() == "2026-06-01T11:30:00+00:00"
    assert local == datetime(2026, 6, 1, 12, 30) and local.tzinfo is None  # a naive column stays naive
    assert rows[1].at is None
    assert earlier == [1]  # compared as the instant it is
    if database.dialect == "sqlite":  # text another writer left, in other shapes, reads as UTC too
        with database.transaction() as session:
            session.execute(sa.text("INSERT INTO moments (id, at) VALUES (3, '2026-06-01 11:30:00'), "
                                    "(4, '2026-06-01T11:30:00.5')"))
        with database.sessions() as session:
            assert session.scalars(sa.select(moments.c.at).where(moments.c.id > 2).order_by(moments.c.id)).all() == [
                datetime(2026, 6, 1, 11, 30, tzinfo=timezone.utc),
                datetime(2026, 6, 1, 11, 30, 0, 500000, tzinfo=timezone.utc)]
