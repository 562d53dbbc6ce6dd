"""A webhook failure at our own forward proxy is told apart from the receiver's (webhook_targets.proxy_failure,
proxy_answer), through the real forward proxy of test_webhook_proxy in front of real receivers. The proxy down or
refusing us pauses every webhook as one, in every worker (pause.SharedPause, channel `webhook`), spending no
attempt and none of the receivers' health; when it is back each webhook goes once. The proxy's own answer about one
receiver holds back that receiver alone, never blamed on it; a receiver's own answer through a working proxy is
still the receiver's."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from worklink.devstack import free_port
from worklink_notifications.models import ChannelPause, Delivery, DeliveryAttempt, WebhookSubscriber
from worklink_notifications.webhook_targets import WebhookProxy, proxy_answer
from tests.services.notifications.support import Receiver, make_worker
from tests.services.notifications.test_delivery import all_deliveries, event, route, subscriber_for
from tests.services.notifications.test_shared_mail_pause import second_database  # noqa: F401 - a fixture
from tests.services.notifications.test_webhook_proxy import (CREDENTIALS, PARTNER, _now, forward_proxy,  # noqa: F401
                                                             proxied_worker, receiver_server, tls_partners)

pytestmark = pytest.mark.timeout(120)

HEALTHY = (0, None, None)  # a subscriber's consecutive failures, failing since, last error


@pytest.fixture()
def partners(tls_partners):  # noqa: F811 - the fixture imported above
    """Starts a partner's receiver at <scheme>://partner.example:<port>/worklink."""
    servers = []

    def start(scheme: str) -> Receiver:
        if scheme == "https":
            return tls_partners()
        receiver = Receiver()
        servers.append(receiver_server(receiver))
        receiver.url = f"http://{PARTNER}:{servers[-1].server_port}/worklink"
        return receiver

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _pause(database) -> ChannelPause | None:
    with database.sessions() as session:
        return session.get(ChannelPause, "webhook")


def _paused_until(database) -> datetime | None:
    pause = _pause(database)
    return pause.paused_until.replace(tzinfo=timezone.utc) if pause and pause.paused_until else None


def _health(database, subscriber: WebhookSubscriber) -> tuple:
    with database.sessions() as session:
        row = session.get(WebhookSubscriber, subscriber.id)
        return row.consecutive_failures, row.failing_since, row.last_error


def _attempted(database) -> list[str]:
    with database.sessions() as session:
        return [str(d) for d in session.scalars(sa.select(DeliveryAttempt.delivery_id))]


def _ca(receiver: Receiver) -> str | None:
    return getattr(receiver, "ca_file", None)  # an https receiver's certificate, trusted through a CA bundle


def _target(receiver: Receiver) -> str:
    return receiver.url.split("/")[2]  # host:port, as the proxy is asked for it


