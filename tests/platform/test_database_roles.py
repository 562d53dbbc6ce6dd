"""deploy/postgres/init-databases.sql and runtime-roles.sql on a real PostgreSQL: each service's owner role can build
its own database and cannot even connect to another service's; `worklink db upgrade` grants each service's runtime
role rows and not tables."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.postgres_roles import skip_unless_local_cluster, superuser_sql
from worklink.migrations import grant_runtime_role, upgrade
from worklink.service import installed_services

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def service_databases(postgres_base_url):
    """The init scripts' roles and databases under a unique prefix (roles are cluster-wide):
    {service: (owner URL, runtime URL)}."""
    skip_unless_local_cluster(postgres_base_url)
    prefix = f"wlroles_{uuid.uuid4().hex[:6]}"
    sql = "\n".join((ROOT / "deploy/postgres" / name).read_text().replace("worklink_", f"{prefix}_")
                    for name in ("init-databases.sql", "runtime-roles.sql"))
    superuser_sql(sql)
    passwords = dict(re.findall(rf"CREATE ROLE {prefix}_(\w+) LOGIN PASSWORD '([^']+)'", sql))
    host = postgres_base_url.split("@", 1)[1].rstrip("/")
    services = [name for name in passwords if not name.endswith("_app")]

    def url(role: str, database: str) -> str:
        return f"postgresql+psycopg://{prefix}_{role}:{passwords[role]}@{host}/{prefix}_{database}"

    yield {name: (url(name, name), url(f"{name}_app", name)) for name in services}
    drops = [f"DROP DATABASE IF EXISTS {prefix}_{name} WITH (FORCE);" for name in services]
    superuser_sql("\n".join(drops + [f"DROP ROLE IF EXISTS {prefix}_{role};" for role in passwords]))


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def test_each_service_role_owns_its_database_and_cannot_reach_another(service_databases):
    assert set(service_databases) == set(installed_services())
    owner_url, _ = service_databases["directory"]
    upgrade(installed_services()["directory"].migrations_dir, owner_url)
    with psycopg.connect(libpq(owner_url)) as conn:
        assert conn.execute("SELECT count(*) FROM outbox").fetchone() == (0,)
    other_database = service_databases["referrals"][0].rsplit("/", 1)[1]
    for url in service_databases["directory"]:
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            psycopg.connect(libpq(url.rsplit("/", 1)[0] + "/" + other_database)).close()


def test_every_service_grants_its_runtime_role_rows_not_tables(service_databases):
    """What the runtime role may do, table by table, as the server reports it (the referrals service's own tests
    show the service working as that role and refused what is withheld)."""
    for name, (owner_url, runtime_url) in service_databases.items():
        upgrade(installed_services()[name].migrations_dir, owner_url, runtime_url=runtime_url)
        with psycopg.connect(libpq(runtime_url)) as conn:
            privileges = dict(conn.execute(
                "SELECT c.relname, array_to_string(ARRAY(SELECT p FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', "
                "'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p WHERE has_table_privilege(c.oid, p)), ',') "
                "FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v')"
            ).fetchall())
            column_updates = {column for column, in conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = 'audit_log'::regclass AND attnum > 0 "
                "AND has_column_privilege('audit_log'::regclass, attnum, 'UPDATE')")}
            owned = conn.execute("SELECT count(*) FROM pg_class WHERE relowner = "
                                 "(SELECT oid FROM pg_roles WHERE rolname = current_user)").fetchone()
        assert privileges.pop("audit_log") == "SELECT,INSERT,DELETE", name
        assert column_updates == {"person_id", "resource_id"}, name
        assert privileges.pop("alembic_version") == "SELECT", name
        assert len(privileges) > 3 and set(privileges.values()) == {"SELECT,INSERT,UPDATE,DELETE"}, (name, privileges)
        assert owned == (0,), name


def test_the_grants_are_refused_to_a_runtime_role_that_owns_tables(service_databases):
    """A deployment switching to two roles, its tables still owned by the role the service runs as: granting would
    change nothing it could not undo, so it is refused with what to do."""
    from worklink.migrations import RuntimeRoleError

    owner_url, runtime_url = service_databases["notifications"]
    upgrade(installed_services()["notifications"].migrations_dir, owner_url)
    owner, runtime = (url.split("://", 1)[1].split(":", 1)[0] for url in (owner_url, runtime_url))
    superuser_sql(f"\\c {owner_url.rsplit('/', 1)[1]}\nALTER TABLE audit_log OWNER TO {runtime};")
    with pytest.raises(RuntimeRoleError, match=f"owns audit_log.*REASSIGN OWNED BY {runtime} TO {owner}"):
        grant_runtime_role(owner_url, runtime_url)
    superuser_sql(f"\\c {owner_url.rsplit('/', 1)[1]}\nALTER TABLE audit_log OWNER TO {owner};")
    assert grant_runtime_role(owner_url, runtime_url) == runtime


def test_the_grants_are_refused_while_the_runtime_role_may_create_in_the_schema(service_databases):
    """PostgreSQL before 15 lets PUBLIC create in schema public: the runtime role could then put a table or function
    where the service's unqualified names find it. Refused with what to do; once revoked, it creates nothing."""
    from worklink.migrations import RuntimeRoleError

    owner_url, runtime_url = service_databases["directory"]
    upgrade(installed_services()["directory"].migrations_dir, owner_url)
    database = owner_url.rsplit("/", 1)[1]
    superuser_sql(f"\\c {database}\nGRANT CREATE ON SCHEMA public TO PUBLIC;")
    with pytest.raises(RuntimeRoleError, match="may create objects in schema public.*REVOKE CREATE ON SCHEMA public "
                                               "FROM PUBLIC"):
        grant_runtime_role(owner_url, runtime_url)
    superuser_sql(f"\\c {database}\nREVOKE CREATE ON SCHEMA public FROM PUBLIC;")
    runtime = runtime_url.split("://", 1)[1].split(":", 1)[0]
    superuser_sql(f"\\c {database}\nGRANT CREATE ON SCHEMA public TO {runtime};")  # granted by hand: taken back
    assert grant_runtime_role(owner_url, runtime_url) == runtime
    with psycopg.connect(libpq(runtime_url)) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("CREATE TABLE services_shadow (id int)")
