"""Indexes added to a platform table after the first migration reach databases made before them
(the first migration builds platform tables from today's definitions, so newer databases have them)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command

from worklink.migrations import alembic_config, upgrade
from worklink.service import get_service

REVIEW_INDEXES = {"ix_audit_log_occurred_at", "ix_audit_log_resource_id"}
BEFORE = {"directory": "directory_0012", "adjustments": "adjustments_0012", "referrals": "referrals_0012",
          "notifications": "notifications_0015"}


def audit_indexes(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return {index["name"] for index in sa.inspect(engine).get_indexes("audit_log")}
    finally:
        engine.dispose()


@pytest.mark.parametrize("service", sorted(BEFORE))
def test_an_older_database_gets_the_audit_review_indexes_and_a_downgrade_removes_them(database_url, service):
    migrations = get_service(service).migrations_dir
    upgrade(migrations, database_url, BEFORE[service])
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:  # as a database made before the indexes were declared
        for name in REVIEW_INDEXES:
            conn.execute(sa.text(f"DROP INDEX {name}"))
    engine.dispose()
    assert not audit_indexes(database_url) & REVIEW_INDEXES

    upgrade(migrations, database_url)
    assert REVIEW_INDEXES <= audit_indexes(database_url)
    command.downgrade(alembic_config(migrations, database_url), BEFORE[service])
    assert not audit_indexes(database_url) & REVIEW_INDEXES
    upgrade(migrations, database_url)  # and again: nothing fails on indexes that are there
    assert REVIEW_INDEXES <= audit_indexes(database_url)
