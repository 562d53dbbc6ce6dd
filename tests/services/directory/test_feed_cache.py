"""The open feed's answers kept per worker (worklink_directory.feed_cache) until the database says the directory
changed (feed_version, moved by triggers: migration 0018)."""

from __future__ import annotations

import threading
import uuid

import pytest
import sqlalchemy as sa

from tests.services.directory.conftest import build_directory, make_app, token_for
from worklink.config import ConfigError, Settings
from worklink.db import create_db_engine
from worklink_directory import config as directory_config
from worklink_directory.feed_cache import Answer, FeedCache, cache_from_env
from worklink_directory.models import Base, FeedVersion

SEARCH = "/services?search=counselling&taxonomy_term_id="


def _statements(app):
    """Every SQL statement (but SQLite's BEGIN) the app's engine runs from here on, as a list that grows."""
    seen: list[str] = []
    sa.event.listen(app.extensions["worklink"].database.engine, "before_cursor_execute",
                    lambda *args: args[2].startswith("BEGIN") or seen.append(args[2]))
    return seen


def _version(app) -> int:
    with app.extensions["worklink"].database.sessions() as session:
        return session.scalar(sa.select(FeedVersion.version))


def test_a_repeated_read_is_answered_from_the_cache_after_one_look_at_the_version(app, directory):
    client = app.test_client()
    url = SEARCH + directory.terms["counselling"]
    first = client.get(url)
    seen = _statements(app)
    again = client.get(url)
    assert first.status_code == again.status_code == 200 and first.get_json()["total_items"] == 1
    assert again.data == first.data and again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Access-Control-Allow-Origin"] == "*" and again.headers["Cache-Control"] == "no-cache"
    assert len(seen) == 1 and "feed_version" in seen[0]  # the version, and nothing of the directory itself
    revalidated = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert revalidated.status_code == 304 and revalidated.data == b""
    other_page = client.get(url + "&page=1&per_page=5")
    assert other_page.status_code == 200 and other_page.get_json()["size"] == 1  # a different address, built
    assert len(seen) > 3


def test_a_change_made_by_another_worker_is_in_the_next_answer(database_url, tmp_path):
    """Two app instances on one database are two gunicorn workers: the one that kept the answer did not make the
    change, so only the database can tell it (SQLite and PostgreSQL)."""
    reader, writer = make_app(database_url, tmp_path), make_app(database_url, tmp_path)
    try:
        known = build_directory(writer)
        refuge = f"/services/{known.ids['refuge']}"
        kept = reader.test_client().get(refuge).get_json()
        assert kept["name"] == "Safe housing support"
        assert reader.test_client().get(refuge).get_json() == kept  # now kept
        renamed = writer.test_client().patch(f"/manage{refuge}", json={"name": "Safe homes support"},
                                             headers=token_for(writer, "alliance_admin"))
        assert renamed.status_code == 200, renamed.get_json()
        assert reader.test_client().get(refuge).get_json()["name"] == "Safe homes support"
    finally:
        for app in (reader, writer):
            app.extensions["worklink"].database.dispose()


def test_a_change_by_hand_to_any_feed_table_moves_the_version(database_url, tmp_path):
    """Not only the ORM's writes: an UPDATE or DELETE typed into the database moves it too, so a fix made by hand is
    served at once. One transaction moves it once on PostgreSQL, whatever it touched; a rollback not at all."""
    app = make_app(database_url, tmp_path)
    try:
        known = build_directory(app)
        client = app.test_client()
        url = f"/services/{known.ids['counselling']}"
        assert client.get(url).get_json()["contacts"][0]["phones"][0]["number"] == "01632 960001"
        database = app.extensions["worklink"].database
        before = _version(app)
        with database.transaction() as session:
            session.execute(sa.text("UPDATE phone SET number = '01632 960999'"))
            session.execute(sa.text("DELETE FROM schedule WHERE byday = 'SA'"))
        assert client.get(url).get_json()["contacts"][0]["phones"][0]["number"] == "01632 960999"
        moved = _version(app) - before
        assert moved == (1 if database.dialect == "postgresql" else 6 + 1)  # six phones, one Saturday schedule
        with pytest.raises(RuntimeError), database.transaction() as session:
            session.execute(sa.text("UPDATE phone SET number = '01632 960000'"))
            raise RuntimeError("changed my mind")
        assert _version(app) == before + moved
    finally:
        app.extensions["worklink"].database.dispose()


def _feed_tables() -> set[str]:
    """The directory's own tables (the ORM's); the platform's (outbox, audit...) are Core tables, not the feed."""
    return {mapper.local_table.name for mapper in Base.registry.mappers} - {"feed_version"}


def test_every_table_the_feed_is_read_from_has_the_triggers(database_url, tmp_path):
    """A table added later without its triggers would be served stale from the cache: found here."""
    app = make_app(database_url, tmp_path)
    database = app.extensions["worklink"].database
    try:
        with database.engine.connect() as connection:
            if database.dialect == "postgresql":
                rows = connection.execute(sa.text(
                    "SELECT event_object_table, string_agg(DISTINCT event_manipulation, ' ') "
                    "FROM information_schema.triggers WHERE trigger_name IN ('feed_changed', 'feed_truncated') "
                    "GROUP BY event_object_table")).all()
                guarded = {table for table, events in rows if events == "DELETE INSERT UPDATE"}
                expected = _feed_tables() | {"service_search"}
            else:
                names = connection.execute(sa.text(
                    "SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'feed_changed_%'"))
                by_table: dict[str, set[str]] = {}
                for table, name in names:
                    by_table.setdefault(table, set()).add(name.rsplit("_", 1)[1])
                guarded = {t for t, changes in by_table.items() if changes == {"insert", "update", "delete"}}
                expected = _feed_tables()
        assert "service" in expected and "service_capacity" in expected and "audit_log" not in expected
        assert guarded == expected
    finally:
        database.dispose()


