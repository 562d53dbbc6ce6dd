"""Local PostgreSQL for dev/tests, via ``deploy/postgres/ensure-postgres.sh``.

``ensure_local_postgres()`` makes sure a server answers on 127.0.0.1:$PGPORT (default 5432),
installing/creating/starting a Debian cluster if needed, with role ``worklink``/``worklink``
and the four service databases; it returns the SQLAlchemy-style base URL
``postgresql+psycopg://worklink:worklink@127.0.0.1:5432/`` (append a database name).
``create_database`` / ``drop_database`` manage throwaway per-test databases.
"""

from __future__ import annotations

import subprocess
import time

import psycopg
from psycopg import sql

from . import deploy_dir

__all__ = ["ensure_local_postgres", "create_database", "drop_database", "database_url", "libpq_url"]


def ensure_local_postgres(timeout: float = 600) -> str:
    script = deploy_dir() / "postgres" / "ensure-postgres.sh"
    res = subprocess.run(["bash", str(script)], stdin=subprocess.DEVNULL, capture_output=True,
                         text=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"ensure-postgres.sh failed (rc={res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    lines = [ln.strip() for ln in res.stdout.splitlines() if ln.strip()]
    if not lines or not lines[-1].startswith("postgresql"):
        raise RuntimeError(f"ensure-postgres.sh printed no URL:\n{res.stdout[-3000:]}")
    return lines[-1]


def database_url(url: str, dbname: str) -> str:
    """Return *url* (any scheme, e.g. ``postgresql+psycopg://``) pointing at database *dbname*."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"not a URL: {url!r}")
    hostpart, _, tail = rest.partition("/")
    query = "?" + tail.split("?", 1)[1] if "?" in tail else ""
    return f"{scheme}://{hostpart}/{dbname}{query}"


def libpq_url(url: str, dbname: str | None = None) -> str:
    """Turn ``postgresql+psycopg://u:p@h:port/[db]`` into a libpq URL, optionally replacing the db."""
    if dbname is not None:
        url = database_url(url, dbname)
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"not a URL: {url!r}")
    return "postgresql://" + rest


def _admin_conn(base_url: str) -> psycopg.Connection:
    return psycopg.connect(libpq_url(base_url, "postgres"), autocommit=True)


def create_database(base_url: str, name: str, *, exist_ok: bool = True) -> str:
    """Create database *name* (owned by the URL's user); return the full URL for it."""
    with _admin_conn(base_url) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and not exist_ok:
            raise RuntimeError(f"database {name!r} already exists")
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url(base_url, name)


def drop_database(base_url: str, name: str, attempts: int = 20) -> None:
    """Drop database *name* if it exists, terminating any remaining connections.

    An autovacuum worker (owned by the superuser) can be visiting a fresh database; our
    role may not terminate it, so wait for it to finish and try again.
    """
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    for attempt in range(attempts):
        try:
            with _admin_conn(base_url) as conn:
                conn.execute(statement)
            return
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectInUse):
            if attempt == attempts - 1:
                raise
            time.sleep(0.25)
