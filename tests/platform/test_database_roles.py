"""deploy/postgres/init-databases.sql on a real PostgreSQL: each service's role can build its own
database and cannot even connect to another service's."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest

from worklink.migrations import upgrade
from worklink.service import installed_services

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy/postgres/ensure-postgres.sh"


def superuser_sql(sql: str) -> None:
    subprocess.run(["bash", str(SCRIPT), "--superuser-sql"], input=sql, text=True, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)


@pytest.fixture()
def service_databases(postgres_base_url):
    """The init script's roles and databases under a unique prefix (roles are cluster-wide)."""
    if os.environ.get("WORKLINK_TEST_POSTGRES_URL") or "127.0.0.1" not in postgres_base_url:
        pytest.skip("needs the local cluster that deploy/postgres/ensure-postgres.sh manages")
    prefix = f"wlroles_{uuid.uuid4().hex[:6]}"
    sql = (ROOT / "deploy/postgres/init-databases.sql").read_text().replace("worklink_", f"{prefix}_")
    superuser_sql(sql)
    passwords = dict(re.findall(rf"CREATE ROLE {prefix}_(\w+) LOGIN PASSWORD '([^']+)'", sql))
    host = postgres_base_url.split("@", 1)[1].rstrip("/")
    yield {name: (f"{prefix}_{name}", password, host) for name, password in passwords.items()}
    drops = [f"DROP DATABASE IF EXISTS {prefix}_{name} WITH (FORCE);" for name in passwords]
    superuser_sql("\n".join(drops + [f"DROP ROLE IF EXISTS {prefix}_{name};" for name in passwords]))


def test_each_service_role_owns_its_database_and_cannot_reach_another(service_databases):
    assert set(service_databases) == set(installed_services())
    role, password, host = service_databases["directory"]
    upgrade(installed_services()["directory"].migrations_dir,
            f"postgresql+psycopg://{role}:{password}@{host}/{role}")
    with psycopg.connect(f"postgresql://{role}:{password}@{host}/{role}") as conn:
        assert conn.execute("SELECT count(*) FROM outbox").fetchone() == (0,)
    other_db = service_databases["referrals"][0]
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        psycopg.connect(f"postgresql://{role}:{password}@{host}/{other_db}").close()
