"""Webhooks through an HTTP(S) forward proxy (NOTIFICATIONS_WEBHOOK_PROXY), as an NHS or council network sends
its egress: a real proxy written here (absolute-URI POST for http, CONNECT tunnels for https) that resolves
partner names itself and records what it forwarded, in front of real receivers that verify signatures. The
worker cannot see where the proxy connects, so it resolves and checks the host before sending."""

from __future__ import annotations

import base64
import http.client
import logging
import os
import selectors
import signal
import socket
import ssl
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import pytest
import sqlalchemy as sa

from worklink.config import ConfigError
from worklink.devstack import free_port
from worklink_notifications import webhook_targets
from worklink_notifications.delivery import DeliverySettings
from worklink_notifications.models import Delivery, DeliveryAttempt, WebhookSubscriber
from tests.services.notifications.support import Receiver, make_worker
from tests.services.notifications.test_delivery import add, all_deliveries, event, route, subscriber_for

pytestmark = pytest.mark.timeout(120)

PARTNER = "partner.example"  # a partner's receiver on the internet, as the worker's DNS and the proxy know it
PUBLIC = "93.184.215.14"  # a public address the worker's resolver gives for it
USER, PASSWORD = "egress-user", "Pr0xy!secret"
CREDENTIALS = f"{USER}:{PASSWORD.replace('!', '%21')}"


def public_dns(answers: dict[str, str] | None = None):
    """The worker's resolver (the machine running the tests has no say over real DNS)."""
    answers = {PARTNER: PUBLIC, **(answers or {})}

    def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [answers[host]]

    return resolve


# --- a real forward proxy ------------------------------------------------------------------

class ForwardProxy:
    """A small threaded forward proxy. It resolves PARTNER to this machine (where the test's receivers listen),
    asks for Basic credentials when given some, and records every request it forwarded. Like a real one it answers
    502 itself when it cannot reach the receiver, and on demand answers every request (or those for one
    `host:port`) itself instead of forwarding (`answer_itself`); with `marks` it marks its own answers, as
    Squid (X-Squid-Error) and RFC 9209 proxies (Proxy-Status) do."""

    def __init__(self, port: int = 0, credentials: str | None = None, marks: bool = True):
        self.seen: list[dict] = []
        self.credentials = credentials
        self.marks = marks
        self.own_answers: dict[str | None, int] = {}  # host:port (None: every request) -> the status it answers
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def authorised(self) -> bool:
                offered = self.headers.get("Proxy-Authorization")
                proxy.seen.append({"method": self.command, "target": self.path, "auth": offered})
                if proxy.credentials is None or offered == "Basic " + base64.b64encode(
                        unquote(proxy.credentials).encode()).decode():
                    return True
                self.answer(407)
                return False

            def answer(self, status: int, error: str = "http_request_denied") -> None:
                """An answer of the proxy's own, never forwarded from a receiver."""
                self.send_response(status)
                if status == 407:
                    self.send_header("Proxy-Authenticate", 'Basic realm="egress"')
                elif proxy.marks:
                    self.send_header("Proxy-Status", f'test-proxy; error={error}; details="refused, as the test asked"')
                self.send_header("Content-Length", "0")
                self.end_headers()

            def answered_itself(self, target: str) -> bool:
                status = proxy.own_answers.get(target, proxy.own_answers.get(None))
                if status is not None:
                    self.answer(status, "http_request_denied" if status == 403 else "destination_unavailable")
                return status is not None

            def do_CONNECT(self):
                if not self.authorised() or self.answered_itself(self.path):
                    return
                host, _, port = self.path.rpartition(":")
                try:
                    upstream = socket.create_connection((proxy.address_of(host), int(port)), timeout=10)
                except OSError:
                    self.answer(502, "connection_refused")
                    return
                self.send_response(200, "Connection established")
                self.end_headers()
                tunnel(self.connection, upstream)
                self.close_connection = True

            def do_GET(self):
                self.do_POST()

            def do_POST(self):
                target = urlsplit(self.path)  # absolute-URI form: http://host:port/path
                if not self.authorised() or self.answered_itself(target.netloc):
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))) or None
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("proxy-authorization", "proxy-connection", "connection", "host")}
                upstream = http.client.HTTPConnection(proxy.address_of(target.hostname), target.port or 80, timeout=10)
                try:
                    upstream.request(self.command, target.path or "/", body=body,
                                     headers={**headers, "Host": target.netloc})
                    answer = upstream.getresponse()
                except OSError:
                    self.answer(502, "connection_refused")
                    return
                content = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("connection", "transfer-encoding", "content-length", "date", "server"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)
                upstream.close()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def address_of(host: str) -> str:
        return "127.0.0.1" if host in (PARTNER, "127.0.0.1") else host

    def answer_itself(self, status: int | None, target: str | None = None) -> None:
        """Answer requests (for `target`, host:port, or all) with `status` instead of forwarding; None: forward."""
        if status is None:
            self.own_answers.pop(target, None)
        else:
            self.own_answers[target] = status

    def url(self, credentials: str | None = None) -> str:
        return f"http://{credentials + '@' if credentials else ''}127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def tunnel(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes (a CONNECT tunnel). A selector, not select(): late in the
    whole suite the process holds over 1,024 descriptors, which select() refuses (ValueError)."""
    with selectors.DefaultSelector() as selector:
        for sock in (client, upstream):
            selector.register(sock, selectors.EVENT_READ)
        try:
            while True:
                ready = selector.select(10)
                if not ready:
                    return
                for key, _ in ready:
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    (upstream if key.fileobj is client else client).sendall(data)
        finally:
            upstream.close()


@pytest.fixture()
def forward_proxy():
    proxies = []

    def start(port: int = 0, credentials: str | None = CREDENTIALS, marks: bool = True) -> ForwardProxy:
        proxies.append(ForwardProxy(port, credentials, marks))
        return proxies[-1]

    yield start
    for proxy in proxies:
        proxy.stop()


def receiver_server(receiver: Receiver, tls: ssl.SSLContext | None = None):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status = receiver.handle(dict(self.headers), body)
            receiver.headers_seen = dict(self.headers)
            self.send_response(status)
            if status >= 400 and receiver.retry_after is not None:
                self.send_header("Retry-After", receiver.retry_after)
            if 300 <= status < 400:
                self.send_header("Location", receiver.url)  # to itself: followed, it would be accepted
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture()
def partner():
    """A partner's receiver over plain HTTP, at http://partner.example:<port>/worklink."""
    receiver = Receiver()
    server = receiver_server(receiver)
    receiver.url = f"http://{PARTNER}:{server.server_port}/worklink"
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture()
def tls_partners(tmp_path):
    """Starts partners' receivers over HTTPS, each at https://partner.example:<port>/worklink, with one self-signed
    certificate for partner.example (trusted through a CA bundle)."""
    cert, key = tmp_path / "partner.pem", tmp_path / "partner.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={PARTNER}",
                    "-addext", f"subjectAltName=DNS:{PARTNER}", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    servers = []

    def start() -> Receiver:
        receiver = Receiver()
        servers.append(receiver_server(receiver, context))
        receiver.url, receiver.ca_file = f"https://{PARTNER}:{servers[-1].server_port}/worklink", str(cert)
        return receiver

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def tls_partner(tls_partners):
    """The partner's receiver over HTTPS."""
    return tls_partners()


