"""Test support for concurrent writers on PostgreSQL: hold a writer just after it locks its first listing."""

from __future__ import annotations

import sqlalchemy as sa

from worklink.db import create_db_engine


class ListingLockWatch:
    """Calls `on_listing_lock()` in the writer's thread after each statement that row-locks listings, and answers
    whether another session is waiting for a lock (seen in pg_stat_activity through a connection of its own)."""

    def __init__(self, app, postgres_url: str):
        self.engine = app.extensions["worklink"].database.engine
        self.watcher = create_db_engine(postgres_url)

    def __enter__(self):
        sa.event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc):
        sa.event.remove(self.engine, "after_cursor_execute", self._after)
        self.watcher.dispose()

    def _after(self, _conn, _cursor, statement, *_args) -> None:
        if "FOR UPDATE" in statement and "FROM service" in statement:
            self.on_listing_lock()

    def on_listing_lock(self) -> None:
        raise NotImplementedError

    def someone_waits_for_a_lock(self) -> bool:
        with self.watcher.connect() as conn:
            return bool(conn.scalar(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")))
