"""The least an audited write can cost on this stack: Flask and the standard library's sqlite3, nothing else.

For bench/floor.py: POST /write opens (once per thread) a SQLite database in WAL mode with the pragmas
worklink.db sets, and in one transaction inserts an audit row and an outbox row (a small JSON event),
then answers 201 with the new id. No SQLAlchemy, no auth, no request hooks, no schema: the ceiling any
WorkLink endpoint that records an audit entry and stages an event could reach here.
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
local = threading.local()


def connection() -> sqlite3.Connection:
    if not hasattr(local, "db"):
        db = sqlite3.connect(PATH, isolation_level=None, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE IF NOT EXISTS audit (id TEXT PRIMARY KEY, at TEXT, action TEXT, resource TEXT)")
        db.execute("CREATE TABLE IF NOT EXISTS outbox (id TEXT PRIMARY KEY, at TEXT, type TEXT, body TEXT)")
        local.db = db
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
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO audit VALUES (?, ?, 'create', ?)", (str(uuid.uuid4()), now, thing))
    db.execute("INSERT INTO outbox VALUES (?, ?, ?, ?)", (event["id"], now, event["type"], json.dumps(event)))
    db.execute("COMMIT")
    return {"id": thing}, 201