def proxied_worker(database, clock, proxy_url: str, resolve=None, **overrides):
    """A worker as deployed: private targets refused, every webhook through the proxy."""
    worker = make_worker(database, None, clock, allow_private_webhooks=False,
                         webhook_proxy=webhook_targets.WebhookProxy.parse(proxy_url), **overrides)
    worker.resolve = resolve or public_dns()
    return worker


def _now(clock) -> None:
    clock.now = datetime.now(timezone.utc)  # receivers check the signature's timestamp against their own clock


# --- through the proxy ---------------------------------------------------------------------

def test_a_webhook_reaches_its_receiver_through_the_proxy_signed_with_the_proxys_credentials(
        notifications_db, partner, forward_proxy, clock):
    proxy = forward_proxy()
    subscriber_for(notifications_db, partner)
    accepted = event("referrals.referral.accepted")
    route(notifications_db, accepted)
    _now(clock)

    assert proxied_worker(notifications_db, clock, proxy.url(CREDENTIALS)).run_once() == 1
    [delivery] = all_deliveries(notifications_db, Delivery.channel == "webhook")
    assert (delivery.status, delivery.attempts) == ("sent", 1), delivery.last_error
    [received] = partner.accepted  # the receiver verified the signature
    assert received["id"] == str(delivery.id) and received["body"]["event_id"] == accepted.id
    [forwarded] = proxy.seen
    assert (forwarded["method"], forwarded["target"]) == ("POST", partner.url)
    assert forwarded["auth"] == "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert "Proxy-Authorization" not in partner.headers_seen  # the proxy's business, not the partner's


