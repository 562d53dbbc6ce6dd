"""Alembic, wired once for every service.

Each service keeps its own `migrations/` (its own `alembic_version` in its own
database); its `env.py` is two lines that call `run_migrations` here.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config

from worklink.db import NAMING_CONVENTION, create_db_engine, platform_tables


def alembic_config(migrations_dir: Path, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(migrations_dir: Path, url: str, revision: str = "head", *, runtime_url: str | None = None) -> None:
    """Migrate the database at `url` (its owner's) to `revision`; then, if the service runs as another role
    (`runtime_url`), grant that role what the service needs (grant_runtime_role)."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(migrations_dir, url), revision)
    if runtime_url:
        grant_runtime_role(url, runtime_url)


def upgrade_service_database(migrations_dir: Path, settings, revision: str = "head") -> None:
    """A service's database migrated as its owner (Settings.migrations_database_url), its runtime role granted."""
    upgrade(migrations_dir, settings.migrations_database_url or settings.database_url, revision,
            runtime_url=settings.database_url)


def managed_objects(metadata: sa.MetaData):
    """An Alembic `include_object` that skips tables the metadata lists in
    `info["unmanaged_tables"]` (and, for SQLite FTS5, their `<name>_*` shadow tables):
    structures a migration creates per dialect that SQLAlchemy cannot describe."""
    unmanaged = tuple(metadata.info.get("unmanaged_tables", ()))

    def include_object(obj, name, type_, reflected, compare_to) -> bool:
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", "")
        return not any(table == u or table.startswith(f"{u}_") for u in unmanaged)

    return include_object


MIGRATION_LOCK = 0x776C_6D69_6772  # "wlmigr": a PostgreSQL advisory lock key, per database


def run_migrations(target_metadata: sa.MetaData) -> None:
    """Body of every service's migrations/env.py."""
    url = context.config.get_main_option("sqlalchemy.url")
    options = dict(target_metadata=target_metadata, compare_type=True,
                   include_object=managed_objects(target_metadata),
                   render_as_batch=url.startswith("sqlite"))  # SQLite needs batch ALTERs
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_db_engine(url, poolclass=sa.pool.NullPool)
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        sa.event.listen(engine, "connect", _foreign_keys_off)
    with engine.connect() as connection:
        # The platform's SQLite engine issues BEGIN itself, so DDL is transactional there too: one
        # transaction for the whole run (alembic would otherwise commit SQLite migrations one by one).
        context.configure(connection=connection, transactional_ddl=True, **options)
        with context.begin_transaction():
            if engine.dialect.name == "postgresql":
                # Every web replica migrates as it starts (deploy/docker/entrypoint.sh): one at a time, each
                # reading the version after the one before it committed, so the next finds nothing to do.
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            context.run_migrations()
            if sqlite:
                _check_foreign_keys(connection)
    engine.dispose()


def _foreign_keys_off(dbapi_connection, _record) -> None:
    """SQLite's procedure for changing a table's shape: foreign keys off for the whole run (a batch
    ALTER rebuilds the table, and dropping the old copy fails while rows elsewhere point at it), then
    checked before anything commits. Set on connecting: the pragma does nothing inside a transaction."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=OFF")
    cursor.close()


def _check_foreign_keys(connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise RuntimeError(f"the migrations would leave {len(broken)} rows pointing at nothing, e.g. "
                           f"{broken[0][0]} row {broken[0][1]} -> {broken[0][2]}; nothing was changed")


def create_platform_tables(bind) -> None:
    """First migration of every service: outbox, processed_events, audit_log (platform tables added
    later, such as web_sessions, come in revisions of their own)."""
    tables = _first_platform_tables()
    tables[0].metadata.create_all(bind, tables=tables)


def drop_platform_tables(bind) -> None:
    tables = _first_platform_tables()
    tables[0].metadata.drop_all(bind, tables=tables)


def add_platform_indexes(bind, *names: str) -> None:
    """Platform-table indexes added after a service's first migration: created where missing. The
    first migration builds the tables from today's definitions, so a database made since has them
    already; one made before does not."""
    for table, index in _platform_indexes(names):
        if index.name not in {found["name"] for found in sa.inspect(bind).get_indexes(table.name)}:
            index.create(bind)


def drop_platform_indexes(bind, *names: str) -> None:
    for table, index in _platform_indexes(names):
        if index.name in {found["name"] for found in sa.inspect(bind).get_indexes(table.name)}:
            index.drop(bind)


def add_platform_columns(op, table: str, *names: str) -> None:
    """Nullable columns added to a platform table after it was made: added where missing, as today's
    definition declares them (the same revision in every service)."""
    present = _column_names(op, table)
    with op.batch_alter_table(table) as batch:
        for column in _platform_columns(table, names):
            if column.name not in present:
                batch.add_column(sa.Column(column.name, column.type, nullable=True))


def drop_platform_columns(op, table: str, *names: str) -> None:
    present = _column_names(op, table)
    with op.batch_alter_table(table) as batch:
        for column in _platform_columns(table, names):
            if column.name in present:
                batch.drop_column(column.name)


def _column_names(op, table: str) -> set[str]:
    return {column["name"] for column in sa.inspect(op.get_bind()).get_columns(table)}


def _platform_columns(table: str, names: tuple[str, ...]) -> list[sa.Column]:
    declared = platform_tables(sa.MetaData(naming_convention=NAMING_CONVENTION)).outbox.metadata.tables[table].c
    missing = [name for name in names if name not in declared]
    if missing:
        raise ValueError(f"no platform column {table}.{missing[0]}")
    return [declared[name] for name in names]


def _platform_indexes(names: tuple[str, ...]) -> list[tuple[sa.Table, sa.Index]]:
    tables = platform_tables(sa.MetaData(naming_convention=NAMING_CONVENTION))
    found = [(table, index) for table in tables.audit_log.metadata.sorted_tables for index in table.indexes
             if index.name in names]
    if len(found) != len(names):
        raise ValueError(f"no platform index among {sorted(set(names) - {i.name for _, i in found})}")
    return found


def _first_platform_tables() -> list[sa.Table]:
    tables = platform_tables(sa.MetaData(naming_convention=NAMING_CONVENTION))
    return [tables.outbox, tables.processed_events, tables.audit_log]


# --- the audit trail is append-only -------------------------------------------------------------------------
# Every access to a person's record is written to audit_log; the service's own code may change an entry in two
# ways only, and the database refuses anything else, whatever code asks: an erasure or a key rotation renames the
# person reference (person_id; for a review of the trail, the record reviewed: resource_id), and retention deletes
# entries past the period, which is never under AUDIT_KEPT_AT_LEAST_YEARS (worklink.retention). A bug, or an SQL
# injection, can no longer rewrite who saw a record, or erase that they did. The role that owns the table can still
# drop or disable the trigger: a deployment migrates as the owner and runs the service as another role
# (grant_runtime_role below; README, Architecture, "Auth").
# SQLite drops a table's triggers when a batch migration rebuilds it: such a migration of audit_log installs the
# guard again.
AUDIT_KEPT_AT_LEAST_YEARS = 1
_AUDIT_FIXED = ("id", "occurred_at", "actor", "actor_role", "actor_org", "action", "resource_type", "purpose",
                "request_id")
_AUDIT_REFUSED = ("audit_log is append-only: the person reference of an entry may be renamed (erasure, key rotation) "
                  "and an entry past retention deleted, nothing else")


def guard_audit_log(bind) -> None:
    """Install the audit trail's append-only guard (a trigger) on this database's audit_log."""
    changed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in _AUDIT_FIXED)
    renamed_record = "(NEW.resource_id IS DISTINCT FROM OLD.resource_id AND OLD.resource_type <> 'audit_log')"
    years = AUDIT_KEPT_AT_LEAST_YEARS
    if bind.dialect.name == "postgresql":  # '%%': psycopg reads a lone % as a placeholder
        bind.exec_driver_sql(f"""
            CREATE OR REPLACE FUNCTION worklink_audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $guard$
            BEGIN
                IF TG_OP = 'TRUNCATE' THEN
                    RAISE EXCEPTION '{_AUDIT_REFUSED}';
                ELSIF TG_OP = 'DELETE' THEN
                    IF OLD.occurred_at >= now() - interval '{years} year' THEN
                        RAISE EXCEPTION '{_AUDIT_REFUSED} (entry %% is under {years} year old)', OLD.id;
                    END IF;
                    RETURN OLD;
                ELSIF {changed} OR {renamed_record} THEN
                    RAISE EXCEPTION '{_AUDIT_REFUSED} (entry %%)', OLD.id;
                END IF;
                RETURN NEW;
            END
            $guard$""")
        bind.exec_driver_sql("CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
                             "FOR EACH ROW EXECUTE FUNCTION worklink_audit_log_guard()")
        bind.exec_driver_sql("CREATE TRIGGER audit_log_never_truncated BEFORE TRUNCATE ON audit_log "
                             "FOR EACH STATEMENT EXECUTE FUNCTION worklink_audit_log_guard()")
        return
    changed = changed.replace("IS DISTINCT FROM", "IS NOT")
    renamed_record = renamed_record.replace("IS DISTINCT FROM", "IS NOT")
    bind.exec_driver_sql(f"CREATE TRIGGER audit_log_append_only_update BEFORE UPDATE ON audit_log "
                         f"WHEN {changed} OR {renamed_record} BEGIN SELECT RAISE(ABORT, '{_AUDIT_REFUSED}'); END")
    # occurred_at is stored as 'YYYY-MM-DD HH:MM:SS.ffffff' UTC, which compares as text with datetime()'s form.
    bind.exec_driver_sql(f"CREATE TRIGGER audit_log_append_only_delete BEFORE DELETE ON audit_log "
                         f"WHEN OLD.occurred_at >= datetime('now', '-{years} year') "
                         f"BEGIN SELECT RAISE(ABORT, '{_AUDIT_REFUSED}'); END")


def unguard_audit_log(bind) -> None:
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_never_truncated ON audit_log")
        bind.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        bind.exec_driver_sql("DROP FUNCTION IF EXISTS worklink_audit_log_guard()")
        return
    bind.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_append_only_update")
    bind.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_append_only_delete")


# --- the running service is not the owner ------------------------------------------------------------------
# With <SERVICE>_MIGRATIONS_DATABASE_URL naming the owner, the service runs as a role that may read and change rows
# and nothing else: it cannot drop, alter or truncate a table, nor disable audit_log's trigger, and on audit_log it
# may change only the person reference the trigger lets it rename. Granted again after every upgrade (REVOKE ALL,
# then exactly these): tables a migration adds are covered, and anything granted by hand besides is taken back.
RUNTIME_TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
RUNTIME_PRIVILEGES = {"audit_log": "SELECT, INSERT, DELETE, UPDATE (person_id, resource_id)",
                      "alembic_version": "SELECT"}  # `worklink db upgrade` at head only reads it


_THIS_SCHEMA = "(SELECT oid FROM pg_namespace WHERE nspname = current_schema())"


class RuntimeRoleError(RuntimeError):
    """The runtime role could undo what the grants withhold: it owns, or is, the owner."""


def grant_runtime_role(owner_url: str, runtime_url: str) -> str | None:
    """As the owner (`owner_url`), grant the role of `runtime_url` what the service needs and no more; the role
    granted, or None when there is none to grant (SQLite, or one role for both)."""
    from sqlalchemy.engine import make_url

    role = make_url(runtime_url).username
    if not make_url(owner_url).drivername.startswith("postgresql"):
        return None
    engine = create_db_engine(owner_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            owner = connection.exec_driver_sql("SELECT current_user").scalar_one()
            if role in (None, owner):
                return None
            # Two replicas granting at once fail on "tuple concurrently updated": one at a time, as migrations.
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            _refuse_an_owning_runtime_role(connection, role, owner)
            for statement in _runtime_grants(connection, role):
                connection.exec_driver_sql(statement)
            _refuse_a_runtime_role_that_can_create(connection, role)
    finally:
        engine.dispose()
    return role


def _refuse_an_owning_runtime_role(connection, role: str, owner: str) -> None:
    found = connection.exec_driver_sql(
        f"SELECT r.rolsuper, pg_has_role(r.oid, %(owner)s, 'MEMBER'), "
        f"       (SELECT string_agg(c.relname, ', ' ORDER BY c.relname) FROM pg_class c "
        f"         WHERE c.relnamespace = {_THIS_SCHEMA} AND c.relowner = r.oid) "
        f"FROM pg_roles r WHERE r.rolname = %(role)s", {"role": role, "owner": owner}).one_or_none()
    if found is None:
        raise RuntimeRoleError(f"the database has no role {role!r} to grant (the service's database URL names it): "
                               "create it first (deploy/postgres/runtime-roles.sql shows how)")
    superuser, member, owned = found
    if superuser or member:
        raise RuntimeRoleError(f"role {role!r} is {'a superuser' if superuser else f'a member of {owner!r}'}: it "
                               "could alter or drop the tables whatever is granted; run the service as a plain role")
    if owned:
        raise RuntimeRoleError(f"role {role!r} owns {owned}: as owner it could alter or drop them; "
                               f"REASSIGN OWNED BY {role} TO {owner} first (as the database's owner)")


def _refuse_a_runtime_role_that_can_create(connection, role: str) -> None:
    """CREATE on the schema (PUBLIC's by default before PostgreSQL 15) would let the runtime role add a table,
    function or operator the service's unqualified names then find (CVE-2018-1058's pattern): the grants withhold it."""
    schema, can_create = connection.exec_driver_sql(
        "SELECT current_schema(), has_schema_privilege(%(role)s, current_schema(), 'CREATE')", {"role": role}).one()
    if can_create:
        raise RuntimeRoleError(f"role {role!r} may create objects in schema {schema} (granted to PUBLIC, as "
                               "PostgreSQL before 15 does, or to a role it belongs to): it could put a table or "
                               "function in the service's way; REVOKE CREATE ON SCHEMA "
                               f"{schema} FROM PUBLIC first (as the schema's owner)")


def _runtime_grants(connection, role: str) -> list[str]:
    quote = connection.dialect.identifier_preparer.quote
    schema = quote(connection.exec_driver_sql("SELECT current_schema()").scalar_one())
    database = quote(connection.exec_driver_sql("SELECT current_database()").scalar_one())
    tables = connection.exec_driver_sql(
        f"SELECT relname FROM pg_class WHERE relnamespace = {_THIS_SCHEMA} "
        "AND relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY relname").scalars().all()
    grantee = quote(role)
    return [f"GRANT CONNECT ON DATABASE {database} TO {grantee}",
            f"GRANT USAGE ON SCHEMA {schema} TO {grantee}",
            f"REVOKE CREATE ON SCHEMA {schema} FROM {grantee}",
            f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {grantee}",  # column grants with them
            f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {grantee}",
            *(f"GRANT {RUNTIME_PRIVILEGES.get(table, RUNTIME_TABLE_PRIVILEGES)} ON {schema}.{quote(table)} "
              f"TO {grantee}" for table in tables),
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {grantee}"]
