"""Database access shared by every service: engine, sessions, platform tables.

Each service declares its own `DeclarativeBase` and calls `platform_tables()` on
its metadata, so the outbox, processed-events and audit tables live in that
service's own database beside its domain tables.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import sqlite as sqlite_types
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from worklink.heartbeat import HEARTBEAT

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class PlatformTables:
    outbox: sa.Table
    processed_events: sa.Table
    audit_log: sa.Table
    web_sessions: sa.Table


def platform_tables(metadata: sa.MetaData) -> PlatformTables:
    """Declare the outbox, processed-events and audit tables on a service's metadata."""
    outbox = sa.Table(
        "outbox", metadata,
        # Debezium outbox-router columns: id, aggregatetype, aggregateid, type, payload.
        sa.Column("position", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.Uuid, nullable=False, unique=True),
        sa.Column("aggregatetype", sa.String(255), nullable=False),
        sa.Column("aggregateid", sa.String(255), nullable=False),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),  # the structured CloudEvent, as sent
        sa.Column("traceparent", sa.String(55)),
        sa.Column("correlationid", sa.String(128)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, default=utcnow),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer, nullable=False, default=0),
        sa.Column("last_error", sa.Text),
        sa.Index("ix_outbox_unsent", "position",
                 postgresql_where=sa.text("sent_at IS NULL"), sqlite_where=sa.text("sent_at IS NULL")),
    )
    processed_events = sa.Table(
        "processed_events", metadata,
        sa.Column("consumer", sa.String(128), primary_key=True),
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column("event_type", sa.String(255), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, default=utcnow),
    )
    audit_log = sa.Table(
        "audit_log", metadata,
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        # Indexed for the audit review (worklink.audit_review): a period, who saw a record, whose record.
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False, default=utcnow, index=True),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("actor_role", sa.String(32), nullable=False),
        sa.Column("actor_org", sa.String(64)),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=False, index=True),
        sa.Column("person_id", sa.String(64), index=True),
        sa.Column("purpose", sa.String(255)),
        sa.Column("request_id", sa.String(128)),
    )
    # The pages' signed-in sessions (worklink.web.sessions): a signed-out or idle session stays
    # refused in every worker and process. Keyed by a hash of the session's token, never the token.
    web_sessions = sa.Table(
        "web_sessions", metadata,
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("subject", sa.String(255), nullable=False, index=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("end_reason", sa.String(16)),
        # The token's iat: a sign-out everywhere heard late also ends a session begun since with an older token.
        sa.Column("token_issued_at", sa.DateTime(timezone=True)),
    )
    return PlatformTables(outbox, processed_events, audit_log, web_sessions)


# Errors that mean the database cannot be reached or cannot take the work just now (down,
# restarting, locked too long), not that the work is wrong: retried, never dead-lettered or lost.
DATABASE_OUTAGES = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)
# PostgreSQL errors that mean "not now" though the driver files them under another class: a failover left
# the pool on a standby (25006 read_only_sql_transaction), the server ended a transaction left idle (25P03),
# a transaction rolled back for the client to run again (40001 serialization failure, 40P01 deadlock, 40003).
TRANSIENT_SQLSTATES = ("25006", "25P03", "40001", "40P01", "40003",
                       # ...and a schema behind the code: a worker or web process of a new release running before
                       # its migrations (or the grants they give the runtime role) have: undefined table/column,
                       # unknown schema, insufficient privilege. SQLite calls "no such table" operational too.
                       # Waiting delays the work until the upgrade; dead-lettering would strand every event.
                       "42P01", "42703", "3F000", "42501")
# ...and ones the driver calls operational that no retry mends: program_limit_exceeded (class 54: an index
# row or a statement too big) fails the same way for ever, so an event meeting it is a poison event.
PERMANENT_SQLSTATES = ("54",)