def test_https_goes_through_a_connect_tunnel_to_a_receiver_trusted_through_the_ca_bundle(
        notifications_db, tls_partner, forward_proxy, clock):
    proxy = forward_proxy()
    subscriber_for(notifications_db, tls_partner)
    route(notifications_db, event("referrals.referral.accepted"))
    _now(clock)

    untrusting = proxied_worker(notifications_db, clock, proxy.url(CREDENTIALS))
    assert untrusting.run_once() == 1  # the self-signed certificate is not trusted by the system's CAs
    [delivery] = all_deliveries(notifications_db, Delivery.channel == "webhook")
    assert delivery.status == "retrying" and "SSLError" in delivery.last_error and tls_partner.accepted == []

    clock.now = delivery.next_attempt_at.replace(tzinfo=timezone.utc)
    trusting = proxied_worker(notifications_db, clock, proxy.url(CREDENTIALS), webhook_ca_file=tls_partner.ca_file)
    tls_partner.clock = clock
    assert trusting.run_once() == 1
    assert all_deliveries(notifications_db, Delivery.channel == "webhook")[0].status == "sent"
    assert [r["id"] for r in tls_partner.accepted] == [str(delivery.id)]
    tunnel_to = f"{PARTNER}:{urlsplit(tls_partner.url).port}"
    assert [(s["method"], s["target"]) for s in proxy.seen] == [("CONNECT", tunnel_to)] * 2


def test_a_receivers_retry_after_and_redirects_are_handled_through_the_proxy_as_directly(
        notifications_db, partner, forward_proxy, clock):
    proxy = forward_proxy()
    subscriber_for(notifications_db, partner)
    partner.fail_next, partner.retry_after = 1, "600"
    route(notifications_db, event("referrals.referral.accepted"))
    _now(clock)
    worker = proxied_worker(notifications_db, clock, proxy.url(CREDENTIALS))

    assert worker.run_once() == 1
    [delivery] = all_deliveries(notifications_db, Delivery.channel == "webhook")
    assert delivery.status == "retrying" and "Retry-After: 600 s" in delivery.last_error
    assert delivery.next_attempt_at.replace(tzinfo=timezone.utc) - clock.now >= timedelta(seconds=600)

    partner.status_when_failing, partner.fail_next, partner.retry_after = 307, 1, None  # a redirect: not followed
    clock.now = delivery.next_attempt_at.replace(tzinfo=timezone.utc)
    partner.clock = clock
    assert worker.run_once() == 1
    assert len(proxy.seen) == 2 and partner.accepted == []


# --- the SSRF guard, which the proxy hides from the connection ------------------------------

def test_with_a_proxy_the_host_is_resolved_and_checked_before_anything_reaches_the_proxy(
        notifications_db, partner, forward_proxy, clock):
    proxy = forward_proxy()
    subscriber = subscriber_for(notifications_db, partner)
    port = urlsplit(partner.url).port
    resolve = public_dns({"metadata.partner.example": "169.254.169.254", "intranet.partner.example": "10.1.2.3"})
    worker = proxied_worker(notifications_db, clock, proxy.url(CREDENTIALS), resolve=resolve)
    _now(clock)

    for host in ("127.0.0.1", "metadata.partner.example", "intranet.partner.example"):
        with notifications_db.transaction() as session:
            session.get(WebhookSubscriber, subscriber.id).url = f"http://{host}:{port}/worklink"
        route(notifications_db, event("referrals.referral.accepted"))
        worker.run_once()
    dead = all_deliveries(notifications_db, Delivery.channel == "webhook")
    assert [(d.status, d.attempts) for d in dead] == [("dead", 1)] * 3
    assert all("not a public internet address" in d.last_error for d in dead)

    with notifications_db.transaction() as session:  # a name the worker cannot resolve: never sent unchecked
        session.get(WebhookSubscriber, subscriber.id).url = f"http://unknown.partner.example:{port}/worklink"
    route(notifications_db, event("referrals.referral.completed"))
    worker.run_once()
    [waiting] = all_deliveries(notifications_db, Delivery.channel == "webhook", Delivery.status != "dead")
    assert (waiting.status, waiting.attempts) == ("retrying", 0)  # an outage: retried, no attempt spent
    assert "could not be resolved" in waiting.last_error
    assert proxy.seen == [] and partner.accepted == []  # the proxy was never asked


# --- the proxy down, and its credentials ----------------------------------------------------

