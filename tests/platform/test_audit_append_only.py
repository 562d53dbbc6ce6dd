"""The audit trail is append-only in the database itself (worklink.migrations.guard_audit_log), for every
service, on SQLite and real PostgreSQL: an entry's person reference may be renamed (erasure, key rotation) and
an entry past retention deleted; any other change is refused whatever code asks, and the downgrade removes the
guard."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from worklink.db import Database
from worklink.migrations import upgrade
from worklink.retention import prune_audit_log
from worklink.service import installed_services

SERVICES = sorted(installed_services())


def add_entry(connection, table, *, age: timedelta = timedelta(0), resource_type: str = "referral") -> int:
    return connection.execute(table.insert().values(
        occurred_at=datetime.now(timezone.utc) - age, actor="adviser-1", actor_role="adviser", actor_org="org-1",
        action="read", resource_type=resource_type, resource_id="record-1", person_id="reference-1")
        .returning(table.c.id)).scalar_one()


def refused(engine, statement) -> None:
    with pytest.raises(sa.exc.DBAPIError, match="audit_log is append-only"):
        with engine.begin() as connection:
            connection.execute(statement)


@pytest.fixture(params=SERVICES)
def trail(request, database_url):
    """A service's database at its newest revision, and its audit_log."""
    service = installed_services()[request.param]
    upgrade(service.migrations_dir, database_url)
    engine = sa.create_engine(database_url)
    yield engine, sa.Table("audit_log", sa.MetaData(), autoload_with=engine), service, database_url
    engine.dispose()


def test_who_saw_a_record_cannot_be_rewritten_or_erased(trail):
    engine, table, _, _ = trail
    with engine.begin() as connection:
        entry = add_entry(connection, table)
    this = table.c.id == entry
    for change in ({"action": "list"}, {"actor": "someone-else"}, {"actor_org": None}, {"resource_id": "record-2"},
                   {"occurred_at": datetime(2020, 1, 1, tzinfo=timezone.utc)}, {"purpose": "care"}):
        refused(engine, table.update().where(this).values(**change))
    refused(engine, table.delete().where(this))
    if engine.dialect.name == "postgresql":
        refused(engine, sa.text("TRUNCATE audit_log"))
    with engine.connect() as connection:
        row = connection.execute(sa.select(table).where(this)).one()
    assert (row.action, row.actor, row.actor_org, row.resource_id) == ("read", "adviser-1", "org-1", "record-1")


def test_erasure_and_key_rotation_rename_the_person_and_retention_deletes_what_is_past_it(trail):
    engine, table, _, url = trail
    with engine.begin() as connection:
        entry = add_entry(connection, table)
        review = add_entry(connection, table, resource_type="audit_log")  # a review of reference-1's accesses
        old = add_entry(connection, table, age=timedelta(days=366 * 7))
        connection.execute(table.update().where(table.c.person_id == "reference-1").values(person_id="record-1"))
        connection.execute(table.update().where(table.c.id == review).values(resource_id="record-1"))
    with engine.connect() as connection:
        assert set(connection.scalars(sa.select(table.c.person_id))) == {"record-1"}
    database = Database(url)
    try:
        assert prune_audit_log(database, table, 6, datetime.now(timezone.utc)) == 1
    finally:
        database.dispose()
    with engine.connect() as connection:
        assert set(connection.scalars(sa.select(table.c.id))) == {entry, review}
    assert old not in (entry, review)


def test_the_downgrade_removes_the_guard(trail):
    from alembic import command

    from worklink.migrations import alembic_config

    from alembic.script import ScriptDirectory

    engine, table, service, url = trail
    config = alembic_config(service.migrations_dir, url)
    [guard] = [revision for revision in ScriptDirectory.from_config(config).walk_revisions()
               if revision.path.endswith("_audit_log_append_only.py")]
    command.downgrade(config, guard.down_revision)  # later migrations come down with it
    with engine.begin() as connection:
        entry = add_entry(connection, table)
        connection.execute(table.update().where(table.c.id == entry).values(action="list"))
        connection.execute(table.delete().where(table.c.id == entry))
    command.upgrade(config, "head")
    with engine.begin() as connection:
        entry = add_entry(connection, table)
    refused(engine, table.delete().where(table.c.id == entry))
