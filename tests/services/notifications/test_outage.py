"""An outage - our mail relay or a webhook receiver that cannot be reached - delays deliveries, never
kills them: it spends none of a delivery's attempts, and only a delivery still unsent 72 hours after it
was queued is given up. Against a real SMTP server (aiosmtpd) that is down and comes back."""

from __future__ import annotations

import dataclasses
import smtplib
import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from worklink.devstack import free_port
from worklink_notifications import admin, routing
from worklink_notifications.delivery import ReceiverAnswered, ReceiverUnreachable, is_outage
from worklink_notifications.events import PERSON_MESSAGE
from worklink_notifications.messages import CODE_MESSAGE
from worklink_notifications.models import (Delivery, DeliveryAttempt, OrganisationContact, UserChannelSettings,
                                           WebhookSubscriber)
from tests.services.notifications.support import Mailbox, make_worker
from tests.services.notifications.test_delivery import (REFERRER, add, all_deliveries, event, route,  # noqa: F401
                                                         subscriber_for, tls_smtp_server)
from tests.services.notifications.test_verification_code import code_message

pytestmark = pytest.mark.timeout(120)

TEAM = ("team@practice.example", "lead@practice.example")


def _two_queued_emails(database) -> None:
    add(database, *[OrganisationContact(organisation_id=REFERRER, purpose="team", email=email) for email in TEAM])
    route(database, event("referrals.referral.accepted"))


def _attempts_recorded(database) -> int:
    with database.sessions() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(DeliveryAttempt))


@pytest.fixture()
def mail_port():
    """A port nothing listens on yet; `start()` brings a real SMTP server up on it."""
    from aiosmtpd.controller import Controller

    port, controllers = free_port(), []

    def start() -> Mailbox:
        mailbox = Mailbox()
        controllers.append(Controller(mailbox, hostname="127.0.0.1", port=port))
        controllers[-1].start()
        return mailbox

    yield SimpleNamespace(port=port, start=start)
    for controller in controllers:
        controller.stop()


def test_email_waits_out_a_mail_server_outage_without_spending_attempts_and_goes_when_it_is_back(
        notifications_db, mail_port, clock):
    _two_queued_emails(notifications_db)
    worker = make_worker(notifications_db, mail_port, clock)  # max_attempts=3, backoff from 60 s

    for _ in range(8):  # far more rounds than max_attempts, over about 7 hours
        assert worker.run_once() == 1  # one e-mail finds the server down; the other is not even tried
        emails = all_deliveries(notifications_db, Delivery.channel == "email")
        assert {(e.status, e.attempts) for e in emails} <= {("retrying", 0), ("pending", 0)}
        assert worker.run_once() == 0  # paused: not hammering the server
        clock.advance(hours=1, seconds=1)  # past the longest backoff (capped at 1 h)
    assert _attempts_recorded(notifications_db) == 8
    assert "ConnectionRefusedError" in all_deliveries(notifications_db, Delivery.status == "retrying")[0].last_error

    mailbox = mail_port.start()
    assert worker.run_once() == 2
    assert sorted(m["To"] for m in mailbox.messages) == sorted(TEAM)
    assert {(e.status, e.attempts) for e in all_deliveries(notifications_db, Delivery.channel == "email")} \
        == {("sent", 1)}


@pytest.fixture()
def ascii_smtp_server():
    """A real SMTP server that does not offer SMTPUTF8, as many relays do not (aiosmtpd's Controller does)."""
    from aiosmtpd.controller import Controller

    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=False)
    controller.start()
    mailbox.port = controller.port
    yield mailbox
    controller.stop()