def is_database_outage(error: BaseException) -> bool:
    """True if `error` means the database cannot take the work just now (retry it, never dead-letter
    or drop it), False if the work itself is wrong (a bug, bad data)."""
    if isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated:
        return True  # the connection died under the statement, whatever the driver called it
    sqlstate = sqlstate_of(error)
    if sqlstate and sqlstate.startswith(TRANSIENT_SQLSTATES):
        return True
    if sqlstate and sqlstate.startswith(PERMANENT_SQLSTATES):
        return False
    return isinstance(error, DATABASE_OUTAGES)


def sqlstate_of(error: BaseException) -> str | None:
    original = getattr(error, "orig", None)
    return getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)


SQLITE_BUSY_TIMEOUT = 30.0  # seconds a SQLite writer waits for its turn and the lock, in all: then a 503
WRITER_HANDOFF_PAUSE = 0.002  # seconds a batch job leaves the SQLite lock free between batches (kernel wake-up is ~0.1 ms)


class UtcSqliteDateTime(sqlite_types.DATETIME):
    """SQLite keeps no UTC offset: a timezone-aware column is stored as UTC and read back as
    UTC (aware), so a service answers the same timestamps on SQLite as on PostgreSQL."""

    def bind_processor(self, dialect):
        format_ = super().bind_processor(dialect)
        if not self.timezone:
            return format_

        def in_utc(value):
            if isinstance(value, datetime) and value.tzinfo is not None:
                value = value.astimezone(timezone.utc)
            return format_(value)
        return in_utc

    def result_processor(self, dialect, coltype):
        parse = super().result_processor(dialect, coltype)
        if not self.timezone:
            return parse
        from_iso = datetime.fromisoformat

        def as_utc(value):
            if value is None:
                return None
            try:  # the stored UTC text, read as UTC in one C call (as fast as parsing it naive)
                return from_iso(value + "+00:00")
            except (TypeError, ValueError):  # text some other writer left: parsed as SQLAlchemy does
                value = parse(value)
                return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value
        return as_utc


# Seconds to connect to PostgreSQL: a hung server (or a network path dropping packets) is then an outage each
# request, consumer and relay meets in good time (a 503, a retry), not a thread blocked for as long as TCP tries.
PG_CONNECT_TIMEOUT = 10


def create_db_engine(url: str, **kwargs) -> Engine:
    # A statement's parameters are a person's record (name, NHS number, health details): an
    # error's text, logged or put in a dead-letter header, must never carry them.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT})
        engine = sa.create_engine(url, **kwargs)
        # Every DateTime(timezone=True) column of this engine, whatever model declares it.
        engine.dialect.colspecs = {**engine.dialect.colspecs, sa.DateTime: UtcSqliteDateTime}
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if "connect_timeout" not in url:  # libpq waits for ever on a server that takes the connection and says nothing
        kwargs.setdefault("connect_args", {"connect_timeout": PG_CONNECT_TIMEOUT})
    engine = sa.create_engine(url, **kwargs)
    event.listen(engine, "handle_error", _keep_values_out_of_server_errors)
    if not kwargs.get("pool_pre_ping"):
        ping_when_idle(engine)
    return engine


def _keep_values_out_of_server_errors(context) -> None:
    """PostgreSQL puts values in its error text too ("DETAIL: Key (nhs_number)=(9434765919)
    already exists", "Failing row contains (...)", a data error quoting the bad input): keep
    only the primary message, which names the constraint, table or type, and the SQLSTATE."""
    error = context.original_exception
    diag = getattr(error, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if not primary:  # not a server-reported error (e.g. cannot connect): no values in it
        return
    if (diag.sqlstate or "").startswith("22"):  # data exceptions quote the offending input
        primary = "invalid data (the value is not shown)"
    error.args = (f"{primary} [SQLSTATE {diag.sqlstate}]",)
    if context.sqlalchemy_exception is not None:  # its text was made from the error's before this hook
        wrapper = context.sqlalchemy_exception
        wrapper.args = (f"({type(error).__module__}.{type(error).__name__}) {error.args[0]}", *wrapper.args[1:])


IDLE_PING_SECONDS = 10.0


def ping_when_idle(engine: Engine, idle_seconds: float | None = None) -> None:
    """Check a pooled connection before use only if it has sat idle, not on every checkout.

    SQLAlchemy's pool_pre_ping costs a round trip per request. A connection in steady use
    proves itself alive; one idle longer than `idle_seconds` (through a database restart, a
    failover, a firewall's idle timeout) is pinged and, if dead, replaced before the request
    sees it. A connection that dies while busy fails the statement it was running; SQLAlchemy
    then invalidates the pool, so the next request reconnects.
    """
    dialect = engine.dialect

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn, record, _proxy) -> None:
        last_used = record.info.get("worklink_checked_in")
        limit = IDLE_PING_SECONDS if idle_seconds is None else idle_seconds
        if last_used is None or time.monotonic() - last_used <= limit:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except Exception as exc:  # noqa: BLE001 - any failure to ping means: do not use this one
            raise sa.exc.DisconnectionError(f"idle connection failed its ping: {exc}") from exc

    @event.listens_for(engine, "checkin")
    def _remember_use(_dbapi_conn, record) -> None:
        record.info["worklink_checked_in"] = time.monotonic()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # autocommit at driver level; see _sqlite_begin
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers don't block the writer
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()  # the busy timeout is the driver's `timeout` connect argument (30 s by default)


