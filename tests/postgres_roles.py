"""Roles on the local PostgreSQL cluster for tests (roles are cluster-wide: each test makes its own, uniquely
named, and drops it). Only the cluster deploy/postgres/ensure-postgres.sh manages has a superuser to ask."""

from __future__ import annotations

import os
import subprocess
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "deploy/postgres/ensure-postgres.sh"


def superuser_sql(sql: str) -> None:
    done = subprocess.run(["bash", str(SCRIPT), "--superuser-sql"], input=sql, text=True, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def skip_unless_local_cluster(postgres_base_url: str) -> None:
    if os.environ.get("WORKLINK_TEST_POSTGRES_URL") or "127.0.0.1" not in postgres_base_url:
        pytest.skip("needs the local cluster that deploy/postgres/ensure-postgres.sh manages")


@contextmanager
def runtime_role(owner_url: str) -> Iterator[str]:
    """A new plain login role (no ownership, no membership) on `owner_url`'s server; yields `owner_url` as that
    role. On leaving, the database is dropped with the role (the role's connections are not the owner's to end,
    and a role granted anything cannot be dropped)."""
    role, password = f"wl_runtime_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    superuser_sql(f"CREATE ROLE {role} LOGIN PASSWORD '{password}';")
    try:
        yield make_url(owner_url).set(username=role, password=password).render_as_string(hide_password=False)
    finally:
        superuser_sql(f"DROP DATABASE IF EXISTS {make_url(owner_url).database} WITH (FORCE);\n"
                      f"DROP ROLE IF EXISTS {role};")
