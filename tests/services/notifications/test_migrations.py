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


def test_addresses_already_recorded_in_failure_text_are_scrubbed(database_url):
    """Failures recorded before delivery.describe scrubbed addresses keep a resident's address past its erasure."""
    import uuid

    from worklink_notifications.models import Delivery, DeliveryAttempt

    upgrade(SPEC.migrations_dir, database_url, "notifications_0010")
    database = Database(database_url)
    refusal = "SMTPRecipientsRefused: {'sam@example.org': (550, b'5.1.1 <sam@example.org>: unknown')}"
    try:
        delivery_id = uuid.uuid4()
        with database.transaction() as session:  # core inserts: only the columns this revision has
            session.execute(sa.insert(Delivery.__table__), [
                dict(id=delivery_id, event_id="message:1", event_type="notifications.person_message.requested",
                     recipient_kind="person", recipient_id=str(uuid.uuid4()), channel="email",
                     message_code="referral_accepted", status="dead", last_error=refusal),
                dict(id=uuid.uuid4(), event_id="e2", event_type="referrals.referral.accepted",
                     recipient_kind="subscriber", recipient_id=str(uuid.uuid4()), channel="webhook",
                     message_code="referral_accepted", status="dead", last_error="HTTP 503 from the receiver")])
            session.execute(sa.insert(DeliveryAttempt.__table__).values(delivery_id=delivery_id, outcome="permanent",
                                                                        detail=refusal))
        upgrade(SPEC.migrations_dir, database_url)
        with database.sessions() as session:
            errors = set(session.scalars(sa.select(Delivery.last_error)))
            [detail] = session.scalars(sa.select(DeliveryAttempt.detail))
    finally:
        database.dispose()
    scrubbed = "SMTPRecipientsRefused: {'<address>': (550, b'5.1.1 <<address>>: unknown')}"
    assert errors == {scrubbed, "HTTP 503 from the receiver"} and detail == scrubbed


def test_a_downgrade_below_0018_is_refused_by_name_while_two_deliveries_differ_by_event_source_alone(database_url):
    """The old key (event id, recipient, channel) cannot hold both; the downgrade failed on the key's rebuild with
    a bare UNIQUE/could-not-create-index error. Now it says why, and changes nothing."""
    import uuid

    import pytest
    from alembic import command

    from worklink.migrations import alembic_config
    from worklink_notifications.models import Delivery

    upgrade(SPEC.migrations_dir, database_url)
    database = Database(database_url)
    recipient = str(uuid.uuid4())
    try:
        with database.transaction() as session:
            session.execute(sa.insert(Delivery.__table__), [
                dict(id=uuid.uuid4(), event_id="same-id", event_source=source, event_type="referrals.referral.accepted",
                     recipient_kind="organisation", recipient_id=recipient, channel="inbox",
                     message_code="referral_accepted", status="delivered") for source in ("/referrals", "/other")])
        with pytest.raises(RuntimeError, match="2 deliveries differ by event source alone.*notifications_0018 cannot be downgraded"):
            command.downgrade(alembic_config(SPEC.migrations_dir, database_url), "notifications_0017")
        with database.engine.connect() as connection:
            version = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
            kept = connection.execute(sa.text("SELECT count(*) FROM delivery WHERE event_source <> ''")).scalar_one()
    finally:
        database.dispose()
    assert (version, kept) == (_head(), 2)  # the whole downgrade undone, both deliveries kept


def _head() -> str:
    from alembic.script import ScriptDirectory

    from worklink.migrations import alembic_config
    return ScriptDirectory.from_config(alembic_config(SPEC.migrations_dir, "sqlite://")).get_current_head()