def test_a_proxy_that_is_down_delays_webhooks_and_its_credentials_are_never_logged_or_stored(
        notifications_db, partner, forward_proxy, clock, caplog):
    caplog.set_level(logging.DEBUG)
    port = free_port()  # the proxy is not up yet
    subscriber_for(notifications_db, partner)
    route(notifications_db, event("referrals.referral.accepted"))
    _now(clock)
    worker = proxied_worker(notifications_db, clock, f"http://{CREDENTIALS}@127.0.0.1:{port}")

    for _ in range(4):  # far past max_attempts (3): an outage spends none
        assert worker.run_once() == 1
        [delivery] = all_deliveries(notifications_db, Delivery.channel == "webhook")
        assert (delivery.status, delivery.attempts) == ("retrying", 0) and "ProxyUnavailable" in delivery.last_error
        clock.now = delivery.next_attempt_at.replace(tzinfo=timezone.utc)
    assert partner.accepted == []

    proxy = forward_proxy(port)
    partner.clock = clock
    assert worker.run_once() == 1
    [delivery] = all_deliveries(notifications_db, Delivery.channel == "webhook")
    assert (delivery.status, delivery.attempts) == ("sent", 1) and len(partner.accepted) == 1 and proxy.seen

    with notifications_db.sessions() as session:
        stored = [*session.scalars(sa.select(DeliveryAttempt.detail)), *session.scalars(
            sa.select(WebhookSubscriber.last_error)), delivery.last_error]
    logged = [record.getMessage() + repr(record.__dict__) for record in caplog.records]
    text = " ".join(str(item) for item in [*stored, *logged, worker.settings, worker.settings.webhook_proxy])
    assert "cannot be reached" in text and f"127.0.0.1:{port}" in text  # what failed is said...
    for secret in (USER, PASSWORD, "Pr0xy%21secret", base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()):
        assert secret not in text  # ...never who the worker is to the proxy


def test_a_bad_proxy_url_refuses_to_start_naming_the_setting_and_never_the_password():
    for bad in ("proxy.nhs.example:8080", f"ftp://{CREDENTIALS}@proxy.nhs.example:21", f"http://{CREDENTIALS}@:8080",
                f"http://{CREDENTIALS}@proxy.nhs.example", f"http://{CREDENTIALS}@proxy.nhs.example:http",
                f"http://{CREDENTIALS}@proxy.nhs.example:8080/path?x=1"):
        with pytest.raises(ConfigError, match="NOTIFICATIONS_WEBHOOK_PROXY") as refused:
            DeliverySettings.from_env({"NOTIFICATIONS_WEBHOOK_PROXY": bad})
        assert not any(secret in str(refused.value) for secret in (PASSWORD, "Pr0xy", USER))
    good = DeliverySettings.from_env({"NOTIFICATIONS_WEBHOOK_PROXY": f"http://{CREDENTIALS}@proxy.nhs.example:8080"})
    assert good.webhook_proxy.shown == "http://proxy.nhs.example:8080" and "Pr0xy" not in repr(good)
    assert DeliverySettings.from_env({"NOTIFICATIONS_WEBHOOK_PROXY": ""}).webhook_proxy is None


def test_the_deliver_job_will_not_start_with_a_bad_proxy_url(tmp_path):
    env = {**os.environ, "NOTIFICATIONS_DATABASE_URL": f"sqlite:///{tmp_path / 'n.db'}", "WORKLINK_VAR": str(tmp_path),
           "NOTIFICATIONS_WEBHOOK_PROXY": f"{CREDENTIALS}@proxy.nhs.example:8080"}  # no scheme
    job = subprocess.Popen([sys.executable, "-m", "worklink.cli", "job", "-s", "notifications", "deliver"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = job.communicate(timeout=60)
    finally:
        if job.poll() is None:
            job.send_signal(signal.SIGTERM)
    output = (out + err).decode()
    assert job.returncode != 0 and "configuration: NOTIFICATIONS_WEBHOOK_PROXY" in output, output[-2000:]
    assert "Traceback" not in output  # one line naming the setting
    assert "Pr0xy" not in output and USER not in output


def test_a_proxy_refusing_our_credentials_is_our_set_up_so_webhooks_wait_never_die(notifications_db, partner,
                                                                                  forward_proxy, clock):
    proxy = forward_proxy()
    subscriber_for(notifications_db, partner)
    route(notifications_db, event("referrals.referral.accepted"))
    _now(clock)
    wrong = proxied_worker(notifications_db, clock, proxy.url(f"{USER}:wrong-password"))
    assert wrong.run_once() == 1  # plain HTTP: the proxy answers the POST itself with 407
    [delivery] = all_deliveries(notifications_db, Delivery.channel == "webhook")
    assert (delivery.status, delivery.attempts) == ("retrying", 0)
    assert "webhook proxy" in delivery.last_error and "refused our credentials (HTTP 407)" in delivery.last_error
    assert partner.accepted == [] and [s["method"] for s in proxy.seen] == ["POST"]
