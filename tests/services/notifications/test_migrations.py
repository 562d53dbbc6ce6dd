"""Data migrations: what they do to rows that already exist."""

from __future__ import annotations

import sqlalchemy as sa

from worklink.config import Settings
from worklink.db import Database
from worklink.migrations import upgrade
from worklink.pseudonyms import clinician_reference, clinician_reference_key
from tests.services.notifications.support import SPEC


def test_existing_channel_settings_get_their_users_clinician_reference(database_url, monkeypatch):
    monkeypatch.setenv("WORKLINK_CLINICIAN_REFERENCE_KEY", "the-key-at-migration-time")
    upgrade(SPEC.migrations_dir, database_url, "notifications_0009")
    database = Database(database_url)
    try:
        with database.engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO user_channel_settings (user_id, inbox_enabled, email_enabled, frequency, updated_at) "
                "VALUES ('ada@practice.example', true, true, 'immediate', CURRENT_TIMESTAMP), "
                "('gp-2', true, false, 'daily', CURRENT_TIMESTAMP)"))
        upgrade(SPEC.migrations_dir, database_url)
        with database.engine.connect() as connection:
            saved = dict(connection.execute(sa.text(
                "SELECT user_id, clinician_reference FROM user_channel_settings")).all())
    finally:
        database.dispose()
    key = clinician_reference_key(Settings.from_env("notifications"))
    assert key == "the-key-at-migration-time"
    assert saved == {user: clinician_reference(user, key) for user in ("ada@practice.example", "gp-2")}