def _sqlite_begin(conn) -> None:
    """SQLAlchemy, not pysqlite, issues BEGIN, so transactions mean what they say.

    A write transaction (Database.transaction) takes the write lock up front (IMMEDIATE):
    a transaction that read first and upgraded later could fail with SQLITE_BUSY instead of
    waiting. Reads stay DEFERRED, so under WAL they run alongside the writer and each other.
    A write's busy timeout is what is left of its deadline after queueing for its turn.
    """
    options = conn.get_execution_options()
    if deadline := options.get("worklink_deadline"):
        _busy_timeout_until(conn, deadline, options["worklink_busy_timeout"])
    conn.exec_driver_sql(f"BEGIN {'IMMEDIATE' if options.get('worklink_write') else 'DEFERRED'}")


def _busy_timeout_until(conn, deadline: float, longest: float) -> None:
    # Whole 100 ms steps (or the engine's shorter timeout), set only when they change: a
    # writer that did not queue keeps its value.
    left = min(deadline - time.monotonic(), longest)
    left_ms = (max(int(left * 10), 0) * 100 if left >= 0.1 else int(max(left, 0) * 1000)) or 1
    info = conn.connection.info
    if info.get("worklink_busy_ms") != left_ms:
        conn.connection.dbapi_connection.execute(f"PRAGMA busy_timeout = {left_ms}")
        info["worklink_busy_ms"] = left_ms


