"""Database transactions on SQLite: writers take the lock up front, readers never wait for it."""

from __future__ import annotations

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