def test_stored_webhook_secrets_are_sealed_and_a_downgrade_opens_them_again(database_url, monkeypatch):
    """0021: a copy of the database held every partner's signing secret in clear."""
    import uuid

    import pytest
    from alembic import command

    from worklink.keyring import Seal
    from worklink.migrations import alembic_config

    monkeypatch.setenv("NOTIFICATIONS_WEBHOOK_SECRET_KEY", "the-webhook-secret-key-at-migration-time")
    upgrade(SPEC.migrations_dir, database_url, "notifications_0020")
    database = Database(database_url)
    rows = {"rotated": ("whsec_" + "A" * 44, "whsec_" + "B" * 44), "new": ("whsec_" + "C" * 44, None)}
    try:
        with database.engine.begin() as connection:
            for organisation, (secret, previous) in rows.items():
                connection.execute(sa.text(
                    "INSERT INTO webhook_subscriber (id, organisation_id, url, event_types, secret, previous_secret, "
                    "active, created_at, consecutive_failures) VALUES (:id, :org, 'https://crm.example/h', '', "
                    ":secret, :previous, true, CURRENT_TIMESTAMP, 0)"),
                    dict(id=uuid.uuid4().hex if database_url.startswith("sqlite") else str(uuid.uuid4()),
                         org=organisation, secret=secret, previous=previous))
        upgrade(SPEC.migrations_dir, database_url)
        sealed = _secrets(database)
        config = alembic_config(SPEC.migrations_dir, database_url)
        monkeypatch.setenv("NOTIFICATIONS_WEBHOOK_SECRET_KEY", "another-key-that-sealed-none-of-them-" + "x" * 8)
        with pytest.raises(RuntimeError, match="cannot be opened with NOTIFICATIONS_WEBHOOK_SECRET_KEY"):
            command.downgrade(config, "notifications_0020")
        assert _secrets(database) == sealed  # nothing changed
        monkeypatch.setenv("NOTIFICATIONS_WEBHOOK_SECRET_KEY_PREVIOUS", "the-webhook-secret-key-at-migration-time")
        command.downgrade(config, "notifications_0020")
        downgraded = _secrets(database)
    finally:
        database.dispose()
    seal = Seal("the-webhook-secret-key-at-migration-time")
    for organisation, values in sealed.items():
        assert all(value is None or not value.startswith("whsec_") for value in values)
        assert tuple(value and seal.open(value) for value in values) == rows[organisation]
    assert downgraded == rows  # lossless


def _secrets(database) -> dict:
    with database.engine.connect() as connection:
        return {row.organisation_id: (row.secret, row.previous_secret) for row in connection.execute(
            sa.text("SELECT organisation_id, secret, previous_secret FROM webhook_subscriber"))}


def test_inbox_items_of_a_replaced_suggestion_written_before_the_variant_say_replaced(database_url):
    """Stored as suggestion_withdrawn before messages.VARIANTS told a replacement apart, they said "Suggestion
    withdrawn" for a suggestion that still held in a newer one; other reasons, and e-mails and webhooks already
    sent, keep theirs."""
    import uuid

    from worklink_notifications.inbox import as_item
    from worklink_notifications.models import Delivery

    upgrade(SPEC.migrations_dir, database_url, "notifications_0022")
    database = Database(database_url)
    withdrawn = "adjustments.suggestion.withdrawn"
    suggestion = str(uuid.uuid4())

    def row(channel: str, reason: str | None, event_type: str = withdrawn) -> dict:
        return dict(id=uuid.uuid4(), event_id=str(uuid.uuid4()), event_source="adjustments", event_type=event_type,
                    recipient_kind="organisation", recipient_id="practice-1", channel=channel,
                    message_code="suggestion_withdrawn", status="delivered" if channel == "inbox" else "sent",
                    facts={"suggestion_id": suggestion, **({"reason": reason} if reason else {})})

    rows = {"replaced": row("inbox", "replaced"), "withdrawn": row("inbox", "gp_withdrew"),
            "no reason": row("inbox", None), "e-mail sent": row("email", "replaced"),
            "webhook sent": row("webhook", "replaced"), "other event": row("inbox", "replaced", "other.event")}
    try:
        with database.transaction() as session:  # core inserts: only the columns this revision has
            session.execute(sa.insert(Delivery.__table__), list(rows.values()))
        upgrade(SPEC.migrations_dir, database_url)
        with database.sessions() as session:
            codes = dict(session.execute(sa.select(Delivery.id, Delivery.message_code)).all())
            replaced = as_item(session.get(Delivery, rows["replaced"]["id"]))
    finally:
        database.dispose()
    assert {name: codes[r["id"]] for name, r in rows.items()} == {
        "replaced": "suggestion_replaced", "withdrawn": "suggestion_withdrawn", "no reason": "suggestion_withdrawn",
        "e-mail sent": "suggestion_withdrawn", "webhook sent": "suggestion_withdrawn",
        "other event": "suggestion_withdrawn"}
    assert (replaced["title"], replaced["text"]) == (
        "Suggestion replaced", "An adjustment suggestion from your practice was replaced by a newer suggestion.")