class SqliteWriterQueue:
    """Lines up a SQLite database's writers on locks the kernel wakes them from.

    SQLite lets one writer in at a time. A writer that finds the lock taken waits in its busy
    handler, which sleeps in growing steps (1, 2, 5, 10 ... 100 ms) and so idles long after the
    lock is free: under concurrent writes most of a request's time went to those sleeps. Here
    the threads of a process queue on a mutex and the processes on an flock of a file beside
    the database, each woken as soon as the one before it commits. The busy handler remains for
    writers that do not queue here (the outbox relay's bookkeeping, other tools).
    Re-entrant, so a transaction opened inside another on the same thread does not deadlock.
    A writer has one deadline (`timeout` from when it asked) for its turn in the process, its
    turn among the processes and SQLite's own lock (a writer outside the queue): past it, it
    gives up with an OperationalError, so its request is a 503 instead of piling up behind a
    stuck transaction. (The wait among processes ends when the holder's transaction does,
    which its own deadline bounds unless the holder's code itself is stuck.)
    """

    def __init__(self, database_path: str | None, timeout: float = 30.0):
        self._lock_path = f"{database_path}-writer.lock" if database_path else None
        self.timeout = timeout
        self._mutex = threading.RLock()
        self._depth = 0  # only read or written by the thread holding _mutex
        self._file = None
        self._file_pid = None
        self._close_file = None  # closes _file when called, or when the queue is collected

    @contextlib.contextmanager
    def turn(self, deadline: float | None = None) -> Iterator[None]:
        deadline = deadline or time.monotonic() + self.timeout
        if not self._mutex.acquire(timeout=max(deadline - time.monotonic(), 0)):
            raise self._no_turn()
        try:
            outermost = self._depth == 0
            if outermost:
                self._lock_file_exclusively()
                if time.monotonic() > deadline:
                    self._unlock_file()
                    raise self._no_turn()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if outermost:
                    self._unlock_file()
        finally:
            self._mutex.release()

    def _no_turn(self) -> sa.exc.OperationalError:
        return sa.exc.OperationalError("(waiting for the writer queue)", None, sqlite3.OperationalError(
            f"database is locked: no turn to write within {self.timeout:g} s"))

    def close(self) -> None:
        """Close the lock file unless a writer of this process has its turn; the next turn opens it again."""
        if not self._mutex.acquire(blocking=False):
            return  # another thread is writing: it keeps the file, as before
        try:
            if self._depth == 0 and self._file is not None:
                self._close_file()
                self._file = None
        finally:
            self._mutex.release()

    def _unlock_file(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)

    def _lock_file_exclusively(self) -> None:
        if self._lock_path is None:
            return
        # flock belongs to an open file description, which a fork shares: each process
        # (each gunicorn worker) opens its own, or the workers would not exclude each other.
        if self._file is None or self._file_pid != os.getpid():
            self._file = open(self._lock_path, "a+b")  # noqa: SIM115 - held until close() or the queue goes
            self._file_pid = os.getpid()
            self._close_file = weakref.finalize(self, self._file.close)
        fcntl.flock(self._file, fcntl.LOCK_EX)


# Weak: a queue (and its open lock file) lasts as long as a Database on its file does, not the process's life.
_writer_queues: weakref.WeakValueDictionary[str, SqliteWriterQueue] = weakref.WeakValueDictionary()
_writer_queues_guard = threading.Lock()


def sqlite_writer_queue(engine: Engine) -> SqliteWriterQueue:
    """The process's one queue for this database file: every Database on the file shares it,
    so two of them in one thread cannot block each other on two flocks of the same file."""
    database = engine.url.database
    path = None if not database or database == ":memory:" or database.startswith("file:") else (
        os.path.abspath(database))
    with _writer_queues_guard:
        if path is None:  # in-memory: private to this engine's connections anyway
            return SqliteWriterQueue(None)
        queue = _writer_queues.get(path)
        if queue is None:
            queue = _writer_queues[path] = SqliteWriterQueue(path)
        return queue


class Database:
    """An engine plus a session factory for one service's database."""

    def __init__(self, url: str, **engine_kwargs):
        self.url = url
        self.engine = create_db_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writers = sqlite_writer_queue(self.engine) if self.dialect == "sqlite" else None
        self._busy_timeout = float(engine_kwargs.get("connect_args", {}).get("timeout", SQLITE_BUSY_TIMEOUT))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits together at the end of the block, or not at all."""
        if self._writers is None:
            with self.sessions() as session, session.begin():
                session.connection(execution_options={"worklink_write": True})
                yield session
            return
        deadline = time.monotonic() + self._writers.timeout
        with self._writers.turn(deadline), self.sessions() as session, session.begin():
            session.connection(execution_options={"worklink_write": True, "worklink_deadline": deadline,
                                                  "worklink_busy_timeout": self._busy_timeout})
            yield session

    def between_batches(self) -> None:
        """A long job committed one of its batches: count it as progress for the worker's heartbeat (a first
        retention pass over years of rows is busy, not stuck), and let waiting writers in. SQLite's writer queue
        is not first come, first served: a job opening its next transaction straight after committing takes the
        lock back before the writers it woke are running, so they would wait for many batches, not one; a
        moment's pause lets them in (PostgreSQL locks rows, not the database: no pause)."""
        HEARTBEAT.beat()
        if self._writers is not None:
            time.sleep(WRITER_HANDOFF_PAUSE)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def dispose(self) -> None:
        """Close the pool's connections and the writer queue's lock file; the Database stays usable (both reopen)."""
        self.engine.dispose()
        if self._writers is not None:
            self._writers.close()