def test_an_address_the_mail_server_cannot_take_is_dead_and_pauses_no_one_elses_mail(notifications_db,
                                                                                    ascii_smtp_server, clock):
    """An address with a non-ASCII character (which the API accepts) needs the relay's SMTPUTF8; smtplib refuses
    to send it to a relay without it, before a word about the message. That says nothing about the relay: held
    for an outage it paused every worker's e-mail, and as the oldest due e-mail it was the probe each time, so
    nobody's mail went for 72 hours."""
    add(notifications_db, OrganisationContact(organisation_id=REFERRER, purpose="team", email="jöhn@practice.example"))
    route(notifications_db, event("referrals.referral.accepted"))
    add(notifications_db, OrganisationContact(organisation_id=REFERRER, purpose="team", email=TEAM[1]),
        UserChannelSettings(user_id="gp-1", organisation_id=REFERRER, email="gp-ü@practice.example",
                            email_enabled=True, frequency="daily"))
    route(notifications_db, event("referrals.referral.completed"))
    worker = make_worker(notifications_db, ascii_smtp_server, clock)

    assert worker.run_once() == 3
    refused = all_deliveries(notifications_db, Delivery.address == "jöhn@practice.example")
    assert [(d.status, d.attempts) for d in refused] == [("dead", 1), ("dead", 1)]
    assert all("SMTPUTF8" in d.last_error for d in refused)
    assert [m["To"] for m in ascii_smtp_server.messages] == [TEAM[1]]  # the other e-mail went in the same round
    assert not worker.mail_pause.paused(clock.now)

    clock.advance(hours=worker.settings.digest_hour - clock.now.hour, minutes=30)
    assert worker.run_digests() == 0  # the member's daily digest, to an address the relay cannot take either
    assert [d.status for d in all_deliveries(notifications_db, Delivery.recipient_id == "gp-1")] == ["dead"]
    assert not worker.mail_pause.paused(clock.now)


def test_an_outage_gives_a_delivery_up_only_72_hours_after_it_was_queued_or_re_sent(notifications_db, mail_port,
                                                                                     clock):
    _two_queued_emails(notifications_db)
    worker = make_worker(notifications_db, mail_port, clock)
    created = all_deliveries(notifications_db, Delivery.channel == "email")[0].created_at.replace(tzinfo=timezone.utc)
    clock.now = created + timedelta(hours=71)
    worker.run_once()
    assert {e.status for e in all_deliveries(notifications_db, Delivery.channel == "email")} == {"retrying",
                                                                                                 "pending"}
    clock.now = created + timedelta(hours=72, minutes=1)
    worker.run_once()  # the probe fails again: every e-mail queued over 72 hours ago is given up, tried or not
    dead = all_deliveries(notifications_db, Delivery.channel == "email")
    assert [d.status for d in dead] == ["dead", "dead"]
    assert all("not sent within 72 hours" in d.last_error for d in dead)

    with notifications_db.transaction() as session:  # re-sent an hour later, when the (shared) pause is over
        admin.resend(session.get(Delivery, dead[0].id))
        session.get(Delivery, dead[0].id).resent_at = clock.advance(hours=1)
    resent = all_deliveries(notifications_db, Delivery.id == dead[0].id)[0]
    clock.now = resent.resent_at.replace(tzinfo=timezone.utc) + timedelta(hours=1)
    worker = make_worker(notifications_db, mail_port, clock)
    worker.run_once()  # still down: the limit counts from the re-send, not from when it was first queued
    assert all_deliveries(notifications_db, Delivery.id == dead[0].id)[0].status == "retrying"
    mailbox = mail_port.start()
    clock.advance(hours=1, seconds=1)
    assert worker.run_once() == 1 and [m["To"] for m in mailbox.messages] == [resent.address]


def test_an_unreachable_webhook_receiver_is_an_outage_and_its_other_deliveries_wait_their_turn(
        notifications_db, webhook_receiver, clock):
    subscriber = subscriber_for(notifications_db, webhook_receiver)
    live_url = webhook_receiver.url
    with notifications_db.transaction() as session:
        session.get(WebhookSubscriber, subscriber.id).url = f"http://127.0.0.1:{free_port()}/worklink"
    route(notifications_db, event("referrals.referral.accepted"), event("referrals.referral.completed"))
    worker = make_worker(notifications_db, None, clock)  # max_attempts=3, backoff from 60 s
    clock.now = datetime.now(timezone.utc)  # as the deliveries were just queued

    waits = []
    for _ in range(6):
        assert worker.run_once() == 1  # one try per receiver and round: the other delivery is not sent to it
        webhooks = all_deliveries(notifications_db, Delivery.channel == "webhook", Delivery.status == "retrying")
        assert webhooks and all(w.attempts == 0 for w in webhooks)
        latest = max(w.next_attempt_at.replace(tzinfo=timezone.utc) for w in webhooks)
        waits.append(latest - clock.now)
        clock.now = latest + timedelta(seconds=1)
    assert waits[-1] > waits[0] * 2  # the wait grows with how long the delivery has waited

    with notifications_db.transaction() as session:  # the receiver is back (at its own address)
        session.get(WebhookSubscriber, subscriber.id).url = live_url
    webhook_receiver.clock = clock
    assert worker.run_once() == 2
    assert len(webhook_receiver.accepted) == 2 and webhook_receiver.rejected == []
    assert {(w.status, w.attempts) for w in all_deliveries(notifications_db, Delivery.channel == "webhook")} \
        == {("sent", 1)}


