"""The delivery worker against a real SMTP server and a real webhook receiver that verifies signatures."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import requests
import sqlalchemy as sa

from worklink.pseudonyms import clinician_reference
from worklink_notifications import routing, signing
from worklink_notifications.config import webhook_secret_seal
from worklink_notifications.models import (Delivery, DeliveryAttempt, Digest, OrganisationContact,
                                           UserChannelSettings, WebhookSubscriber)
from tests.services.notifications.support import make_worker

pytestmark = pytest.mark.timeout(120)

REFERRER = str(uuid.uuid4())


def event(event_type: str, **data) -> SimpleNamespace:
    """What the consumer hands a handler: an id, a type and validated data."""
    base = {"referral_id": uuid.uuid4(), "status": "accepted", "referrer_org_id": uuid.UUID(REFERRER),
            "assigned_org_id": uuid.uuid4(), "occurred_at": datetime.now(timezone.utc)}
    return SimpleNamespace(id=str(uuid.uuid4()), type=event_type, data={**base, **data})


def route(database, *events) -> None:
    for e in events:
        with database.transaction() as session:
            routing.route_event(session, e)


def add(database, *rows):
    with database.transaction() as session:
        session.add_all(rows)
    return rows


def all_deliveries(database, *where) -> list[Delivery]:
    with database.sessions() as session:
        return list(session.scalars(sa.select(Delivery).where(*where).order_by(Delivery.created_at)))


def subscriber_for(database, receiver, organisation=REFERRER) -> WebhookSubscriber:
    """A subscriber stored as the API stores it, its secret sealed; the receiver knows it in clear."""
    receiver.secret = signing.new_secret()
    subscriber = WebhookSubscriber(organisation_id=organisation, url=receiver.url,
                                   secret=webhook_secret_seal().seal(receiver.secret))
    add(database, subscriber)
    return subscriber


def test_email_goes_through_smtp_with_plain_and_html_parts_and_no_health_detail(notifications_db, smtp_server, clock):
    add(notifications_db, OrganisationContact(organisation_id=REFERRER, purpose="team", email="gp@practice.example"))
    route(notifications_db, event("referrals.referral.accepted", reason="long_term_condition"))
    worker = make_worker(notifications_db, smtp_server, clock)

    assert worker.run_once() == 1
    assert worker.run_once() == 0  # sent once
    [mail] = smtp_server.to("gp@practice.example")
    assert mail["Subject"] == "Referral accepted"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "Your referral was accepted." in text and "<p>Your referral was accepted.</p>" in html
    assert "long_term_condition" not in text + html and "/messages" in text
    [email] = all_deliveries(notifications_db, Delivery.channel == "email")
    assert (email.status, email.attempts) == ("sent", 1)


def test_an_email_says_in_words_which_target_was_missed_and_when_and_the_digest_names_its_day(notifications_db,
                                                                                               smtp_server, clock):
    """What the inbox says (test_pages), the e-mail and the digest say too: the facts in words, UK time."""
    lead, daily = "lead@advisers.example", "daily@advisers.example"
    advisers = uuid.uuid4()
    add(notifications_db, OrganisationContact(organisation_id=str(advisers), purpose="lead", email=lead),
        OrganisationContact(organisation_id=str(advisers), purpose="lead", email=daily, frequency="daily"))
    route(notifications_db, event("referrals.referral.sla_breached", clock="acknowledge", status="submitted",
                                  assigned_org_id=advisers, due_at=datetime(2026, 11, 25, 17, 0, tzinfo=timezone.utc)))
    worker = make_worker(notifications_db, smtp_server, clock)
    worker.run_once()
    [mail] = smtp_server.to(lead)
    assert mail["Subject"] == "Referral overdue"
    assert mail.get_body(("plain",)).get_content().splitlines()[:3] == [
        "A referral missed its target time.",
        "Missed target: acknowledging the referral, due by 25 November 2026, 17:00.",
        "The referral was submitted at the time."]
    assert "<p>Missed target: acknowledging the referral, due by 25 November 2026, 17:00.</p>" \
        in mail.get_body(("html",)).get_content()

    clock.now = datetime(2026, 11, 27, 17, 5, tzinfo=timezone.utc)
    assert worker.run_digests() == 1
    [digest] = smtp_server.to(daily)
    assert digest["Subject"] == "Your WorkLink updates for 27 November 2026 (1)"
    assert "- Referral overdue: A referral missed its target time. Missed target: acknowledging the referral, due " \
           "by 25 November 2026, 17:00. The referral was submitted at the time." \
           in digest.get_body(("plain",)).get_content().splitlines()


def test_webhooks_are_signed_and_verified_by_the_receiver(notifications_db, webhook_receiver, clock):
    subscriber_for(notifications_db, webhook_receiver)
    clock.now = datetime.now(timezone.utc)  # the receiver checks the timestamp against its own clock
    accepted = event("referrals.referral.accepted")
    route(notifications_db, accepted)
    make_worker(notifications_db, None, clock).run_once()

    assert webhook_receiver.rejected == []
    [received] = webhook_receiver.accepted
    assert received["body"]["type"] == "referrals.referral.accepted"
    assert received["body"]["event_id"] == accepted.id
    assert received["body"]["data"]["referral_id"] == str(accepted.data["referral_id"])
    [delivery] = all_deliveries(notifications_db, Delivery.channel == "webhook")
    assert received["id"] == str(delivery.id) and delivery.status == "sent"


def test_failures_retry_on_schedule_then_dead_letter_then_resend(notifications_db, webhook_receiver, clock, app,
                                                                token):
    subscriber_for(notifications_db, webhook_receiver)
    clock.now = datetime.now(timezone.utc)
    webhook_receiver.fail_next = 99
    route(notifications_db, event("referrals.referral.completed"))
    worker = make_worker(notifications_db, None, clock, webhook_retry_schedule=(60, 120),
                         give_up_after=timedelta(minutes=5))

    assert worker.run_once() == 1
    [delivery] = all_deliveries(notifications_db, Delivery.channel == "webhook")
    assert delivery.status == "retrying"
    wait = delivery.next_attempt_at.replace(tzinfo=timezone.utc) - clock.now
    assert timedelta(seconds=48) <= wait <= timedelta(seconds=72)  # the first step, +-20% jitter
    assert worker.run_once() == 0  # not due yet
    while delivery.status == "retrying":  # 120 s apart after that, until 5 minutes after it was queued
        clock.now = delivery.next_attempt_at.replace(tzinfo=timezone.utc)
        assert worker.run_once() == 1
        [delivery] = all_deliveries(notifications_db, Delivery.channel == "webhook")
    assert delivery.status == "dead" and delivery.attempts >= 3
    clock.advance(hours=5)
    assert worker.run_once() == 0  # dead stays dead

    client = app.test_client()
    admin = token("alliance_admin", org="alliance")
    assert client.get("/deliveries?status=dead", headers=token("org_admin", org=REFERRER)).status_code == 403
    listed = client.get("/deliveries?status=dead", headers=admin).get_json()
    assert [d["id"] for d in listed["items"]] == [str(delivery.id)]
    detail = client.get(f"/deliveries/{delivery.id}", headers=admin).get_json()
    assert [a["outcome"] for a in detail["attempt_history"]] == ["failed"] * delivery.attempts
    assert "not sent within 5 minutes" in detail["last_error"] and "HTTP 503" in detail["last_error"]

    webhook_receiver.fail_next = 0
    resent = client.post(f"/deliveries/{delivery.id}/resend", headers=admin)
    assert resent.status_code == 202 and resent.get_json()["status"] == "pending"
    assert client.post(f"/deliveries/{delivery.id}/resend", headers=admin).status_code == 409
    clock.now = datetime.now(timezone.utc)
    assert worker.run_once() == 1
    assert [r["id"] for r in webhook_receiver.accepted] == [str(delivery.id)]  # same webhook-id on every try
    assert all_deliveries(notifications_db, Delivery.channel == "webhook")[0].status == "sent"


def test_a_refused_address_is_dead_at_once(notifications_db, smtp_server, clock):
    add(notifications_db, OrganisationContact(organisation_id=REFERRER, purpose="team", email="gone@practice.example"))
    smtp_server.refuse.add("gone@practice.example")
    route(notifications_db, event("referrals.referral.failed"))
    make_worker(notifications_db, smtp_server, clock).run_once()
    [email] = all_deliveries(notifications_db, Delivery.channel == "email")
    assert (email.status, email.attempts) == ("dead", 1)
    assert "550" in email.last_error


def test_preferences_choose_channels_and_daily_digests_send_once_a_day(notifications_db, smtp_server, clock):
    add(notifications_db,
        OrganisationContact(organisation_id=REFERRER, purpose="team", email="now@practice.example"),
        OrganisationContact(organisation_id=REFERRER, purpose="team", email="daily@practice.example",
                            frequency="daily"))
    route(notifications_db, event("referrals.referral.accepted"), event("referrals.referral.rejected"))
    worker = make_worker(notifications_db, smtp_server, clock, digest_hour=17)

    worker.run_once()
    assert len(smtp_server.to("now@practice.example")) == 2  # immediate: one email per event
    assert worker.run_digests() == 0  # 09:00: before the digest hour
    assert smtp_server.to("daily@practice.example") == []

    clock.now = clock.now.replace(hour=17, minute=5)
    assert worker.run_digests() == 1
    [digest] = smtp_server.to("daily@practice.example")
    body = digest.get_body(("plain",)).get_content()
    assert "Referral accepted" in body and "Referral not accepted" in body
    assert digest.get_body(("html",)) is not None

    route(notifications_db, event("referrals.referral.completed"))  # after today's digest
    clock.advance(hours=2)
    assert worker.run_digests() == 0  # one digest a day
    clock.advance(days=1)
    assert worker.run_digests() == 1
    assert len(smtp_server.to("daily@practice.example")) == 2
    with notifications_db.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Digest)) == 2
        waiting = session.scalar(sa.select(sa.func.count()).select_from(Delivery).where(Delivery.status == "digest"))
    assert waiting == 0


def test_queued_email_follows_what_the_recipient_wants_when_it_is_sent(notifications_db, smtp_server, clock):
    """Routing copies addresses; by the time the worker sends, a leaver's contact may be gone, a user may have
    turned e-mail off or moved address: nothing goes to a removed contact or a user who said no."""
    leaver, daily_leaver = add(
        notifications_db,
        OrganisationContact(organisation_id=REFERRER, purpose="team", email="leaver@practice.example"),
        OrganisationContact(organisation_id=REFERRER, purpose="team", email="daily-leaver@practice.example",
                            frequency="daily"))
    add(notifications_db,
        UserChannelSettings(user_id="ann", organisation_id=REFERRER, email="ann@practice.example", email_enabled=True,
                            frequency="daily"),
        UserChannelSettings(user_id="bob", organisation_id=REFERRER, email="bob@old.example", email_enabled=True),
        UserChannelSettings(user_id="cat", organisation_id=REFERRER, email="cat@practice.example", email_enabled=True,
                            frequency="daily"))
    route(notifications_db, event("referrals.referral.accepted"))
    with notifications_db.transaction() as session:
        session.delete(session.get(OrganisationContact, leaver.id))
        session.delete(session.get(OrganisationContact, daily_leaver.id))
        session.get(UserChannelSettings, "ann").email_enabled = False
        session.get(UserChannelSettings, "bob").email = "bob@new.example"
        session.get(UserChannelSettings, "cat").email = "cat@new.example"

    worker = make_worker(notifications_db, smtp_server, clock, digest_hour=17)
    worker.run_once()
    clock.now = clock.now.replace(hour=17, minute=5)
    assert worker.run_digests() == 1

    assert sorted(m["To"] for m in smtp_server.messages) == ["bob@new.example", "cat@new.example"]
    by_address = {d.recipient_id: d.status for d in all_deliveries(notifications_db, Delivery.channel == "email")}
    assert by_address == {str(leaver.id): "cancelled", str(daily_leaver.id): "cancelled", "ann": "cancelled",
                          "bob": "sent", "cat": "sent"}
    assert worker.run_once() == 0 and worker.run_digests() == 0  # cancelled stays unsent


def _daily_contact_with_waiting_items(database, email: str) -> None:
    add(database, OrganisationContact(organisation_id=REFERRER, purpose="team", email=email, frequency="daily"))
    route(database, event("referrals.referral.accepted"), event("referrals.referral.rejected"))


def _digest_rows(database) -> int:
    with database.sessions() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(Digest))


def test_digests_wait_while_the_mail_server_is_down_and_go_when_it_is_back(notifications_db, clock):
    from aiosmtpd.controller import Controller

    from tests.services.notifications.support import Mailbox
    from worklink.devstack import free_port

    _daily_contact_with_waiting_items(notifications_db, "daily@practice.example")
    port = free_port()  # nothing listens here yet
    worker = make_worker(notifications_db, SimpleNamespace(port=port), clock, digest_hour=17)
    clock.now = clock.now.replace(hour=17, minute=5)

    assert worker.run_digests() == 0  # refused connection: no exception, nothing lost
    waiting = all_deliveries(notifications_db, Delivery.status == "digest")
    assert len(waiting) == 2 and _digest_rows(notifications_db) == 0  # today's claim released
    with notifications_db.sessions() as session:
        outcomes = session.scalars(sa.select(DeliveryAttempt.outcome)).all()
    assert outcomes == ["failed", "failed"]
    clock.advance(seconds=10)
    assert worker.run_digests() == 0  # paused: backing off, not hammering the server
    with notifications_db.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(DeliveryAttempt)) == 2

    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        clock.advance(seconds=61)  # past the first backoff (at most backoff_base)
        assert worker.run_digests() == 1
        [digest] = mailbox.to("daily@practice.example")
        assert "Referral accepted" in digest.get_body(("plain",)).get_content()
    finally:
        controller.stop()
    assert all_deliveries(notifications_db, Delivery.status == "digest") == []
    assert _digest_rows(notifications_db) == 1


def test_a_digest_the_server_refuses_dead_letters_its_items(notifications_db, smtp_server, clock):
    _daily_contact_with_waiting_items(notifications_db, "gone@practice.example")
    smtp_server.refuse.add("gone@practice.example")
    worker = make_worker(notifications_db, smtp_server, clock, digest_hour=17)
    clock.now = clock.now.replace(hour=17, minute=5)

    assert worker.run_digests() == 0
    dead = all_deliveries(notifications_db, Delivery.status == "dead")
    assert len(dead) == 2 and all("550" in d.last_error for d in dead)
    assert _digest_rows(notifications_db) == 0 and worker.run_digests() == 0


def test_the_worker_loop_outlives_a_failed_round(notifications_db, smtp_server, clock, monkeypatch):
    import threading

    worker = make_worker(notifications_db, smtp_server, clock)
    rounds, stop = [], threading.Event()
    real_run_once = worker.run_once

    def flaky_run_once(stop=None):
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise sa.exc.OperationalError("SELECT 1", {}, Exception("database is unavailable"))
        if len(rounds) >= 3:
            stop.set()
        return real_run_once()

    monkeypatch.setattr(worker, "run_once", flaky_run_once)
    loop = threading.Thread(target=worker.run, args=(stop,), kwargs={"idle_sleep": 0.01, "max_pause": 0.05})
    loop.start()
    loop.join(timeout=10)
    assert not loop.is_alive() and len(rounds) >= 3  # it kept going after the failure, until told to stop


def test_the_worker_loop_outlives_a_long_outage(notifications_db, smtp_server, clock, monkeypatch):
    """Its pause was 2.0 ** failures, capped after the power: past 1,023 failed rounds in a row (some 17 hours of
    a database outage at a minute each) the power overflowed, and the worker died of an OverflowError."""
    import threading

    worker = make_worker(notifications_db, smtp_server, clock)
    rounds, stop = [], threading.Event()

    def failing_run_once(stop_=None):
        rounds.append(len(rounds))
        if len(rounds) >= 1100:
            stop.set()
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("database is unavailable"))

    monkeypatch.setattr(worker, "run_once", failing_run_once)
    monkeypatch.setattr("worklink_notifications.delivery.log.exception", lambda *args, **kwargs: None)
    loop = threading.Thread(target=worker.run, args=(stop,), kwargs={"idle_sleep": 0.0, "max_pause": 0.0})
    loop.start()
    loop.join(timeout=60)
    assert not loop.is_alive() and len(rounds) >= 1100  # still trying after 1,100 failures, until told to stop


def test_a_users_own_settings_decide_email_and_inbox(notifications_db, smtp_server, clock):
    practice = str(uuid.uuid4())
    add(notifications_db,
        UserChannelSettings(user_id="gp-1", organisation_id=practice, email="gp1@practice.example",
                            email_enabled=True, inbox_enabled=False),
        UserChannelSettings(user_id="gp-2", organisation_id=practice, email="gp2@practice.example",
                            email_enabled=False))
    with notifications_db.transaction() as session:
        rule = SimpleNamespace(audience="clinician", channel_list=["inbox", "email"])
        first = routing.recipients_for(session, rule, {"clinician_id": "gp-1"}, "x.y")
        second = routing.recipients_for(session, rule, {"clinician_id": "gp-2"}, "x.y")
        unknown = routing.recipients_for(session, rule, {"clinician_id": "gp-3"}, "x.y")
    assert [(r.channel, r.address) for r in first] == [("email", "gp1@practice.example")]
    assert [(r.channel, r.address) for r in second] == [("inbox", None)]
    assert [(r.channel, r.address) for r in unknown] == [("inbox", None)]


def test_a_clinician_named_by_their_reference_is_found_by_their_settings(notifications_db, smtp_server, clock):
    key = "test-reference-key"
    add(notifications_db,
        UserChannelSettings(user_id="ada@practice.example", email="ada@practice.example", email_enabled=True,
                            clinician_reference=clinician_reference("ada@practice.example", key)),
        UserChannelSettings(user_id="bob@practice.example", email="bob@practice.example", email_enabled=True,
                            clinician_reference=clinician_reference("bob@practice.example", key)))
    rule = SimpleNamespace(audience="clinician", channel_list=["inbox", "email"])
    with notifications_db.transaction() as session:
        ada = routing.recipients_for(
            session, rule, {"clinician_id": clinician_reference("ada@practice.example", key)}, "x.y")
        by_id = routing.recipients_for(session, rule, {"clinician_id": "bob@practice.example"}, "x.y")
        stranger = clinician_reference("cy@practice.example", key)
        unknown = routing.recipients_for(session, rule, {"clinician_id": stranger}, "x.y")
    # Addressed to the user the reference names, like their other deliveries (one digest a day).
    assert [(r.kind, r.id, r.channel, r.address) for r in ada] == [
        ("user", "ada@practice.example", "inbox", None),
        ("user", "ada@practice.example", "email", "ada@practice.example")]
    assert [(r.id, r.address) for r in by_id] == [("bob@practice.example", None),
                                                 ("bob@practice.example", "bob@practice.example")]
    # No settings: the inbox item keeps the reference, which that user's inbox also reads.
    assert [(r.kind, r.id, r.channel) for r in unknown] == [("user", stranger, "inbox")]


def test_a_residents_address_is_erased_once_their_message_is_sent(notifications_db, smtp_server, clock):
    person_event = SimpleNamespace(id="e1", type="notifications.person_message.requested", data={
        "message_id": uuid.uuid4(), "person_id": uuid.uuid4(), "consent_id": uuid.uuid4(),
        "message_code": "adviser_will_contact_you", "contact": {"channel": "email", "address": "sam@example.org"},
        "referral_id": None, "requested_at": datetime.now(timezone.utc)})
    with notifications_db.transaction() as session:
        routing.request_person_message(session, person_event)
    make_worker(notifications_db, smtp_server, clock).run_once()
    [mail] = smtp_server.to("sam@example.org")
    text = mail.get_body(("plain",)).get_content()
    assert "An employment adviser now has your referral and will contact you soon." in text
    [delivery] = all_deliveries(notifications_db, Delivery.recipient_kind == "person")
    assert (delivery.status, delivery.address) == ("sent", None)


def test_a_refused_residents_address_is_not_kept_in_error_text_or_logs(notifications_db, smtp_server, clock, caplog):
    """The server's refusal repeats the address: the 7-day purge would leave it in last_error and attempts."""
    smtp_server.refuse.add("sam.smith@example.org")
    person_event = SimpleNamespace(id="e1", type="notifications.person_message.requested", data={
        "message_id": uuid.uuid4(), "person_id": uuid.uuid4(), "consent_id": uuid.uuid4(),
        "message_code": "adviser_will_contact_you", "contact": {"channel": "email", "address": "sam.smith@example.org"},
        "referral_id": None, "requested_at": datetime.now(timezone.utc)})
    with notifications_db.transaction() as session:
        routing.request_person_message(session, person_event)
    worker = make_worker(notifications_db, smtp_server, clock)
    worker.run_once()
    clock.advance(days=8)
    assert worker.purge_person_addresses() == 1

    [delivery] = all_deliveries(notifications_db, Delivery.recipient_kind == "person")
    with notifications_db.sessions() as session:
        details = list(session.scalars(sa.select(DeliveryAttempt.detail)))
    assert delivery.status == "dead" and delivery.address is None
    assert "550" in delivery.last_error and "<address>" in delivery.last_error
    ours = [r for r in caplog.records if r.name.startswith("worklink")]  # not the test's own mail server's log
    recorded = " ".join([delivery.last_error, *details, *(r.getMessage() + str(r.__dict__) for r in ours)])
    assert "sam.smith" not in recorded


