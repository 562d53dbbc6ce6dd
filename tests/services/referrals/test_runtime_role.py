"""A deployment migrates as the database's owner (REFERRALS_MIGRATIONS_DATABASE_URL) and runs the service as a
role granted rows, not tables: on real PostgreSQL the service works as that role - it records who did what,
prunes the audit trail past retention, renames a person reference - and cannot rewrite its own audit trail by
truncating it, disabling its guard, dropping it or changing an entry's action."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.postgres_roles import runtime_role, skip_unless_local_cluster
from worklink.cli import main
from worklink.db import Database
from worklink.retention import prune_audit_log

INSUFFICIENT_PRIVILEGE = "42501"


@pytest.fixture()
def owner_and_runtime(postgres_base_url):
    """A fresh database owned by the test role, and a plain role to run the service as: (owner URL, runtime URL)."""
    from worklink.devstack.postgres import create_database

    skip_unless_local_cluster(postgres_base_url)
    owner_url = create_database(postgres_base_url, f"wl_test_{uuid.uuid4().hex[:12]}")
    with runtime_role(owner_url) as runtime_url:  # drops the database too
        yield owner_url, runtime_url


def migrate(owner_url: str, runtime_url: str) -> str:
    result = CliRunner().invoke(main, ["db", "upgrade", "--service", "referrals"], env={
        "REFERRALS_DATABASE_URL": runtime_url, "REFERRALS_MIGRATIONS_DATABASE_URL": owner_url})
    assert result.exit_code == 0, result.output
    return result.output


def refused(runtime_url: str, statement: str) -> None:
    with psycopg.connect(runtime_url.replace("postgresql+psycopg", "postgresql")) as connection:
        with pytest.raises(psycopg.Error) as error:
            connection.execute(statement)
    assert error.value.sqlstate == INSUFFICIENT_PRIVILEGE, (statement, error.value)


def test_the_service_runs_as_a_role_that_cannot_rewrite_its_audit_trail(owner_and_runtime, make_harness):
    owner_url, runtime_url = owner_and_runtime
    assert "runs as" in migrate(owner_url, runtime_url)
    h = make_harness(runtime_url)  # its own upgrade, as the runtime role, finds nothing to do
    h.add_service()
    created = h.refer()
    assert created.status_code == 201, created.get_json()
    referral = created.get_json()["id"]
    assert h.client.get(f"/referrals/{referral}", headers=h.adviser()).status_code == 200

    database = Database(runtime_url)
    try:
        audit_log = sa.Table("audit_log", sa.MetaData(), autoload_with=database.engine)
        with database.engine.begin() as connection:
            recorded = connection.execute(sa.select(audit_log.c.action, audit_log.c.person_id).where(
                audit_log.c.resource_id == referral)).all()
            assert {"create", "read"} <= {action for action, _ in recorded}
            connection.execute(audit_log.insert().values(
                occurred_at=datetime.now(timezone.utc) - timedelta(days=3 * 366), actor="adviser-1",
                actor_role="adviser", actor_org="org-1", action="read", resource_type="referral",
                resource_id="long-ago", person_id="reference-1"))
            renamed = connection.execute(audit_log.update().where(audit_log.c.resource_id == referral)
                                         .values(person_id="erased-reference")).rowcount
        assert renamed == len(recorded)
        assert prune_audit_log(database, audit_log, 2, datetime.now(timezone.utc)) == 1
    finally:
        database.dispose()

    refused(runtime_url, "TRUNCATE audit_log")
    refused(runtime_url, "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
    refused(runtime_url, "DROP TABLE audit_log")
    refused(runtime_url, "UPDATE audit_log SET action = 'list'")
    refused(runtime_url, "DROP TABLE referrals")
    refused(runtime_url, "UPDATE alembic_version SET version_num = 'x'")

    migrate(owner_url, runtime_url)  # again: granted the same, still working
    assert h.client.get(f"/referrals/{referral}", headers=h.adviser()).status_code == 200
    refused(runtime_url, "TRUNCATE audit_log")