def test_only_a_refusal_of_the_recipient_or_message_or_a_receivers_answer_is_not_an_outage():
    assert is_outage(ConnectionRefusedError(111, "Connection refused"))
    assert is_outage(TimeoutError("timed out"))
    assert is_outage(smtplib.SMTPConnectError(421, b"4.3.2 Service not available"))
    assert is_outage(smtplib.SMTPServerDisconnected("Connection unexpectedly closed"))
    assert is_outage(smtplib.SMTPSenderRefused(451, b"4.3.0 try later", "no-reply@worklink.invalid"))
    assert is_outage(ReceiverUnreachable("ConnectTimeout"))
    assert not is_outage(smtplib.SMTPRecipientsRefused({"a@b.example": (450, b"4.2.1 mailbox busy")}))
    assert not is_outage(smtplib.SMTPDataError(554, b"5.6.0 message refused"))
    assert not is_outage(ReceiverAnswered("HTTP 503 from the receiver"))


def test_the_pause_keeps_growing_while_the_relay_refuses_us_and_ends_when_it_takes_mail(notifications_db,
                                                                                        tls_smtp_server, clock):
    """A relay demanding STARTTLS (530) is up but refuses us: an outage, backing off as one (the pause doubles),
    like a refused connection, and no e-mail spends an attempt."""
    _two_queued_emails(notifications_db)
    worker = make_worker(notifications_db, tls_smtp_server, clock)  # backoff from 60 s
    pauses = []
    for _ in range(4):
        clock.advance(hours=2)
        assert worker.run_once() == 1
        pauses.append(worker._mail_resume_at - clock.now)
    assert pauses[0] <= timedelta(seconds=60) < timedelta(seconds=240) <= pauses[3]  # 60 s doubling: 480 s at most
    assert {(e.status, e.attempts) for e in all_deliveries(notifications_db, Delivery.channel == "email")} \
        <= {("retrying", 0), ("pending", 0)}


def _try_when_due(database, worker, clock, delivery_id) -> Delivery:
    """One round of the worker, then the clock moved to the delivery's next try (if it has one)."""
    assert worker.run_once() == 1
    [email] = all_deliveries(database, Delivery.id == delivery_id)
    if email.status == "retrying":
        clock.now = email.next_attempt_at.replace(tzinfo=timezone.utc)
    return email


def test_a_mail_server_saying_try_again_later_is_retried_for_hours_not_minutes_then_given_up(notifications_db,
                                                                                            smtp_server, clock):
    """A 4xx for a message (a relay throttling us, its lookups down) is "not now" (RFC 5321 4.5.4.1 retries
    for days): it is retried past max_attempts, up to give_up_after, not given up after 15 minutes."""
    add(notifications_db, OrganisationContact(organisation_id=REFERRER, purpose="team", email=TEAM[0]))
    route(notifications_db, event("referrals.referral.accepted"))
    [email] = all_deliveries(notifications_db, Delivery.channel == "email")
    clock.now = email.created_at.replace(tzinfo=timezone.utc)
    smtp_server.busy[TEAM[0]] = 6  # six 451s, twice max_attempts
    worker = make_worker(notifications_db, smtp_server, clock, give_up_after=timedelta(hours=6))  # max_attempts=3

    for _ in range(6):
        assert _try_when_due(notifications_db, worker, clock, email.id).status == "retrying"
    email = _try_when_due(notifications_db, worker, clock, email.id)
    assert (email.status, email.attempts, len(smtp_server.to(TEAM[0]))) == ("sent", 7, 1)

    smtp_server.busy[TEAM[0]] = 999  # and one that never goes: dead at the limit, saying why
    route(notifications_db, event("referrals.referral.completed"))
    [email] = all_deliveries(notifications_db, Delivery.channel == "email", Delivery.status == "pending")
    clock.now = queued = email.created_at.replace(tzinfo=timezone.utc)
    while email.status != "dead":
        assert clock.now - queued <= timedelta(hours=6)
        email = _try_when_due(notifications_db, worker, clock, email.id)
    assert clock.now == queued + timedelta(hours=6) and email.attempts > 3  # the last try at the limit itself
    assert email.last_error.startswith(f"not sent within 6 hours, retried {email.attempts} times: "
                                       "SMTPRecipientsRefused")
    assert "451" in email.last_error and TEAM[0] not in email.last_error