def test_the_worker_never_posts_to_a_host_that_resolves_to_a_private_address(notifications_db, webhook_receiver,
                                                                            clock):
    """Checked at send time on what the name resolves to then (registration cannot see DNS changes)."""
    import socket

    host = socket.gethostname()  # resolves to this machine: loopback or a private address
    port = webhook_receiver.url.split(":")[2].split("/")[0]
    subscriber = subscriber_for(notifications_db, webhook_receiver)
    with notifications_db.transaction() as session:
        session.get(WebhookSubscriber, subscriber.id).url = f"http://{host}:{port}/worklink"
    route(notifications_db, event("referrals.referral.accepted"))

    make_worker(notifications_db, None, clock, allow_private_webhooks=False).run_once()
    [delivery] = all_deliveries(notifications_db, Delivery.channel == "webhook")
    assert (delivery.status, delivery.attempts) == ("dead", 1)
    assert "not a public internet address" in delivery.last_error
    assert webhook_receiver.accepted == [] and webhook_receiver.rejected == []  # never reached


def test_an_email_sent_again_after_a_crash_before_its_record_carries_the_same_message_id(notifications_db,
                                                                                        smtp_server, clock):
    """SMTP cannot be exactly once: a worker killed between the server's 250 and the commit sends again after
    its claim's lease. The repeat has the first one's Message-ID, so mail systems can show it once."""
    add(notifications_db, OrganisationContact(organisation_id=REFERRER, purpose="team", email="gp@practice.example"))
    route(notifications_db, event("referrals.referral.accepted"))
    crashing = make_worker(notifications_db, smtp_server, clock)

    def killed(*_args, **_kwargs):
        raise SystemExit("killed between send and record")

    crashing._finish = killed
    with pytest.raises(SystemExit):
        crashing.run_once()
    restarted = make_worker(notifications_db, smtp_server, clock)
    assert restarted.run_once() == 0  # still claimed
    clock.advance(seconds=crashing.settings.claim_lease.total_seconds() + 1)  # the claim's lease is over
    assert restarted.run_once() == 1

    [delivery] = all_deliveries(notifications_db, Delivery.channel == "email")
    first, again = smtp_server.to("gp@practice.example")
    assert first["Message-ID"] == again["Message-ID"] == f"<{delivery.id}@worklink.invalid>"
    assert (delivery.status, delivery.attempts) == ("sent", 2)


