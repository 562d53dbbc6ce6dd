"""The open feed's answers, kept in each worker until the directory changes.

Every reader of the ORUK read API gets the same answer for the same address: no sign-in, nothing about the
reader in it, and nothing in it depends on the time of day. Residents' searches repeat ("debt advice" near the
same towns) and aggregators re-read whole feeds, so a worker keeps the answers it has built and gives them again
while the directory is unchanged. "Unchanged" is the database's word, not the worker's: triggers on every feed
table move `feed_version` when a change commits (migration 0018), whichever process or tool made it, and each
request reads that one row before anything else. So an address marked confidential, or a listing withdrawn, is
gone from every worker's next answer, not after some lifetime.

Read the version first, then the data: the data is then as new as the version or newer, so an answer kept under
a version is never older than that version (an answer built while a change commits is kept under the older
version, which the next request no longer sees).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Mapping

import sqlalchemy as sa
from flask import g
from prometheus_client import Counter

LOOKUPS = Counter("worklink_directory_feed_cache_lookups_total",
                  "Open feed (ORUK read API) answers given from the worker's cache or built", ["result"])
_CURRENT_VERSION = sa.text("SELECT version FROM feed_version WHERE id = 1")


@dataclass(frozen=True)
class Answer:
    body: bytes
    etag: str
    mimetype: str


class FeedCache:
    """Least recently used answers under one feed version, bounded in count and in bytes (per worker)."""

    def __init__(self, max_entries: int = 2048, max_bytes: int = 32 * 1024 * 1024):
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._answers: OrderedDict[str, Answer] = OrderedDict()
        self._bytes = 0
        self._version: int | None = None
        self._lock = threading.Lock()  # gunicorn's gthread workers: several requests at once per process

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0 and self.max_bytes > 0

    def lookup(self, version: int, key: str) -> Answer | None:
        with self._lock:
            answer = self._answers.get(key) if self._current(version) else None
            if answer is not None:
                self._answers.move_to_end(key)
        LOOKUPS.labels("hit" if answer else "miss").inc()
        return answer

    def keep(self, version: int, key: str, answer: Answer) -> None:
        if len(answer.body) > self.max_bytes // 8:  # one huge page must not push out everything else
            return
        with self._lock:
            if not self._current(version):
                return
            previous = self._answers.pop(key, None)
            self._bytes -= len(previous.body) if previous else 0
            self._answers[key] = answer
            self._bytes += len(answer.body)
            while len(self._answers) > self.max_entries or self._bytes > self.max_bytes:
                _, dropped = self._answers.popitem(last=False)
                self._bytes -= len(dropped.body)

    def _current(self, version: int) -> bool:
        """Whether `version` is the one kept; a newer one drops every answer kept (the directory changed). An
        older one is a request that read the version before a change committed: it neither uses nor keeps."""
        if self._version is None or version > self._version:
            self._answers.clear()
            self._bytes = 0
            self._version = version
        return version == self._version


def current_version(connection) -> int:
    return connection.execute(_CURRENT_VERSION).scalar_one()


ENTRIES_SETTING, MEGABYTES_SETTING = "DIRECTORY_FEED_CACHE_ENTRIES", "DIRECTORY_FEED_CACHE_MB"


def cache_from_env(env: Mapping[str, str]) -> FeedCache:
    """DIRECTORY_FEED_CACHE_ENTRIES answers (default 2048; 0 turns the cache off) of DIRECTORY_FEED_CACHE_MB
    megabytes in all (default 32), per worker process."""
    return FeedCache(max_entries=_whole_number(env, ENTRIES_SETTING, 2048),
                     max_bytes=_whole_number(env, MEGABYTES_SETTING, 32) * 1024 * 1024)


def _whole_number(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    if not raw.isdigit():
        raise ValueError(f"{name} must be a whole number (0 or more), not {raw!r}.")
    return int(raw)


# The Flask side: app.py calls these before the view and as the feed's answer leaves.

def cached_answer(cache: FeedCache, database, request, response_class):
    """The kept answer to this read of the feed, or None (and the view builds it; `keep_answer` then keeps it)."""
    if not (cache.enabled and request.method == "GET" and request.blueprint == "oruk" and request.path != "/"):
        return None  # "/" answers a browser with a redirect and a program with JSON (Vary: Accept)
    with database.engine.connect() as connection:
        version = current_version(connection)
    key = f"{request.path}?{request.query_string.decode('latin-1')}"
    g.feed_lookup = (version, key)
    answer = cache.lookup(version, key)
    if answer is None:
        return None
    g.feed_lookup = None  # given from the cache: nothing to keep
    response = response_class(answer.body, status=200, mimetype=answer.mimetype)
    response.headers["ETag"] = answer.etag
    return response


def keep_answer(cache: FeedCache, response) -> None:
    """Keep a feed answer the view has just built (a 200 with its ETag set)."""
    lookup = g.pop("feed_lookup", None)
    if lookup is not None and response.status_code == 200 and "ETag" in response.headers:
        version, key = lookup
        cache.keep(version, key, Answer(response.get_data(), response.headers["ETag"], response.mimetype))