def _code_message(database, address: str) -> Delivery:
    """A resident's one-time code, queued as the consumer queues it."""
    data = code_message(contact={"channel": "email", "address": address})
    with database.transaction() as session:
        routing.request_person_message(session, SimpleNamespace(id=str(uuid.uuid4()), type=PERSON_MESSAGE, data=data))
    [code] = all_deliveries(database, Delivery.message_code == CODE_MESSAGE, Delivery.address == address)
    return code


def test_a_one_time_code_not_sent_while_it_works_is_given_up_never_sent_late(notifications_db, smtp_server,
                                                                            mail_port, clock):
    code = _code_message(notifications_db, "sam@example.org")
    smtp_server.busy["sam@example.org"] = 999  # "try again later" for as long as the code works
    worker = make_worker(notifications_db, smtp_server, clock)
    clock.now = queued = code.created_at.replace(tzinfo=timezone.utc)
    while code.status != "dead":
        assert clock.now - queued <= timedelta(minutes=30)
        code = _try_when_due(notifications_db, worker, clock, code.id)
    assert clock.now == queued + timedelta(minutes=30) and code.verification_code is None
    assert code.last_error.startswith("not sent within 30 minutes, retried")

    _two_queued_emails(notifications_db)  # and while our relay is down: the code goes, other e-mail waits on
    code = _code_message(notifications_db, "kim@example.org")
    queued = code.created_at.replace(tzinfo=timezone.utc)
    worker = make_worker(notifications_db, mail_port, clock)
    clock.now = queued + timedelta(minutes=10)
    worker.run_once()
    assert all_deliveries(notifications_db, Delivery.id == code.id)[0].status in ("pending", "retrying")
    clock.now = queued + timedelta(minutes=31)
    worker.run_once()
    [code] = all_deliveries(notifications_db, Delivery.id == code.id)
    assert (code.status, code.verification_code) == ("dead", None)
    assert code.last_error.startswith("not sent within 30 minutes of an outage: ConnectionRefusedError")
    assert {e.status for e in all_deliveries(notifications_db, Delivery.address.in_(TEAM))} <= {"pending", "retrying"}


@pytest.fixture()
def slow_mail_server():
    """A mail server that takes each command but answers every one a second late: no single wait is long,
    the conversation is."""
    import socket
    import threading
    import time

    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def converse(conn) -> None:
        reader = conn.makefile("rb")
        conn.sendall(b"220 slow.example ESMTP\r\n")
        in_data = False
        for line in reader:
            if in_data:
                if line != b".\r\n":
                    continue
                in_data, answer = False, b"250 queued"
            else:
                command = line[:4].upper()
                answer = {b"DATA": b"354 go on", b"QUIT": b"221 bye"}.get(command, b"250 ok")
                in_data = command == b"DATA"
            time.sleep(1)
            try:
                conn.sendall(answer + b"\r\n")
            except OSError:
                return

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=converse, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield SimpleNamespace(port=listener.getsockname()[1])
    stop.set()
    thread.join(5)
    listener.close()