def test_a_webhook_sent_again_after_a_crash_before_its_record_has_the_same_webhook_id_and_a_fresh_signature(
        notifications_db, webhook_receiver, clock):
    """As for e-mail: a worker killed between the receiver's 2xx and the commit sends again after its claim's
    lease. The repeat carries the first one's webhook-id (receivers dedupe on it) and the same body, signed anew
    (its timestamp is the new try's, so a receiver's 5-minute replay window does not refuse it)."""
    subscriber_for(notifications_db, webhook_receiver)
    webhook_receiver.clock = clock
    route(notifications_db, event("referrals.referral.accepted"))
    crashing = make_worker(notifications_db, None, clock)

    def killed(*_args, **_kwargs):
        raise SystemExit("killed between send and record")

    crashing._finish = killed
    with pytest.raises(SystemExit):
        crashing.run_once()
    restarted = make_worker(notifications_db, None, clock)
    assert restarted.run_once() == 0  # still claimed
    # The claim's lease is over, and so is the receiver's replay window for the first try's timestamp.
    clock.advance(seconds=max(crashing.settings.claim_lease.total_seconds(), signing.TOLERANCE) + 1)
    assert restarted.run_once() == 1

    [delivery] = all_deliveries(notifications_db, Delivery.channel == "webhook")
    first, again = webhook_receiver.accepted
    assert first["id"] == again["id"] == str(delivery.id) and first["body"] == again["body"]
    assert webhook_receiver.rejected == []  # signed at the repeat's own time
    assert (delivery.status, delivery.attempts) == ("sent", 2)