@pytest.mark.parametrize("failure", ["down", "refusing us"])
def test_our_proxy_down_or_refusing_us_pauses_every_webhook_blames_no_receiver_and_each_goes_once_when_back(
        notifications_db, second_database, partners, forward_proxy, clock, failure):  # noqa: F811
    receivers = [partners("https"), partners("https")]
    subscribers = [subscriber_for(notifications_db, receiver) for receiver in receivers]
    route(notifications_db, event("referrals.referral.accepted"), event("referrals.referral.completed"))
    _now(clock)
    for receiver in receivers:
        receiver.clock = clock
    port = free_port()
    proxy = None if failure == "down" else forward_proxy(port)
    if proxy:
        proxy.answer_itself(407)  # to CONNECT, whose answer is the proxy's own
    url = f"http://{CREDENTIALS}@127.0.0.1:{port}"
    first, second = (proxied_worker(database, clock, url, webhook_ca_file=receivers[0].ca_file)
                     for database in (notifications_db, second_database))

    assert first.run_once() == 1  # the first webhook finds the proxy failing; no other is tried
    [probe] = all_deliveries(notifications_db, Delivery.last_error.is_not(None))
    assert (probe.status, probe.attempts) == ("retrying", 0)  # an outage of ours: no attempt spent
    assert probe.last_error.startswith(f"ProxyUnavailable: the webhook proxy http://127.0.0.1:{port} ")
    assert ("cannot be reached" if proxy is None else "refused our credentials") in probe.last_error
    assert "receiver" not in probe.last_error
    assert [_health(notifications_db, s) for s in subscribers] == [HEALTHY] * 2
    assert _pause(notifications_db).failures == 1
    assert probe.next_attempt_at.replace(tzinfo=timezone.utc) == _paused_until(notifications_db)

    clock.advance(seconds=1)  # the other receivers' webhooks are due, but every worker keeps to the pause
    assert (second.run_once(), first.run_once()) == (0, 0)
    assert _attempted(notifications_db) == [str(probe.id)]
    clock.now = _paused_until(notifications_db)  # one probe per pause, not one per webhook or per worker
    assert second.run_once() == 1 and len(_attempted(notifications_db)) == 2
    assert _pause(notifications_db).failures == 2  # the pause grows (60-120 s after 30-60 s)
    assert {d.status for d in all_deliveries(notifications_db, Delivery.channel == "webhook")} <= {
        "pending", "retrying"}  # nothing given up

    if proxy is None:
        proxy = forward_proxy(port)
    proxy.answer_itself(None)  # the proxy is back
    clock.now = _paused_until(notifications_db)
    assert first.run_once() == 4
    sent = all_deliveries(notifications_db, Delivery.channel == "webhook")
    assert [(d.status, d.attempts) for d in sent] == [("sent", 1)] * 4
    for receiver, subscriber in zip(receivers, subscribers):
        assert sorted(r["id"] for r in receiver.accepted) == sorted(
            str(d.id) for d in sent if d.recipient_id == str(subscriber.id))  # each once
        assert _health(notifications_db, subscriber) == HEALTHY
    assert (_pause(notifications_db).failures, _pause(notifications_db).paused_until) == (0, None)
    assert second.run_once() == 0


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_the_proxys_own_answer_about_one_receiver_holds_back_that_receiver_alone_and_never_blames_it(
        notifications_db, partners, forward_proxy, clock, scheme, caplog):
    refused, working = partners(scheme), partners(scheme)
    down = Receiver()  # nothing listens there: the proxy cannot reach it and answers 502 itself
    down.url = f"{scheme}://{PARTNER}:{free_port()}/worklink"
    subscribers = {name: subscriber_for(notifications_db, receiver)
                   for name, receiver in (("refused", refused), ("down", down), ("working", working))}
    route(notifications_db, event("referrals.referral.accepted"))
    _now(clock)
    proxy = forward_proxy()
    proxy.answer_itself(403, _target(refused))  # its policy refuses this one destination
    worker = proxied_worker(notifications_db, clock, proxy.url(CREDENTIALS), webhook_ca_file=_ca(working))

    assert worker.run_once() == 3  # one's refusal pauses no one else
    delivery = {name: all_deliveries(notifications_db, Delivery.recipient_id == str(s.id))[0]
                for name, s in subscribers.items()}
    assert (delivery["working"].status, len(working.accepted)) == ("sent", 1)
    for name, says in (("refused", "403"), ("down", "could not reach the receiver")):
        held = delivery[name]
        assert (held.status, held.attempts) == ("retrying", 0), held.last_error
        assert held.last_error.startswith("ProxyDidNotForward: the webhook proxy ") and says in held.last_error
        assert "from the receiver" not in held.last_error
        assert _health(notifications_db, subscribers[name]) == HEALTHY
    assert _paused_until(notifications_db) is None
    told = [r for r in caplog.records if r.getMessage().startswith("webhook not forwarded by our webhook proxy")]
    assert sorted(r.subscriber_id for r in told) == sorted(str(subscribers[n].id) for n in ("refused", "down"))

    proxy.answer_itself(None, _target(refused))
    clock.now = delivery["refused"].next_attempt_at.replace(tzinfo=timezone.utc)
    refused.clock = clock
    worker.run_once()
    assert [r["id"] for r in refused.accepted] == [str(delivery["refused"].id)]


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_a_receivers_own_500_through_a_working_proxy_still_counts_against_the_receiver(
        notifications_db, partners, forward_proxy, clock, scheme):
    receiver = partners(scheme)
    subscriber = subscriber_for(notifications_db, receiver)
    receiver.fail_next, receiver.status_when_failing = 1, 500
    route(notifications_db, event("referrals.referral.accepted"))
    _now(clock)
    worker = proxied_worker(notifications_db, clock, forward_proxy().url(CREDENTIALS), webhook_ca_file=_ca(receiver))

    assert worker.run_once() == 1
    [delivery] = all_deliveries(notifications_db, Delivery.channel == "webhook")
    assert (delivery.status, delivery.attempts, delivery.last_error) == (
        "retrying", 1, "ReceiverAnswered: HTTP 500 from the receiver")
    failures, since, last_error = _health(notifications_db, subscriber)
    assert (failures, last_error) == (1, delivery.last_error) and since is not None
    assert _paused_until(notifications_db) is None

    clock.now = delivery.next_attempt_at.replace(tzinfo=timezone.utc)
    receiver.clock = clock
    assert worker.run_once() == 1 and [r["id"] for r in receiver.accepted] == [str(delivery.id)]
    assert _health(notifications_db, subscriber) == HEALTHY