def test_a_mail_server_too_slow_to_finish_ends_the_try_before_the_claim_runs_out(notifications_db,
                                                                                 slow_mail_server, clock):
    """Each answer within the per-command timeout, the whole conversation longer than the claim: without a
    deadline of its own a second worker could claim and send the same message meanwhile (a claim lasts
    claim_lease; every send now ends before it)."""
    import time

    add(notifications_db, OrganisationContact(organisation_id=REFERRER, purpose="team", email=TEAM[0]))
    route(notifications_db, event("referrals.referral.accepted"))
    worker = make_worker(notifications_db, slow_mail_server, clock, smtp_deadline=2.5)
    assert worker.settings.claim_lease > timedelta(seconds=worker.settings.smtp_deadline)
    started = time.monotonic()
    assert worker.run_once() == 1
    assert time.monotonic() - started < 4.5  # cut at its deadline; the conversation takes 7 s or more
    [tried] = all_deliveries(notifications_db, Delivery.channel == "email")
    assert (tried.status, tried.attempts) == ("retrying", 0) and tried.last_error  # an outage: retried later


@pytest.fixture()
def trickling_receiver():
    """A webhook receiver that takes the request, then answers a header line every half second for 10 s: every
    wait for a byte is short, the answer as long as it likes."""
    import socket
    import threading
    import time

    listener = socket.create_server(("127.0.0.1", 0))
    received, stop = [], threading.Event()

    def answer(conn: socket.socket) -> None:
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(65536)
            received.append(request)
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                for _ in range(20):
                    if stop.wait(0.5):
                        return
                    conn.sendall(b"X-Still-Here: yes\r\n")
                conn.sendall(b"Content-Length: 0\r\n\r\n")
            except OSError:
                return

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{listener.getsockname()[1]}/worklink", received=received,
                          secret=None)
    stop.set()
    thread.join(5)
    listener.close()


def test_a_webhook_receiver_answering_a_byte_at_a_time_is_cut_before_the_claim_runs_out(notifications_db,
                                                                                      trickling_receiver, clock):
    """requests' timeout bounds each wait, not the request: without a deadline of its own the worker (and every
    delivery behind it) waited for as long as the receiver liked, past the claim's lease, when a second worker
    would send the webhook again."""
    import time

    subscriber_for(notifications_db, trickling_receiver)
    route(notifications_db, event("referrals.referral.accepted"))
    worker = make_worker(notifications_db, None, clock, webhook_deadline=2)
    worker.settings = dataclasses.replace(worker.settings, webhook_timeout=1)  # every wait far shorter than 10 s
    assert worker.settings.claim_lease > timedelta(seconds=worker.settings.webhook_deadline)
    started = time.monotonic()
    assert worker.run_once() == 1
    assert time.monotonic() - started < 4  # cut at its deadline; the answer takes 10 s
    assert len(trickling_receiver.received) == 1
    [tried] = all_deliveries(notifications_db, Delivery.channel == "webhook")
    assert (tried.status, tried.attempts) == ("retrying", 0)  # as a receiver that cannot be reached
    assert tried.last_error == "ReceiverUnreachable: no whole answer within 2 s: the request was cut"


def blackholes(addresses: list[str], port: int) -> list:
    """Listeners on `addresses` that never take a connection: each one's queue is filled at once, so the kernel
    drops every further SYN and a connect waits for its timeout, as for an address nothing answers on."""
    import socket

    held = []
    for address in addresses:
        listener = socket.socket()
        listener.bind((address, port))
        listener.listen(0)
        held += [listener, socket.create_connection((address, port), timeout=2)]  # the queue's one place
    return held


def resolver(answers: dict[str, list[str]]):
    """The worker's resolver (the machine running the tests has no say over real DNS)."""
    import socket

    def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers[host]
    return resolve


@pytest.fixture()
def blackholed_name():
    """slow.partner.example, resolving to four addresses that never answer a connect."""
    from worklink.devstack import free_port

    port, addresses = free_port(), [f"127.0.0.{n}" for n in range(2, 6)]
    held = blackholes(addresses, port)
    yield SimpleNamespace(url=f"http://slow.partner.example:{port}/worklink", secret=None,
                          resolve=resolver({"slow.partner.example": addresses}))
    for sock in held:
        sock.close()


