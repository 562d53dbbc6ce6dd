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