def test_an_unmarked_answer_over_plain_http_cannot_be_told_from_the_receivers_and_counts_as_its(
        notifications_db, partners, forward_proxy, clock):
    receiver = partners("http")
    subscriber = subscriber_for(notifications_db, receiver)
    route(notifications_db, event("referrals.referral.accepted"))
    _now(clock)
    proxy = forward_proxy(marks=False)  # a proxy that does not say its 502 is its own
    proxy.answer_itself(502, _target(receiver))

    assert proxied_worker(notifications_db, clock, proxy.url(CREDENTIALS)).run_once() == 1
    [delivery] = all_deliveries(notifications_db, Delivery.channel == "webhook")
    assert (delivery.attempts, delivery.last_error) == (1, "ReceiverAnswered: HTTP 502 from the receiver")
    assert _health(notifications_db, subscriber)[0] == 1


def test_which_plain_http_answers_are_the_proxys_own():
    proxy = WebhookProxy.parse("http://user:secret@proxy.nhs.example:3128")
    url = "http://partner.example/worklink"

    def said(status: int, headers: dict | None = None, at: str = url) -> str | None:
        answer = proxy_answer(at, status, headers or {}, proxy)
        return answer and str(answer)

    assert "refused our credentials (HTTP 407)" in said(407)
    assert "secret" not in said(407) and "proxy.nhs.example:3128" in said(407)
    assert "could not reach the receiver: HTTP 503 (X-Squid-Error: ERR_CONNECT_FAIL 111)" in said(
        503, {"X-Squid-Error": "ERR_CONNECT_FAIL 111"})
    assert "answered instead of the receiver: HTTP 403 (Proxy-Status error=http_request_denied)" in said(
        403, {"Proxy-Status": 'egress; error=http_request_denied; details="blocked, by policy"'})
    # the partner's own CDN failed and our proxy only relayed its answer: the receiver's
    assert said(502, {"Proxy-Status": "PartnerCDN; error=connection_refused, egress; received-status=502"}) is None
    assert said(502, {"Proxy-Status": "egress; received-status=502"}) is None
    assert said(502) is None and said(403) is None  # unmarked: cannot be told apart, the receiver's
    # over https the answer came through a tunnel that ends at the receiver (its certificate checked)
    assert said(407, at="https://partner.example/worklink") is None
    assert said(503, {"X-Squid-Error": "ERR_CONNECT_FAIL 111"}, at="https://partner.example/worklink") is None


def test_webhooks_without_a_proxy_never_wait_for_a_proxy_pause(notifications_db, webhook_receiver, clock):
    """A pause left by a proxy the operator has since removed from the settings holds nothing back."""
    subscriber_for(notifications_db, webhook_receiver)
    route(notifications_db, event("referrals.referral.accepted"))
    _now(clock)
    with notifications_db.transaction() as session:
        session.add(ChannelPause(channel="webhook", paused_until=clock.now + timedelta(hours=1), failures=7,
                                 updated_at=clock.now))

    assert make_worker(notifications_db, None, clock).run_once() == 1
    assert [d.status for d in all_deliveries(notifications_db, Delivery.channel == "webhook")] == ["sent"]
    assert len(webhook_receiver.accepted) == 1
