"""Records retention in notifications (retention.py): finished deliveries lose their personal content after the
support window and are deleted after the statistics horizon, read inbox items and residents' messages go sooner,
digests lose their staff address, a withdrawn consent outlives every message it could still stop - all sent for
real through SMTP and HTTP first, on SQLite and PostgreSQL - and the admin API and page still read a redacted row."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from worklink.config import ConfigError
from worklink.web.pages import SESSION_COOKIE
from worklink_notifications import retention, routing, signing
from worklink_notifications.models import (PLATFORM, Delivery, DeliveryAttempt, Digest, OrganisationContact,
                                           RevokedConsent, WebhookSubscriber)
from worklink_notifications.retention import RetentionSchedule
from tests.services.notifications.support import make_worker
from tests.browser import sealed

pytestmark = pytest.mark.timeout(120)

ORG = "00000000-0000-4000-8000-00000000c001"
SCHEDULE = RetentionSchedule()  # the defaults: 30 days, 30 days, 183 days, 365 days, 72 h


def add(database, *rows) -> list:
    with database.transaction() as session:
        session.add_all(rows)
        session.flush()
        return [getattr(row, "id", None) for row in rows]


def queue(database, recipient: routing.Recipient, event_type: str = "referrals.referral.accepted") -> None:
    with database.transaction() as session:
        routing.add_delivery(session, event_id=str(uuid.uuid4()), event_type=event_type, recipient=recipient,
                             message_code="referral_accepted", facts={"referral_id": str(uuid.uuid4())},
                             occurred_at=datetime.now(timezone.utc))


def contact(database, email: str, frequency: str = "immediate") -> routing.Recipient:
    [contact_id] = add(database, OrganisationContact(organisation_id=ORG, purpose="team", email=email,
                                                     frequency=frequency))
    return routing.Recipient("contact", str(contact_id), "email", email, frequency)


def person_message(database, address: str, consent: uuid.UUID | None = None) -> None:
    event = SimpleNamespace(id=str(uuid.uuid4()), type="notifications.person_message.requested", data={
        "message_id": uuid.uuid4(), "person_id": "person-7", "consent_id": consent or uuid.uuid4(),
        "message_code": "adviser_will_contact_you", "contact": {"channel": "email", "address": address},
        "referral_id": None, "requested_at": datetime.now(timezone.utc)})
    with database.transaction() as session:
        assert routing.request_person_message(session, event) == 1


def rows(database, model, *where) -> list:
    with database.sessions() as session:
        return list(session.scalars(sa.select(model).where(*where)))


def by_recipient(database) -> dict[str, Delivery]:
    with database.sessions() as session:
        found = session.scalars(sa.select(Delivery).where(Delivery.recipient_kind != "person"))
        return {d.recipient_id: d for d in found}


def apply(database, clock, **after) -> dict[str, int]:
    return retention.apply(database, SCHEDULE, clock.now + timedelta(**after))


# --- the schedule ----------------------------------------------------------------------------------------


def test_finished_deliveries_lose_their_personal_content_after_30_days_and_unsent_ones_are_never_touched(
        notifications_db, smtp_server, webhook_receiver, clock):
    sent = contact(notifications_db, "ann.other@example.org")
    refused = contact(notifications_db, "bob.jones@example.org")
    waiting = contact(notifications_db, "cat.smith@example.org")
    smtp_server.refuse.add("bob.jones@example.org")
    smtp_server.busy["cat.smith@example.org"] = 1000  # 451 "try again later" every time: stays retrying
    webhook_receiver.secret, webhook_receiver.clock = signing.new_secret(), clock
    [subscriber_id] = add(notifications_db, WebhookSubscriber(organisation_id=ORG, url=webhook_receiver.url,
                                                              secret=webhook_receiver.secret))
    for recipient in (sent, refused, waiting,
                      routing.Recipient("subscriber", str(subscriber_id), "webhook", webhook_receiver.url),
                      routing.Recipient("organisation", ORG, "inbox")):
        queue(notifications_db, recipient)
    make_worker(notifications_db, smtp_server, clock).run_once()
    before = by_recipient(notifications_db)
    assert [before[r.id].status for r in (sent, refused, waiting)] == ["sent", "dead", "retrying"]
    assert before[str(subscriber_id)].status == "sent" and len(webhook_receiver.accepted) == 1

    assert apply(notifications_db, clock, days=29)["deliveries_redacted"] == 0  # within the support window
    assert by_recipient(notifications_db)[sent.id].address == "ann.other@example.org"
    assert apply(notifications_db, clock, days=31)["deliveries_redacted"] == 2  # the sent e-mail and webhook
    # A dead one has no time of its own: it ended at the latest 72 hours (the retry horizon) after it was queued.
    assert by_recipient(notifications_db)[refused.id].address == "bob.jones@example.org"
    assert apply(notifications_db, clock, days=34)["deliveries_redacted"] == 1
    after = by_recipient(notifications_db)
    for recipient_id in (sent.id, refused.id, str(subscriber_id)):
        delivery = after[recipient_id]
        assert delivery.address is None and delivery.redacted_at is not None
        assert (delivery.status, delivery.event_id, delivery.channel) == (
            before[recipient_id].status, before[recipient_id].event_id, before[recipient_id].channel)
    assert after[refused.id].last_error == "SMTPRecipientsRefused 550 5.1.1"  # "No such mailbox" goes
    details = [a.detail for a in rows(notifications_db, DeliveryAttempt, DeliveryAttempt.detail.is_not(None))
               if a.delivery_id == after[refused.id].id]
    assert details == ["SMTPRecipientsRefused 550 5.1.1"]
    # Still retrying: its address and its server's reply stay, however old.
    assert after[waiting.id].status == "retrying" and after[waiting.id].address == "cat.smith@example.org"
    assert "Temporary local problem" in after[waiting.id].last_error
    assert after[ORG].redacted_at is None  # an inbox item holds no address

    assert apply(notifications_db, clock, days=35)["deliveries_redacted"] == 0  # idempotent


def test_read_inbox_items_go_after_six_months_every_finished_delivery_after_a_year(notifications_db, smtp_server,
                                                                                  clock):
    address = contact(notifications_db, "ann.other@example.org")
    queue(notifications_db, address)
    for _ in range(3):
        queue(notifications_db, routing.Recipient("organisation", ORG, "inbox"))
    make_worker(notifications_db, smtp_server, clock).run_once()
    [read, *unread] = rows(notifications_db, Delivery, Delivery.channel == "inbox")
    with notifications_db.transaction() as session:
        session.get(Delivery, read.id).read_at = clock.now

    assert apply(notifications_db, clock, days=182)["read_inbox_deleted"] == 0
    assert apply(notifications_db, clock, days=184)["read_inbox_deleted"] == 1
    assert {d.id for d in rows(notifications_db, Delivery, Delivery.channel == "inbox")} == {d.id for d in unread}

    assert apply(notifications_db, clock, days=364)["deliveries_deleted"] == 0
    counts = apply(notifications_db, clock, days=366)
    assert counts["deliveries_deleted"] == 3  # the sent e-mail (with its attempt) and the unread items
    assert rows(notifications_db, Delivery) == [] and rows(notifications_db, DeliveryAttempt) == []


def test_a_daily_digest_loses_its_staff_address_after_30_days_and_goes_after_a_year(notifications_db, smtp_server,
                                                                                     clock):
    clock.now = clock.now.replace(hour=18)  # after the digest hour
    recipient = contact(notifications_db, "dee.jones@example.org", frequency="daily")
    queue(notifications_db, recipient)
    queue(notifications_db, recipient, "referrals.referral.completed")
    assert make_worker(notifications_db, smtp_server, clock).run_digests() == 1
    assert len(smtp_server.to("dee.jones@example.org")) == 1
    [digest] = rows(notifications_db, Digest)
    assert digest.address == "dee.jones@example.org"

    assert apply(notifications_db, clock, days=29)["digests_redacted"] == 0
    counts = apply(notifications_db, clock, days=31)
    assert (counts["digests_redacted"], counts["deliveries_redacted"]) == (1, 2)
    [digest] = rows(notifications_db, Digest)
    assert digest.address is None and digest.redacted_at is not None and digest.items == 2
    assert all(d.address is None for d in rows(notifications_db, Delivery))

    counts = apply(notifications_db, clock, days=366)
    assert (counts["deliveries_deleted"], counts["digests_deleted"]) == (2, 1)
    assert rows(notifications_db, Digest) == []


def test_a_residents_message_is_deleted_30_days_after_it_was_sent_and_the_deletion_audited(notifications_db,
                                                                                         smtp_server, clock):
    person_message(notifications_db, "sam@example.org")
    make_worker(notifications_db, smtp_server, clock).run_once()
    assert len(smtp_server.to("sam@example.org")) == 1
    [sent] = rows(notifications_db, Delivery, Delivery.recipient_kind == "person")

    assert apply(notifications_db, clock, days=29)["person_messages_deleted"] == 0
    assert apply(notifications_db, clock, days=31)["person_messages_deleted"] == 1
    assert rows(notifications_db, Delivery) == [] and rows(notifications_db, DeliveryAttempt) == []
    audit = PLATFORM.audit_log.c
    with notifications_db.sessions() as session:
        [entry] = session.execute(sa.select(audit.action, audit.resource_type, audit.resource_id, audit.person_id,
                                            audit.actor, audit.purpose)).all()
    assert tuple(entry) == ("delete", "person_message", str(sent.id), "person-7", "system", "retention")


def test_a_dead_residents_address_erased_after_7_days_is_audited(notifications_db, smtp_server, clock):
    smtp_server.refuse.add("sam@example.org")
    person_message(notifications_db, "sam@example.org")
    worker = make_worker(notifications_db, smtp_server, clock)
    worker.run_once()
    clock.advance(days=8)
    assert worker.purge_person_addresses() == 1
    [dead] = rows(notifications_db, Delivery)
    audit = PLATFORM.audit_log.c
    with notifications_db.sessions() as session:
        [entry] = session.execute(sa.select(audit.action, audit.resource_id, audit.person_id, audit.actor)).all()
    assert tuple(entry) == ("erase", str(dead.id), "person-7", "system")
    assert worker.purge_person_addresses() == 0  # nothing left to erase, nothing audited twice


def test_the_running_delivery_worker_applies_the_schedule(notifications_db, smtp_server, clock):
    queue(notifications_db, contact(notifications_db, "ann.other@example.org"))
    make_worker(notifications_db, smtp_server, clock).run_once()
    clock.advance(days=31)
    worker = make_worker(notifications_db, smtp_server, clock)
    stop = threading.Event()
    running = threading.Thread(target=worker.run, args=(stop,), kwargs={"idle_sleep": 0.05})
    running.start()
    try:
        deadline = time.monotonic() + 20
        while rows(notifications_db, Delivery)[0].redacted_at is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        running.join(10)
    [delivery] = rows(notifications_db, Delivery)
    assert delivery.redacted_at is not None and delivery.address is None


def test_a_long_first_pass_is_spread_over_several_with_sending_in_between(notifications_db, clock):
    for _ in range(5):
        queue(notifications_db, routing.Recipient("organisation", ORG, "inbox"))
    with notifications_db.transaction() as session:
        session.execute(sa.update(Delivery).values(read_at=clock.now - timedelta(days=200)))
    worker = make_worker(notifications_db, None, clock)
    worker.retention = RetentionSchedule(batch=2, rows_per_pass=3)

    assert worker.apply_retention_when_due()["read_inbox_deleted"] == 3  # batches of 2 and 1, then it stops
    assert len(rows(notifications_db, Delivery)) == 2
    assert worker.apply_retention_when_due() is None  # the worker sends before the next pass
    clock.advance(minutes=2)
    assert worker.apply_retention_when_due()["read_inbox_deleted"] == 2
    assert rows(notifications_db, Delivery) == []
    clock.advance(minutes=2)
    assert worker.apply_retention_when_due() is None  # done: the next pass is an hour on
    clock.advance(hours=1)
    assert worker.apply_retention_when_due()["read_inbox_deleted"] == 0


# --- withdrawn consents -------------------------------------------------------------------------------------


def test_a_message_queued_as_its_consent_was_withdrawn_is_stopped_when_the_worker_comes_to_send_it(
        notifications_db, smtp_server, clock):
    """On another partition (the person re-keyed by its owner) a message can be queued by one consumer while
    another records the withdrawal: the worker checks the consent before it sends."""
    consent = uuid.uuid4()
    person_message(notifications_db, "sam@example.org", consent)
    add(notifications_db, RevokedConsent(consent_id=consent, person_id="person-7", revoked_at=clock.now))
    make_worker(notifications_db, smtp_server, clock).run_once()
    assert smtp_server.to("sam@example.org") == []
    [stopped] = rows(notifications_db, Delivery)
    assert (stopped.status, stopped.address, stopped.last_error) == ("revoked", None, "consent withdrawn")


def test_a_withdrawal_outlives_every_message_it_could_still_stop():
    from worklink.messaging.topics import load_topics

    [topic] = [t for t in load_topics() if t.name == "notifications.person-messages"]
    [dlt] = [t for t in load_topics() if t.name == "notifications.person-messages.dlt"]
    arrival = timedelta(milliseconds=topic.retention_ms + dlt.retention_ms + 2 * (topic.segment_ms or 0))
    assert retention.MESSAGE_ARRIVAL >= arrival + timedelta(days=1)
    # A message that arrived just before can be sent until its retry horizon - or, dead, re-sent while its
    # address is kept (7 days) and retried that long again.
    assert SCHEDULE.revoked_consents == retention.MESSAGE_ARRIVAL  # 14 days > 7 days + 72 hours
    longer = RetentionSchedule(give_up_after=timedelta(days=10))
    assert longer.revoked_consents == timedelta(days=17)


def test_the_worker_keeps_a_withdrawal_as_long_as_its_retry_horizon_needs(notifications_db, clock):
    consent = uuid.uuid4()
    add(notifications_db, RevokedConsent(consent_id=consent, person_id="p", revoked_at=clock.now,
                                         recorded_at=clock.now - timedelta(days=15)))
    assert make_worker(notifications_db, None, clock, give_up_after=timedelta(days=10)).purge_revoked_consents() == 0
    assert make_worker(notifications_db, None, clock).purge_revoked_consents() == 1


# --- configuration --------------------------------------------------------------------------------------


def test_the_schedule_is_read_from_the_environment_and_refuses_what_would_break_it():
    assert RetentionSchedule.from_env({}) == SCHEDULE
    custom = RetentionSchedule.from_env({"NOTIFICATIONS_RETENTION_CONTENT_DAYS": "14",
                                         "NOTIFICATIONS_RETENTION_READ_INBOX_DAYS": "90",
                                         "NOTIFICATIONS_RETENTION_DELIVERY_DAYS": "730",
                                         "NOTIFICATIONS_RETENTION_PERSON_MESSAGE_DAYS": "20",
                                         "NOTIFICATIONS_GIVE_UP_HOURS": "240"})
    assert (custom.content, custom.read_inbox, custom.deliveries, custom.person_messages, custom.revoked_consents) \
        == (timedelta(days=14), timedelta(days=90), timedelta(days=730), timedelta(days=20), timedelta(days=17))
    assert custom.removed_note() == "Removed after 14 days"
    for env, named in (({"NOTIFICATIONS_RETENTION_CONTENT_DAYS": "0"}, "CONTENT_DAYS"),
                       ({"NOTIFICATIONS_RETENTION_CONTENT_DAYS": "a month"}, "CONTENT_DAYS"),
                       ({"NOTIFICATIONS_RETENTION_PERSON_MESSAGE_DAYS": "7"}, "PERSON_MESSAGE_DAYS"),
                       ({"NOTIFICATIONS_RETENTION_READ_INBOX_DAYS": "400"}, "READ_INBOX_DAYS")):
        with pytest.raises(ConfigError, match=named):
            RetentionSchedule.from_env(env)


@pytest.mark.parametrize("detail, codes", [
    ("SMTPRecipientsRefused: {'<address>': (550, b'5.1.1 <sam.smith@example.org>: No such user Sam Smith')}",
     "SMTPRecipientsRefused 550 5.1.1"),
    ("HTTP 503 from the receiver (Retry-After: 450 s)", "HTTP 503"),
    ("not sent within 72 hours, retried 13 times: SMTPDataError: (451, b'4.3.0 Mailbox of Ann busy')",
     "SMTPDataError 451 4.3.0"),
    ("ReceiverUnreachable: ConnectionError: HTTPConnectionPool(host='10.0.0.4', port=8443)", "ReceiverUnreachable"),
    ("consent withdrawn", "details removed"),
    (None, None),
])
def test_a_failure_is_cut_to_its_kind_and_codes(detail, codes):
    assert retention.reply_codes(detail) == codes


# --- reading a redacted row ---------------------------------------------------------------------------------


def test_the_admin_api_and_page_say_what_was_removed_and_refuse_a_re_send(app, notifications_db, smtp_server,
                                                                          token, clock):
    smtp_server.refuse.add("bob.jones@example.org")
    queue(notifications_db, contact(notifications_db, "bob.jones@example.org"))
    make_worker(notifications_db, smtp_server, clock).run_once()
    apply(notifications_db, clock, days=34)
    client, admin = app.test_client(), token("alliance_admin", sub="admin-1")

    listed = client.get("/deliveries?status=dead", headers=admin)
    assert listed.status_code == 200, listed.get_json()
    [item] = listed.get_json()["items"]
    assert (item["address"], item["removed"], item["last_error"]) == (
        None, "Removed after 30 days", "SMTPRecipientsRefused 550 5.1.1")
    assert item["redacted_at"]
    one = client.get(f"/deliveries/{item['id']}", headers=admin).get_json()
    assert one["removed"] == "Removed after 30 days"
    assert [a["detail"] for a in one["attempt_history"]] == ["SMTPRecipientsRefused 550 5.1.1"]

    again = client.post(f"/deliveries/{item['id']}/resend", headers=admin)
    assert again.status_code == 409 and again.content_type == "application/problem+json"
    assert "retention" in again.get_json()["detail"]

    browser = app.test_client()
    browser.set_cookie(SESSION_COOKIE, sealed(app, admin["Authorization"].removeprefix("Bearer ")))
    page = browser.get("/admin", headers={"Accept": "text/html"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Removed after 30 days" in html and "bob.jones" not in html and "No such mailbox" not in html


def test_the_inbox_api_and_page_after_read_items_were_deleted(app, notifications_db, token):
    for _ in range(2):
        queue(notifications_db, routing.Recipient("organisation", ORG, "inbox"))
    [read, unread] = rows(notifications_db, Delivery)
    with notifications_db.transaction() as session:
        session.get(Delivery, read.id).read_at = datetime.now(timezone.utc)
    assert retention.apply(notifications_db, SCHEDULE, datetime.now(timezone.utc) + timedelta(days=200)) \
        ["read_inbox_deleted"] == 1
    client, adviser = app.test_client(), token("adviser", org=ORG, sub="ada")

    inbox = client.get("/inbox?scope=organisation", headers=adviser).get_json()
    assert ([i["id"] for i in inbox["items"]], inbox["total"], inbox["unread"]) == ([str(unread.id)], 1, 1)
    browser = app.test_client()
    browser.set_cookie(SESSION_COOKIE, sealed(app, adviser["Authorization"].removeprefix("Bearer ")))
    page = browser.get("/messages?scope=organisation", headers={"Accept": "text/html"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Your organisation (1)" in html and "Referral accepted" in html


def test_a_cron_run_of_the_worker_applies_the_schedule_too(notifications_db, tmp_path, monkeypatch):
    """`worklink-notifications deliver --once` (e.g. from cron) erases as the running worker does."""
    from click.testing import CliRunner

    from worklink_notifications.cli import main

    long_ago = datetime.now(timezone.utc) - timedelta(days=40)
    add(notifications_db, Delivery(event_id="e-1", event_type="referrals.referral.accepted", recipient_kind="contact",
                                   recipient_id=str(uuid.uuid4()), channel="email", message_code="referral_accepted",
                                   address="ann.other@example.org", status="sent", attempts=1, created_at=long_ago,
                                   sent_at=long_ago))
    monkeypatch.setenv("NOTIFICATIONS_DATABASE_URL", notifications_db.url)
    monkeypatch.setenv("WORKLINK_VAR", str(tmp_path))
    result = CliRunner().invoke(main, ["deliver", "--once"])
    assert result.exit_code == 0, result.output
    assert "deliveries redacted: 1" in result.output and "ann.other" not in result.output
    [delivery] = rows(notifications_db, Delivery)
    assert delivery.address is None and delivery.redacted_at is not None