def test_the_worker_reads_only_a_receivers_status_never_its_body(notifications_db, clock):
    """A receiver that answers 200 and then streams an endless body must not hold the worker (or its memory)."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    answered = threading.Event()

    def endless_receiver():
        connection, _ = listener.accept()
        connection.recv(65536)
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n" + b"x" * 65536)
        answered.wait(30)  # then goes quiet: never the rest of its body
        connection.close()

    threading.Thread(target=endless_receiver, daemon=True).start()
    add(notifications_db, WebhookSubscriber(organisation_id=REFERRER, secret=signing.new_secret(),
                                            url=f"http://127.0.0.1:{listener.getsockname()[1]}/hooks"))
    route(notifications_db, event("referrals.referral.accepted"))
    started = time.monotonic()
    make_worker(notifications_db, None, clock).run_once()  # webhook timeout 5 s
    answered.set()
    listener.close()
    [delivery] = all_deliveries(notifications_db, Delivery.channel == "webhook")
    assert delivery.status == "sent" and time.monotonic() - started < 4


@pytest.fixture()
def tls_smtp_server(tmp_path):
    """A relay like a production one: STARTTLS required (self-signed certificate), then a login."""
    import ssl
    import subprocess

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    from tests.services.notifications.support import Mailbox
    from worklink.devstack import free_port

    cert, key = tmp_path / "relay.pem", tmp_path / "relay.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        good = isinstance(auth_data, LoginPassword) \
            and (auth_data.login, auth_data.password) == (b"worklink", b"s3cret")
        return AuthResult(success=good)

    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(), tls_context=context,
                            require_starttls=True, auth_required=True, authenticator=authenticator)
    controller.start()
    mailbox.port, mailbox.ca_file = controller.port, str(cert)
    yield mailbox
    controller.stop()


def test_mail_goes_to_a_relay_over_starttls_with_a_login_and_set_up_errors_are_retried(notifications_db,
                                                                                       tls_smtp_server, clock):
    add(notifications_db, OrganisationContact(organisation_id=REFERRER, purpose="team", email="gp@practice.example"))
    route(notifications_db, event("referrals.referral.accepted"))

    make_worker(notifications_db, tls_smtp_server, clock).run_once()  # no STARTTLS: the relay says 530
    [email] = all_deliveries(notifications_db, Delivery.channel == "email")
    assert email.status == "retrying" and "530" in email.last_error  # the relay's set-up, not this message: retried

    import smtplib

    from worklink_notifications.delivery import is_permanent_smtp
    assert not is_permanent_smtp(smtplib.SMTPAuthenticationError(535, b"5.7.8 Authentication failed"))

    clock.advance(hours=1)
    make_worker(notifications_db, tls_smtp_server, clock, smtp_starttls=True, smtp_ca_file=tls_smtp_server.ca_file,
                smtp_username="worklink", smtp_password="s3cret").run_once()
    assert [m["To"] for m in tls_smtp_server.messages] == ["gp@practice.example"]
    assert all_deliveries(notifications_db, Delivery.channel == "email")[0].status == "sent"


def test_production_refuses_to_send_mail_to_a_remote_relay_in_clear_text():
    from worklink_notifications.delivery import DeliverySettings

    remote = {"WORKLINK_ENV": "production", "NOTIFICATIONS_SMTP_HOST": "smtp.relay.example"}
    with pytest.raises(ValueError, match="STARTTLS"):
        DeliverySettings.from_env(remote)
    assert DeliverySettings.from_env({**remote, "NOTIFICATIONS_SMTP_STARTTLS": "1"}).smtp_starttls
    assert not DeliverySettings.from_env({"WORKLINK_ENV": "production"}).smtp_starttls  # a relay on this machine
    with pytest.raises(ValueError, match="clear text"):
        DeliverySettings.from_env({"NOTIFICATIONS_SMTP_HOST": "smtp.relay.example", "NOTIFICATIONS_SMTP_USERNAME": "u"})


def test_a_connection_that_reaches_a_private_address_is_cut_before_anything_is_sent(notifications_db,
                                                                                   webhook_receiver, clock):
    """DNS rebinding: a name public at the check and 127.0.0.1 at connect. The worker's session checks the
    address each connection really reached, so even a URL that passed every earlier check gets nowhere."""
    from worklink_notifications import webhook_targets

    with pytest.raises(webhook_targets.NotPublic, match="127.0.0.1"):
        webhook_targets.public_only_session().post(webhook_receiver.url, data=b"{}", timeout=5)
    subscriber_for(notifications_db, webhook_receiver)
    route(notifications_db, event("referrals.referral.accepted"))
    worker = make_worker(notifications_db, None, clock, allow_private_webhooks=False)
    worker.settings = dataclasses.replace(worker.settings, allow_private_webhooks=True)  # the URL checks pass...
    worker.run_once()  # ...the connection's own check does not
    [delivery] = all_deliveries(notifications_db, Delivery.channel == "webhook")
    assert delivery.status == "dead" and "reached 127.0.0.1" in delivery.last_error
    assert webhook_receiver.accepted == [] and webhook_receiver.rejected == []


# --- the signature scheme, checked by the real receiver ----------------------------------

def post(receiver, body: bytes, headers: dict) -> int:
    return requests.post(receiver.url, data=body, headers=headers, timeout=5).status_code


def test_the_receiver_rejects_a_tampered_body_an_old_timestamp_and_a_wrong_key(webhook_receiver):
    webhook_receiver.secret = signing.new_secret()
    body = json.dumps({"type": "referrals.referral.accepted", "data": {"status": "accepted"}}).encode()
    good = signing.headers([webhook_receiver.secret], "msg_1", body)
    assert post(webhook_receiver, body, good) == 204

    assert post(webhook_receiver, body.replace(b"accepted", b"rejected"), good) == 401
    stale = signing.headers([webhook_receiver.secret], "msg_2", body, timestamp=int(time.time()) - 600)
    assert post(webhook_receiver, body, stale) == 401
    assert post(webhook_receiver, body, signing.headers([signing.new_secret()], "msg_3", body)) == 401
    replayed_id = dict(good, **{"webhook-id": "msg_other"})
    assert post(webhook_receiver, body, replayed_id) == 401
    assert len(webhook_receiver.accepted) == 1 and len(webhook_receiver.rejected) == 4


def test_after_rotation_both_secrets_sign_during_the_grace_period(notifications_db, webhook_receiver, clock):
    subscriber = subscriber_for(notifications_db, webhook_receiver)
    old = subscriber.secret
    with notifications_db.transaction() as session:
        row = session.get(WebhookSubscriber, subscriber.id)
        row.previous_secret, row.previous_secret_expires_at = old, datetime.now(timezone.utc) + timedelta(hours=1)
        row.secret = signing.new_secret()
    clock.now = datetime.now(timezone.utc)
    route(notifications_db, event("referrals.referral.accepted"))
    make_worker(notifications_db, None, clock).run_once()
    assert len(webhook_receiver.accepted) == 1  # the receiver still knows only the old secret

    with notifications_db.transaction() as session:
        session.get(WebhookSubscriber, subscriber.id).previous_secret_expires_at = clock.now - timedelta(seconds=1)
    route(notifications_db, event("referrals.referral.rejected"))
    make_worker(notifications_db, None, clock).run_once()
    assert len(webhook_receiver.accepted) == 1 and webhook_receiver.rejected  # old key no longer signs
    with notifications_db.sessions() as session:
        attempts = session.scalars(sa.select(DeliveryAttempt.outcome).order_by(DeliveryAttempt.id)).all()
    assert attempts == ["sent", "permanent"]  # a 401 is not worth retrying


def deliver_job(database, smtp_server, tmp_path):
    """`worklink job -s notifications deliver` as its own process, on `database`, sending to `smtp_server`."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "NOTIFICATIONS_DATABASE_URL": database.url, "NOTIFICATIONS_SMTP_PORT": str(smtp_server.port),
           "WORKLINK_VAR": str(tmp_path)}
    return subprocess.Popen([sys.executable, "-m", "worklink.cli", "job", "-s", "notifications", "deliver"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_the_deliver_job_runs_as_its_own_process_until_stopped(sqlite_db, smtp_server, tmp_path):
    import signal

    add(sqlite_db, OrganisationContact(organisation_id=REFERRER, purpose="team", email="job@practice.example"))
    route(sqlite_db, event("referrals.referral.accepted"))
    job = deliver_job(sqlite_db, smtp_server, tmp_path)
    try:
        deadline = time.monotonic() + 30
        while not smtp_server.to("job@practice.example") and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        job.send_signal(signal.SIGTERM)
        stderr = job.communicate(timeout=30)[1]
    assert smtp_server.to("job@practice.example"), stderr.decode()[-2000:]
    assert job.returncode == 0


def test_sigterm_ends_the_deliver_job_after_the_message_in_hand_not_after_its_batch(sqlite_db, smtp_server, tmp_path):
    """The worker went on through its whole batch (up to 50 sends, each up to its timeout) once told to stop:
    compose gives a container 30 s, then kills it - between a server's 250 and the record, a message went again.
    It now stops after the send in hand, recorded; the rest wait for the next worker, unclaimed."""
    import asyncio
    import signal

    async def slow_data(server, session, envelope):  # a mail relay taking its time over each message
        await asyncio.sleep(1.5)
        smtp_server.messages.append(envelope)
        return "250 Message accepted"

    smtp_server.handle_DATA = slow_data
    add(sqlite_db, OrganisationContact(organisation_id=REFERRER, purpose="team", email="job@practice.example"))
    route(sqlite_db, *(event("referrals.referral.accepted") for _ in range(8)))
    job = deliver_job(sqlite_db, smtp_server, tmp_path)
    try:
        deadline = time.monotonic() + 30
        while not smtp_server.messages and time.monotonic() < deadline:
            time.sleep(0.05)
        assert smtp_server.messages, "nothing was sent"
        time.sleep(0.3)  # the second send is in hand
        stopped_at = time.monotonic()
        job.send_signal(signal.SIGTERM)
        stderr = job.communicate(timeout=30)[1]
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode == 0, stderr.decode()[-2000:]
    assert time.monotonic() - stopped_at < 4, "it sent the rest of its batch before stopping"
    deliveries = all_deliveries(sqlite_db, Delivery.channel == "email")
    sent = [d for d in deliveries if d.status == "sent"]
    assert len(sent) == len(smtp_server.messages) <= 3, "a message sent but not recorded"
    assert all((d.status, d.attempts) == ("pending", 0) for d in deliveries if d not in sent), \
        "a delivery claimed but not sent: it waits out the lease"


def test_members_who_chose_email_hear_their_teams_events_in_their_own_way(notifications_db, smtp_server, clock):
    add(notifications_db,
        UserChannelSettings(user_id="gp-now", organisation_id=REFERRER, email="now@gp.example", email_enabled=True),
        UserChannelSettings(user_id="gp-daily", organisation_id=REFERRER, email="daily@gp.example",
                            email_enabled=True, frequency="daily"),
        UserChannelSettings(user_id="gp-off", organisation_id=REFERRER, email="off@gp.example", email_enabled=False))
    route(notifications_db, event("referrals.referral.accepted"))
    make_worker(notifications_db, smtp_server, clock).run_once()
    assert len(smtp_server.to("now@gp.example")) == 1
    assert smtp_server.to("daily@gp.example") == [] and smtp_server.to("off@gp.example") == []
    waiting = all_deliveries(notifications_db, Delivery.status == "digest")
    assert [(d.recipient_kind, d.recipient_id) for d in waiting] == [("user", "gp-daily")]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_resend_read_before_the_message_went_does_not_queue_it_again(notifications_db, smtp_server, clock, app,
                                                                      token):
    """Two administrators re-send one dead e-mail at the same moment: one re-send goes and the worker sends it
    while the other request is still writing. That one is refused (409), never queued again to send it twice."""
    add(notifications_db, OrganisationContact(organisation_id=REFERRER, purpose="team", email="gp@practice.example"))
    route(notifications_db, event("referrals.referral.accepted"))
    [delivery] = all_deliveries(notifications_db, Delivery.channel == "email")
    table, codes = Delivery.__table__, []
    waiting = sa.text("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                      "WHERE NOT l.granted AND a.datname = current_database()")
    with notifications_db.engine.begin() as conn:
        conn.execute(table.update().where(table.c.id == delivery.id).values(status="dead"))
    resend = threading.Thread(target=lambda: codes.append(app.test_client().post(
        f"/deliveries/{delivery.id}/resend", headers=token("alliance_admin", org="alliance")).status_code))
    with notifications_db.engine.connect() as gate:
        gate.execute(sa.text(f"LOCK TABLE {table.name} IN EXCLUSIVE MODE"))  # reads go on; writes wait
        resend.start()
        with notifications_db.engine.connect() as watcher:
            for _ in range(1000):
                found = watcher.execute(waiting).scalar()
                watcher.rollback()  # pg_stat_activity is read once per transaction
                if found or not resend.is_alive():
                    break
                time.sleep(0.01)
        # Meanwhile the other administrator's re-send went, and the worker sent it.
        gate.execute(table.update().where(table.c.id == delivery.id).values(status="sent", sent_at=clock.now))
        gate.commit()
    resend.join(30)
    assert codes == [409]
    assert make_worker(notifications_db, smtp_server, clock).run_once() == 0
    assert all_deliveries(notifications_db, Delivery.channel == "email")[0].status == "sent"
    assert smtp_server.to("gp@practice.example") == []


def test_each_email_says_truly_why_it_came_and_who_can_stop_it_and_carries_a_date(notifications_db, smtp_server,
                                                                                   clock):
    """Every staff e-mail said "You can change how WorkLink contacts you in your settings": a team mailbox has no
    settings (its organisation's administrator keeps the contact list), and a daily digest said nothing at all.
    None carried a Date header (RFC 5322 requires one; relays add it only for their own clients)."""
    add(notifications_db,
        OrganisationContact(organisation_id=REFERRER, purpose="team", email="team@practice.example"),
        OrganisationContact(organisation_id=REFERRER, purpose="team", email="daily@practice.example",
                            frequency="daily"),
        UserChannelSettings(user_id="gp1", organisation_id=REFERRER, email="gp1@practice.example",
                            email_enabled=True),
        UserChannelSettings(user_id="gp2", organisation_id=REFERRER, email="gp2@practice.example",
                            email_enabled=True, frequency="daily"))
    route(notifications_db, event("referrals.referral.accepted"))
    worker = make_worker(notifications_db, smtp_server, clock)
    while worker.run_once():
        pass
    morning, evening = clock.now, clock.now.replace(hour=18)
    clock.now = evening
    assert worker.run_digests() == 2
    contact_says = ("You are getting this because your organisation's WorkLink administrator added this address to "
                    "its contacts. To stop these emails, or get one a day instead, ask them to change or remove it.")
    # A person's links their settings page (absolute, as the inbox link), in the words of its heading.
    settings_page = "http://127.0.0.1:8084/settings"
    person_says = ("You are getting this because you turned on email in your WorkLink notification settings. To "
                   "stop these emails, or get one a day instead, change your notification settings")
    for address, says, sent in (("team@practice.example", contact_says, morning),
                                ("daily@practice.example", contact_says, evening),
                                ("gp1@practice.example", person_says, morning),
                                ("gp2@practice.example", person_says, evening)):
        [mail] = smtp_server.to(address)
        text, html = mail.get_body(("plain",)).get_content(), mail.get_body(("html",)).get_content()
        if says is contact_says:
            assert text.rstrip().endswith(says), (address, text)
            assert f'<p style="color: #4c6272;">{says}</p>' in html.replace("&#39;", "'"), (address, html)
            assert "/settings" not in text + html  # a team mailbox has no settings page
        else:
            assert text.rstrip().endswith(f"{says}: {settings_page}"), (address, text)
            assert f'{says.replace("change your notification settings", "")}<a href="{settings_page}">change your ' \
                   'notification settings</a>.</p>' in html, (address, html)
        assert "in your settings" not in text + html
        assert mail["Date"] is not None and mail["Date"].datetime == sent, address


def test_an_emails_link_opens_the_inbox_that_holds_its_news(notifications_db, smtp_server, clock):
    """Every e-mail linked /messages, which opens at the reader's own inbox: a team's news is in the organisation's
    (the alliance's in the alliance's), so the reader who followed it found "There are no messages here yet"."""
    add(notifications_db,
        OrganisationContact(organisation_id=REFERRER, purpose="team", email="team@practice.example"),
        OrganisationContact(organisation_id=REFERRER, purpose="team", email="daily@practice.example",
                            frequency="daily"),
        OrganisationContact(organisation_id=routing.ALLIANCE, purpose="team", email="alliance@worklink.example"),
        UserChannelSettings(user_id="gp1", organisation_id=REFERRER, email="gp1@practice.example",
                            email_enabled=True),
        UserChannelSettings(user_id="gp2", organisation_id=str(uuid.uuid4()), email="gp2@practice.example",
                            email_enabled=True))
    route(notifications_db, event("referrals.referral.accepted"), event("referrals.referral.held"),
          event("adjustments.employer_response.recorded", clinician_id="gp2", practice_id=uuid.uuid4(),
                suggestion_id=uuid.uuid4(), employer_response_id=uuid.uuid4()))
    worker = make_worker(notifications_db, smtp_server, clock)
    while worker.run_once():
        pass
    clock.now = clock.now.replace(hour=18)
    assert worker.run_digests() == 1
    inbox = "http://127.0.0.1:8084/messages"
    for address, link in (("team@practice.example", f"{inbox}?scope=organisation"),
                          ("daily@practice.example", f"{inbox}?scope=organisation"),  # its digest
                          ("alliance@worklink.example", f"{inbox}?scope=alliance"),
                          ("gp1@practice.example", f"{inbox}?scope=organisation"),  # their team's news
                          ("gp2@practice.example", f"{inbox}?scope=user")):  # addressed to them
        [mail] = smtp_server.to(address)
        assert link in mail.get_body(("plain",)).get_content().split(), address
        assert f'<a href="{link}">' in mail.get_body(("html",)).get_content(), address