def test_a_name_resolving_to_many_unreachable_addresses_is_given_up_at_the_deadline(notifications_db,
                                                                                   blackholed_name, clock):
    """Each address waited its own connect timeout (10 s; here 1.5 s), one after another, before the request's
    deadline began to count: four addresses held the worker 6 s past a 2 s deadline (a real name with many
    dead addresses, 10 s each, past the claim's lease)."""
    import time

    subscriber_for(notifications_db, blackholed_name)
    route(notifications_db, event("referrals.referral.accepted"))
    worker = make_worker(notifications_db, None, clock, webhook_deadline=2)
    worker.settings = dataclasses.replace(worker.settings, webhook_timeout=1.5)
    worker.resolve = blackholed_name.resolve
    started = time.monotonic()
    assert worker.run_once() == 1
    assert time.monotonic() - started < 3.5  # every address tried within the deadline, not 1.5 s each
    [tried] = all_deliveries(notifications_db, Delivery.channel == "webhook")
    assert (tried.status, tried.attempts) == ("retrying", 0)  # as a receiver that cannot be reached
    assert tried.last_error.startswith("ReceiverUnreachable: ConnectTimeout")
    assert "no connection within the request's deadline; slow.partner.example has 4 addresses" in tried.last_error


def test_an_address_that_never_answers_is_passed_over_for_the_next_within_the_deadline(notifications_db,
                                                                                       webhook_receiver, clock):
    """The name's first address is dead, its second the receiver's: delivered, signed, within the deadline."""
    import time
    from urllib.parse import urlsplit

    port = urlsplit(webhook_receiver.url).port
    held = blackholes(["127.0.0.2"], port)
    try:
        receiver = SimpleNamespace(url=f"http://two.partner.example:{port}/worklink", secret=None)
        subscriber_for(notifications_db, receiver)
        webhook_receiver.secret = receiver.secret
        route(notifications_db, event("referrals.referral.accepted"))
        worker = make_worker(notifications_db, None, clock, webhook_deadline=3)
        worker.settings = dataclasses.replace(worker.settings, webhook_timeout=1)
        worker.resolve = resolver({"two.partner.example": ["127.0.0.2", "127.0.0.1"]})
        clock.now = datetime.now(timezone.utc)  # the receiver checks the signature's timestamp against its clock
        started = time.monotonic()
        assert worker.run_once() == 1
        assert 1 <= time.monotonic() - started < 3  # the dead address's 1 s, then the receiver
    finally:
        for sock in held:
            sock.close()
    assert len(webhook_receiver.accepted) == 1 and not webhook_receiver.rejected
    [sent] = all_deliveries(notifications_db, Delivery.channel == "webhook")
    assert sent.status == "sent"


def test_a_resolver_that_never_answers_is_given_up_at_the_deadline(notifications_db, clock):
    """getaddrinfo has no timeout: a DNS server that does not answer held the worker (and every delivery behind it)
    for as long as the system resolver kept trying, past the request's deadline."""
    import threading
    import time

    answered = threading.Event()

    def hanging(host: str, port: int) -> list[str]:
        answered.wait(30)  # a resolver trying server after server
        return ["127.0.0.1"]

    subscriber_for(notifications_db, SimpleNamespace(url=f"http://quiet-dns.partner.example:{free_port()}/hook",
                                                     secret=None))
    route(notifications_db, event("referrals.referral.accepted"))
    worker = make_worker(notifications_db, None, clock, webhook_deadline=2)
    worker.resolve = hanging
    started = time.monotonic()
    try:
        assert worker.run_once() == 1
        assert time.monotonic() - started < 3  # the deadline, not the resolver's 30 s
    finally:
        answered.set()
    [tried] = all_deliveries(notifications_db, Delivery.channel == "webhook")
    assert (tried.status, tried.attempts) == ("retrying", 0)  # a receiver that cannot be reached: retried
    assert "quiet-dns.partner.example was not resolved within" in tried.last_error


def test_the_backoff_after_any_number_of_failures_is_the_longest_wait_not_an_overflow():
    """The mail pause counts the relay's refusals in a row for as long as they last: after 1,025 of them (weeks
    of a mail server down) the backoff overflowed and every worker stopped with an OverflowError."""
    from worklink_notifications.delivery import DeliverySettings, backoff

    settings = DeliverySettings()
    assert backoff(1, settings, rng=lambda: 1.0).total_seconds() == settings.backoff_base
    for failures in (12, 1025, 10**6):
        assert backoff(failures, settings, rng=lambda: 1.0).total_seconds() == settings.backoff_max
