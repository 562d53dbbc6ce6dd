"""feed_version: one counter the database itself moves on every committed change to what the open feed shows,
so each worker may keep the feed's answers until it moves (worklink_directory.feed_cache)

Triggers, not application code, move it: every way of writing (API, partner pages, import, the review clock,
the capacity consumer, a hand-run SQL fix) is counted. The table list is frozen here as it stood at this
revision; a later migration that adds a feed table adds its triggers (tests/services/directory/test_feed_cache.py
finds any table left out).

Revision ID: directory_0018
Revises: directory_0017
Create Date: 2026-11-28 02:10:00
"""
from alembic import op
import sqlalchemy as sa

revision = "directory_0018"
down_revision = "directory_0017"
branch_labels = None
depends_on = None

FEED_TABLES = ("organization", "service", "location", "service_at_location", "taxonomy", "taxonomy_term",
               "service_term", "schedule", "contact", "phone", "metadata", "search_document", "service_area",
               "service_capacity")
POSTGRES_ONLY = ("service_search",)  # SQLite's FTS5 index is a virtual table (no triggers); it moves with service

# PostgreSQL: counted once per transaction, at its commit (a deferred constraint trigger), so the counter's row
# lock is the last lock a writer takes and is held only while it commits: writers never wait on it while holding
# a listing's row (no deadlock with SELECT ... FOR UPDATE), and a 10,000-row import moves it once.
_POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION worklink_feed_changed() RETURNS trigger LANGUAGE plpgsql AS $feed$
BEGIN
    IF current_setting('worklink.feed_counted', true) IS DISTINCT FROM 'yes' THEN
        UPDATE feed_version SET version = version + 1 WHERE id = 1;
        PERFORM set_config('worklink.feed_counted', 'yes', true);
    END IF;
    RETURN NULL;
END
$feed$"""


def upgrade() -> None:
    op.create_table(
        "feed_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_feed_version_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_version")),
    )
    op.execute("INSERT INTO feed_version (id, version) VALUES (1, 0)")
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql(_POSTGRES_FUNCTION)
        for table in FEED_TABLES + POSTGRES_ONLY:
            bind.exec_driver_sql(f"CREATE CONSTRAINT TRIGGER feed_changed AFTER INSERT OR UPDATE OR DELETE ON {table} "
                                 f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION worklink_feed_changed()")
            bind.exec_driver_sql(f"CREATE TRIGGER feed_truncated AFTER TRUNCATE ON {table} "
                                 f"FOR EACH STATEMENT EXECUTE FUNCTION worklink_feed_changed()")
        return
    for table in FEED_TABLES:  # SQLite has one writer at a time: a plain row trigger cannot deadlock
        for change in ("INSERT", "UPDATE", "DELETE"):
            bind.exec_driver_sql(f"CREATE TRIGGER feed_changed_{table}_{change.lower()} AFTER {change} ON {table} "
                                 f"BEGIN UPDATE feed_version SET version = version + 1 WHERE id = 1; END")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table in FEED_TABLES + POSTGRES_ONLY:
            bind.exec_driver_sql(f"DROP TRIGGER IF EXISTS feed_changed ON {table}")
            bind.exec_driver_sql(f"DROP TRIGGER IF EXISTS feed_truncated ON {table}")
        bind.exec_driver_sql("DROP FUNCTION IF EXISTS worklink_feed_changed()")
    else:
        for table in FEED_TABLES:
            for change in ("insert", "update", "delete"):
                bind.exec_driver_sql(f"DROP TRIGGER IF EXISTS feed_changed_{table}_{change}")
    op.drop_table("feed_version")
