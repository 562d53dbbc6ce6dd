"""The least an audited write can cost on this stack: Flask and a bare database driver, nothing else.

For bench/floor.py: POST /write opens (once per thread) a connection and in one transaction inserts an
audit row and an outbox row (a small JSON event), then answers 201 with the new id. No SQLAlchemy, no
auth, no request hooks, no schema: the ceiling any WorkLink endpoint that records an audit entry and
stages an event could reach here.

- SQLite (default): the standard library's sqlite3, WAL mode with the pragmas worklink.db sets, one file
  in WORKLINK_VAR as a service's.
- PostgreSQL: BARE_WRITE_DATABASE_URL (a SQLAlchemy-style URL, as the services take) through psycopg
  alone, the driver the services use: both INSERTs in one statement (a data-modifying CTE) in autocommit
  mode, so one round trip is the whole transaction - the fewest a write can take.
"""

import json
import os
import sqlite3
import threading
import uuid
from datetime import datetime, timezone

from flask import Flask

app = Flask(__name__)
PATH = os.path.join(os.environ.get("WORKLINK_VAR", "var"), "bare-write.db")  # one file, as a service's


def libpq_url(url: str) -> str:
    """A service's SQLAlchemy URL (postgresql+psycopg://) as psycopg takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://")


POSTGRES_URL = libpq_url(os.environ.get("BARE_WRITE_DATABASE_URL", ""))
AUDIT = "CREATE TABLE IF NOT EXISTS bare_audit (id TEXT PRIMARY KEY, at TEXT, action TEXT, resource TEXT)"
OUTBOX = "CREATE TABLE IF NOT EXISTS bare_outbox (id TEXT PRIMARY KEY, at TEXT, type TEXT, body TEXT)"
local = threading.local()


def _sqlite():
    db = sqlite3.connect(PATH, isolation_level=None, timeout=10)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(AUDIT)
    db.execute(OUTBOX)
    return db


def _postgres():
    import psycopg

    db = psycopg.connect(POSTGRES_URL, autocommit=True)
    db.execute("SELECT pg_advisory_lock(7001)")  # threads and workers create the tables one at a time
    db.execute(AUDIT)
    db.execute(OUTBOX)
    db.execute("SELECT pg_advisory_unlock(7001)")
    return db


def connection():
    if not hasattr(local, "db"):
        local.db = _postgres() if POSTGRES_URL else _sqlite()
    return local.db


@app.get("/")
def ready():
    connection()
    return {"ready": True}


@app.post("/write")
def write():
    db, thing, now = connection(), str(uuid.uuid4()), datetime.now(timezone.utc).isoformat()
    event = {"specversion": "1.0", "id": str(uuid.uuid4()), "type": "bench.thing.created", "time": now,
             "source": "urn:bench", "data": {"thing_id": thing}}
    audit, outbox = (str(uuid.uuid4()), now, thing), (event["id"], now, event["type"], json.dumps(event))
    if POSTGRES_URL:  # one statement, so one round trip and its own transaction (autocommit)
        db.execute("WITH audit AS (INSERT INTO bare_audit VALUES (%s, %s, 'create', %s)) "
                   "INSERT INTO bare_outbox VALUES (%s, %s, %s, %s)", audit + outbox)
    else:
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO bare_audit VALUES (?, ?, 'create', ?)", audit)
        db.execute("INSERT INTO bare_outbox VALUES (?, ?, ?, ?)", outbox)
        db.execute("COMMIT")
    return {"id": thing}, 201