def test_postgres_writers_holding_listings_do_not_deadlock_on_the_version(postgres_url, tmp_path):
    """The version row is locked as a writer commits, not at its first write: a writer that locked listing A and
    then changes it, while another changed listing B and waits for A, both commit (with the lock taken at the
    first write, PostgreSQL would find a deadlock and abort one)."""
    app = make_app(postgres_url, tmp_path)
    engine = create_db_engine(postgres_url)
    try:
        known = build_directory(app)
        first, second = (uuid.UUID(known.ids[k]) for k in ("counselling", "debt"))
        before = _version(app)
        errors: list[BaseException] = []
        waiting = threading.Event()

        def other_writer():
            try:
                with engine.begin() as connection:
                    connection.execute(sa.text("UPDATE service SET name = name || ' ' WHERE id = :id"),
                                       {"id": second})
                    waiting.set()
                    connection.execute(sa.text("UPDATE service SET name = name || '!' WHERE id = :id"),
                                       {"id": first})
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        with engine.begin() as connection:
            connection.execute(sa.text("SELECT id FROM service WHERE id = :id FOR UPDATE"), {"id": first})
            thread = threading.Thread(target=other_writer)
            thread.start()
            assert waiting.wait(10)
            thread.join(0.5)  # now waiting for listing A
            connection.execute(sa.text("UPDATE service SET description = description WHERE id = :id"), {"id": first})
        thread.join(10)
        assert not thread.is_alive() and errors == []
        assert _version(app) == before + 2
    finally:
        engine.dispose()
        app.extensions["worklink"].database.dispose()


def test_errors_are_not_kept(app, directory):
    client = app.test_client()
    unknown = f"/services?taxonomy_term_id={uuid.uuid4()}"  # refused once the database says there is no such term
    bad = client.get(unknown)
    seen = _statements(app)
    again = client.get(unknown)
    assert bad.status_code == again.status_code == 400 and again.mimetype == "application/problem+json"
    assert len(seen) > 1  # the terms looked up again, not the refusal given from memory


def test_the_cache_can_be_turned_off(sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setenv("DIRECTORY_FEED_CACHE_ENTRIES", "0")
    app = make_app(sqlite_url, tmp_path)
    known = build_directory(app)
    client = app.test_client()
    client.get(f"/services/{known.ids['debt']}")
    seen = _statements(app)
    assert client.get(f"/services/{known.ids['debt']}").status_code == 200
    assert not any("feed_version" in s for s in seen) and len(seen) > 1


@pytest.mark.parametrize("env", [{"DIRECTORY_FEED_CACHE_ENTRIES": "lots"}, {"DIRECTORY_FEED_CACHE_MB": "-1"}])
def test_a_malformed_cache_setting_stops_the_service_starting(env, tmp_path):
    settings = Settings.from_env("directory", {"WORKLINK_VAR": str(tmp_path), "WORKLINK_ENV": "test"})
    with pytest.raises(ConfigError, match=next(iter(env))):
        directory_config.check(settings, env)
    assert cache_from_env({}).max_entries == 2048 and cache_from_env({}).max_bytes == 32 * 1024 * 1024


def _answer(size: int) -> Answer:
    return Answer(b"x" * size, '"e"', "application/json")


def test_least_recently_used_answers_go_first_within_the_count_and_the_bytes():
    cache = FeedCache(max_entries=3, max_bytes=800)
    for key in "abc":
        cache.keep(1, key, _answer(100))
    assert cache.lookup(1, "a")  # a is used again: b is now the oldest
    cache.keep(1, "d", _answer(100))
    assert [k for k in "abcd" if cache.lookup(1, k)] == ["a", "c", "d"]
    cache.keep(1, "e", _answer(100))  # a fourth: the oldest goes
    cache.keep(1, "f", _answer(99))
    assert [k for k in "acdef" if cache.lookup(1, k)] == ["d", "e", "f"]
    cache.keep(1, "huge", _answer(101))  # more than an eighth of all the bytes allowed: never kept
    assert cache.lookup(1, "huge") is None and cache.lookup(1, "f")
    small = FeedCache(max_entries=10, max_bytes=8 * 300)
    for key in "pqrstuvw":
        small.keep(1, key, _answer(300))
    small.keep(1, "z", _answer(300))  # 9 x 300 > 2,400 bytes: the oldest goes though the count allows 10
    assert small.lookup(1, "p") is None and small.lookup(1, "z") and small.lookup(1, "q")


def test_a_newer_version_drops_everything_and_an_older_one_neither_uses_nor_keeps():
    cache = FeedCache()
    cache.keep(5, "a", _answer(10))
    assert cache.lookup(4, "a") is None  # a request that read the version before a change committed
    cache.keep(4, "b", _answer(10))
    assert cache.lookup(5, "a") and cache.lookup(5, "b") is None
    assert cache.lookup(6, "a") is None  # the directory changed
    cache.keep(5, "a", _answer(10))  # built from the directory as it was
    assert cache.lookup(6, "a") is None