def test_old_unread_capacity_notices_are_marked_read_and_a_downgrade_makes_exactly_those_unread_again(database_url):
    """0025: "Capacity changed", no longer made since 0024, said nothing and kept unread counts up for ever. Unread
    ones become read (still listed, as they were); read ones, other notices, e-mails and webhooks are left alone."""
    import uuid
    from datetime import datetime, timezone

    from alembic import command

    from worklink.migrations import alembic_config
    from worklink_notifications.inbox import InboxOwner, as_item, unread
    from worklink_notifications.models import Delivery
    from worklink_notifications.schemas import InboxItem

    upgrade(SPEC.migrations_dir, database_url, "notifications_0024")
    database = Database(database_url)
    service, owner = str(uuid.uuid4()), str(uuid.uuid4())
    earlier = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)

    def row(code: str, channel: str = "inbox", read_at: datetime | None = None) -> dict:
        return dict(id=uuid.uuid4(), event_id=str(uuid.uuid4()), event_source="/referrals",
                    event_type="referrals.capacity.changed", recipient_kind="organisation", recipient_id=owner,
                    channel=channel, message_code=code, status="delivered" if channel == "inbox" else "digest",
                    facts={"service_id": service}, read_at=read_at)

    rows = {"unread": row("capacity_changed"), "unread too": row("capacity_changed"),
            "read": row("capacity_changed", read_at=earlier), "paused": row("intake_paused"),
            "e-mail": row("capacity_changed", "email")}
    organisation = InboxOwner("organisation", owner)
    try:
        with database.transaction() as session:
            session.execute(sa.insert(Delivery.__table__), list(rows.values()))
        upgrade(SPEC.migrations_dir, database_url)
        with database.sessions() as session:
            marked = {name: session.get(Delivery, r["id"]).read_at for name, r in rows.items()}
            counted = unread(session, organisation)
            shown = InboxItem().dump(as_item(session.get(Delivery, rows["unread"]["id"])))
        command.downgrade(alembic_config(SPEC.migrations_dir, database_url), "notifications_0024")
        with database.sessions() as session:
            back = {name: (session.get(Delivery, r["id"]).read_at, session.get(Delivery, r["id"]).facts)
                    for name, r in rows.items()}
    finally:
        database.dispose()
    assert marked["unread"] is not None and marked["unread too"] is not None
    assert (marked["paused"], marked["e-mail"]) == (None, None)
    assert marked["read"].replace(tzinfo=timezone.utc) == earlier  # read when it was: unchanged
    assert counted == 1  # the intake notice alone
    assert (shown["title"], shown["facts"]) == ("Capacity changed", {"service_id": service})  # the mark not shown
    assert {name: (read_at is None, facts) for name, (read_at, facts) in back.items()} == {
        "unread": (True, {"service_id": service}), "unread too": (True, {"service_id": service}),
        "read": (False, {"service_id": service}), "paused": (True, {"service_id": service}),
        "e-mail": (True, {"service_id": service})}
