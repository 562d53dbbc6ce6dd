"""Where a webhook may go: partner systems on the public internet, never this platform's own network.

A webhook URL is chosen by an organisation's admin, and the delivery worker POSTs to it from
inside the platform, so a URL naming loopback, a private range or the link-local cloud
metadata address (169.254.169.254) - also as an IPv6 address that leads there (NAT64, 6to4) - would turn
the worker into a way in (SSRF). Checked three times:
at registration (IP literals and local names: a 422 on /url), before every send on every
address the host name resolves to then (DNS can change after registration), and on the
address each connection actually reached (`public_only_session`: a name that resolves to a
public address at the check and to 127.0.0.1 a moment later - DNS rebinding - still gets
nowhere). Redirects are never followed (delivery.send_webhook). Outside production, private targets may be allowed
(`NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE`, default on there), so a developer's or a test's receiver
on 127.0.0.1 works; production never allows them.

Through a forward proxy (`NOTIFICATIONS_WEBHOOK_PROXY`, an NHS or council network's egress) the worker
connects to the proxy alone and cannot see the address the proxy reaches, so the per-connection check
cannot apply: the host is resolved and checked before every send, and a name that cannot be resolved is
not sent unchecked (an outage: retried). The proxy resolves the name again when it connects, so it must
enforce the same egress rules itself (no private, loopback, link-local or metadata addresses). The proxy's
credentials never appear in a log line, an error or a repr.

A failure at the proxy is told apart from the receiver's (`proxy_failure`, `proxy_answer`): only what a receiver
cannot have caused - no connection to the proxy at all, or a 407 to CONNECT - says the proxy is unavailable to
every webhook; the proxy's own answer about one receiver (a CONNECT refused or not connected, a plain-HTTP answer
the proxy marks as its own) says nothing about that receiver; anything else is the receiver's. Free of Flask.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping
from urllib.parse import unquote, urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from worklink.config import ConfigError

LOCAL_NAMES = ("localhost", ".localhost", ".local", ".internal", ".localdomain")

Resolver = Callable[[str, int], list[str]]


def private_targets_allowed(worklink_env: str, environ: Mapping[str, str]) -> bool:
    return worklink_env != "production" and environ.get("NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE", "1") != "0"


def refusal(url: str) -> str | None:
    """Why `url` may not receive webhooks, judged from the URL alone; None if it may."""
    host = as_resolved(urlsplit(url).hostname or "").rstrip(".").lower()
    if not host:
        return "The URL names no host."
    if host == LOCAL_NAMES[0] or host.endswith(LOCAL_NAMES[1:]):
        return f"{host} is a local name; use the partner system's public address."
    address = ip_literal(host)
    if address is not None and not is_public(address):
        return f"{host} is not a public internet address."
    return None


def as_resolved(host: str) -> str:
    """The host as the resolver and requests read it (IDNA): １２７.０.０.１ in full-width digits is 127.0.0.1, and
    ｍｅｔａｄａｔａ.ｇｏｏｇｌｅ.ｉｎｔｅｒｎａｌ an internal name. A host IDNA cannot encode is judged as written."""
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


class Unresolvable(OSError):
    """The host could not be resolved, so not checked: an outage (retried), never a send unchecked."""


def resolved_refusal(url: str, resolve: Resolver | None = None, must_resolve: bool = False) -> str | None:
    """As `refusal`, and every address the host resolves to now must be public. A name that cannot be resolved
    passes (the direct send fails and is retried) unless `must_resolve` (through a proxy, which would resolve
    it for us): then it raises Unresolvable."""
    reason = refusal(url)
    if reason:
        return reason
    parts = urlsplit(url)
    try:
        addresses = resolve_within(resolve or _resolve, parts.hostname,
                                   parts.port or (443 if parts.scheme == "https" else 80), RESOLVE_SECONDS)
    except OSError as exc:
        if must_resolve:
            raise Unresolvable(f"{parts.hostname} could not be resolved to check it is public "
                               f"({type(exc).__name__}); not sent through the proxy unchecked") from None
        return None  # cannot resolve: the send itself fails and is retried
    private = [a for a in addresses if not is_public(ipaddress.ip_address(a))]
    return f"{parts.hostname} resolves to {private[0]}, not a public internet address." if private else None


def ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host written as a number means (also 2130706433 or 0x7f.1, which resolvers accept)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


# Special-purpose ranges (IANA's registries) that Python 3.11's is_global calls global (CVE-2024-4032 fixed only
# part of this, in later releases): refused here whatever the Python version.
NOT_GLOBAL = tuple(ipaddress.ip_network(network) for network in (
    "192.0.0.0/24",      # IETF protocol assignments (3.11.7 refuses only its first /29): Oracle Cloud's metadata
    "192.88.99.0/24",    # the deprecated 6to4 relay anycast
    "::/96",             # IPv4-compatible (deprecated): ::127.0.0.1
    "::ffff:0:0:0/96",   # IPv4-translated (SIIT): ::ffff:0:127.0.0.1
    "64:ff9b:1::/48",    # local-use NAT64 (RFC 8215): the network's own translator, to its own addresses
    "100:0:0:1::/64",    # dummy prefix (RFC 9780)
    "3fff::/20",         # documentation (RFC 9637)
    "5f00::/16",         # SRv6 segment identifiers (RFC 9602)
    "fec0::/10",         # site-local (deprecated, still routed on some networks)
))
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052's well-known prefix: the IPv4 address is the last 32 bits


def embedded_ipv4(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one delivers to: IPv4-mapped, NAT64 (a translator connects to it) or 6to4."""
    if address.version == 4:
        return None
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.ipv4_mapped or address.sixtofour


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Judged by where it leads: 64:ff9b::a9fe:a9fe reaches the metadata address through a NAT64 translator,
    2002:7f00:1:: 127.0.0.1 through a 6to4 relay, ::ffff:127.0.0.1 is loopback itself."""
    inner = embedded_ipv4(address)
    if inner is not None:
        return is_public(inner)
    return address.is_global and not address.is_multicast and not any(address in n for n in NOT_GLOBAL)


def _resolve(host: str, port: int) -> list[str]:
    return [info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)]


# --- resolving within a time limit ----------------------------------------------------------
# getaddrinfo has no timeout and cannot be interrupted: a resolver that does not answer (each server tried in
# turn, each search domain) held the worker - and every delivery behind it - past the request's deadline. The
# name is resolved in a helper thread and waited on at most RESOLVE_SECONDS (or what is left of the deadline); a
# lookup still hanging is left to finish in its thread, and at most DNS_THREADS of them run at once.
RESOLVE_SECONDS = 10.0
DNS_THREADS = 4
_lookups: tuple[int, ThreadPoolExecutor] | None = None


class ResolveTimeout(socket.gaierror):
    """The name was not resolved in time: an outage (retried), as any failed lookup."""


def resolve_within(resolve: Resolver, host: str, port: int, seconds: float) -> list[str]:
    future = _lookup_threads().submit(resolve, host, port)
    try:
        return future.result(timeout=max(seconds, 0.0))
    except FutureTimeout:
        future.cancel()  # still queued behind hanging lookups: never started
        raise ResolveTimeout(f"{host} was not resolved within {max(seconds, 0.0):.1f} s") from None


def _lookup_threads() -> ThreadPoolExecutor:
    """This process's lookup threads (a forked worker starts its own: threads do not survive a fork)."""
    global _lookups
    if _lookups is None or _lookups[0] != os.getpid():
        _lookups = (os.getpid(), ThreadPoolExecutor(DNS_THREADS, thread_name_prefix="webhook-dns"))
    return _lookups[1]


class NotPublic(Exception):
    """A webhook connection reached an address that is not public (not an OSError: never retried as one)."""


class _PublicPeerOnly:
    def _new_conn(self):
        sock = super()._new_conn()
        peer = sock.getpeername()[0]
        if not is_public(ipaddress.ip_address(peer.split("%")[0])):
            sock.close()
            raise NotPublic(f"{self.host} reached {peer}, not a public internet address.")
        return sock


# --- a whole request's deadline ---------------------------------------------------------

_in_this_thread = threading.local()


class Cut:
    """The connections opened within one `deadline`, shut down when it passes (`passed` then says so). Connecting
    counts too: every address a host resolves to is tried within what is left (`left`), through `resolve`."""

    def __init__(self, seconds: float, resolve: Resolver | None = None) -> None:
        self.passed = False
        self.connected = False  # a connection was made: a failure after it and the deadline is the cut's doing
        self.resolve = resolve or _resolve
        self._ends_at = time.monotonic() + max(seconds, 0.0)
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def left(self) -> float:
        return self._ends_at - time.monotonic()

    def expire(self) -> None:
        with self._lock:
            self.passed, sockets = True, list(self._sockets)
        for sock in sockets:
            _shut(sock)

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            self.connected = True
            passed = self.passed
        if passed:  # connected only after the deadline
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    # A shutdown, not a close: it wakes a receive blocked in the sending thread, which a close does not.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def deadline(seconds: float, resolve: Resolver | None = None) -> Iterator[Cut]:
    """Every connection a webhook session opens in this thread within is cut `seconds` after it began, and is
    made by then: the host is resolved through `resolve` (default: DNS) and its addresses tried within that time.

    requests' timeout bounds each wait for a byte, not the request: a receiver sending its answer a byte at a
    time would hold the worker (every delivery behind it) for as long as it liked, and outlive the delivery's
    claim, so a second worker would send it again meanwhile. The same timeout bounds each address's connect, so
    a name resolving to many addresses that never answer held the worker that long for each of them."""
    cut = _in_this_thread.cut = Cut(seconds, resolve)
    timer = threading.Timer(max(seconds, 0.0), cut.expire)
    timer.daemon = True
    timer.start()
    try:
        yield cut
    finally:
        timer.cancel()
        _in_this_thread.cut = None


class _CutAtDeadline:
    def _new_conn(self):
        cut = getattr(_in_this_thread, "cut", None)
        if cut is None:
            return super()._new_conn()
        sock = self._connect_within(cut)
        cut.watch(sock)
        return sock

    def _connect_within(self, cut: Cut) -> socket.socket:
        """urllib3's own connect (HTTPConnection._new_conn, its errors the same), bounded by the cut."""
        per_wait = self.timeout if isinstance(self.timeout, (int, float)) else None  # urllib3's default: none
        try:
            return connect_within(cut, self._dns_host, self.port, per_wait, self.source_address,
                                  self.socket_options)
        except socket.gaierror as exc:
            raise urllib3.exceptions.NameResolutionError(self.host, self, exc) from exc
        except ConnectDeadline as exc:
            raise urllib3.exceptions.ConnectTimeoutError(self, f"Connection to {self.host} timed out. ({exc})") from exc
        except TimeoutError as exc:
            raise urllib3.exceptions.ConnectTimeoutError(
                self, f"Connection to {self.host} timed out. (connect timeout={per_wait})") from exc
        except OSError as exc:
            raise urllib3.exceptions.NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc


def connect_within(cut: Cut, host: str, port: int, per_wait: float | None,
                   source_address: tuple[str, int] | None = None, options=None) -> socket.socket:
    """A connection to the first of the host's addresses that takes one, as socket.create_connection tries them,
    all within what is left of the cut: each address waits `per_wait` or what is left, whichever is shorter."""
    addresses = _addresses(host.strip("[]"), port, cut)
    error: OSError = OSError(f"{host} resolves to no address")
    for address in addresses:
        left = cut.left()
        if left <= 0:
            break
        sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
        try:
            for option in options or ():
                sock.setsockopt(*option)
            sock.settimeout(left if per_wait is None else min(per_wait, left))
            if source_address:
                sock.bind(source_address)
            sock.connect((address, port))
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    if cut.left() <= 0:
        raise ConnectDeadline(f"no connection within the request's deadline; {host} has {len(addresses)} "
                              f"address{'' if len(addresses) == 1 else 'es'}")
    raise error


class ConnectDeadline(TimeoutError):
    """No address took a connection before the request's deadline (a connect timeout: the receiver, or through a
    proxy our proxy, cannot be reached)."""


def _addresses(host: str, port: int, cut: Cut) -> list[str]:
    """An address as it is; a name as the cut's resolver gives it within what is left (each address once, in its
    order)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        return list(dict.fromkeys(resolve_within(cut.resolve, host, port, min(RESOLVE_SECONDS, cut.left()))))


class _HTTPConnection(_PublicPeerOnly, _CutAtDeadline, HTTPConnection):
    pass


class _HTTPSConnection(_PublicPeerOnly, _CutAtDeadline, HTTPSConnection):
    pass


class _AnyPeerHTTPConnection(_CutAtDeadline, HTTPConnection):
    pass


class _AnyPeerHTTPSConnection(_CutAtDeadline, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _AnyPeerHTTPPool(HTTPConnectionPool):
    ConnectionCls = _AnyPeerHTTPConnection


class _AnyPeerHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _AnyPeerHTTPSConnection


class _WebhookAdapter(HTTPAdapter):
    """Connections cut at a `deadline`; with `public_only`, also refused unless they reach a public address.
    Through a proxy too (its own pool manager), where the connection is the one to the proxy."""

    def __init__(self, public_only: bool = True) -> None:
        self.pool_classes = {"http": _HTTPPool, "https": _HTTPSPool} if public_only \
            else {"http": _AnyPeerHTTPPool, "https": _AnyPeerHTTPSPool}
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self.pool_classes

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = self.pool_classes
        return manager


def _session(public_only: bool) -> requests.Session:
    session = requests.Session()
    session.mount("http://", _WebhookAdapter(public_only))
    session.mount("https://", _WebhookAdapter(public_only))
    return session


def public_only_session() -> requests.Session:
    """A requests session whose every connection must reach a public address (raises NotPublic)."""
    return _session(public_only=True)


# --- the egress proxy ------------------------------------------------------------------

@dataclass(frozen=True)
class WebhookProxy:
    """NOTIFICATIONS_WEBHOOK_PROXY: http(s)://[user:password@]host:port. `shown` is the URL without its
    credentials (safe to log); `scrub` takes the credentials out of any text (a library's error message)."""

    url: str = field(repr=False)
    shown: str

    @classmethod
    def parse(cls, text: str, name: str = "NOTIFICATIONS_WEBHOOK_PROXY") -> "WebhookProxy":
        parts = urlsplit(text.strip())
        shown = f"{parts.scheme}://{parts.hostname}" + (f":{_port(parts)}" if _port(parts) else "") \
            if parts.scheme and parts.hostname else ""
        problem = None
        if parts.scheme not in ("http", "https"):
            problem = "must start with http:// or https://"
        elif not parts.hostname:
            problem = "names no host"
        elif _port(parts) is None:
            problem = "needs the proxy's port (http://host:port)"
        elif parts.path not in ("", "/") or parts.query or parts.fragment:
            problem = "must be only scheme, host and port (and credentials)"
        if problem:  # never the text itself: it may hold a password
            got = f" (got {shown})" if shown else ""
            raise ConfigError(f"{name} {problem}, e.g. http://proxy.example.nhs.uk:8080{got}")
        return cls(url=text.strip(), shown=shown)

    @property
    def credentials(self) -> list[str]:
        """Each secret part of the URL as it may appear in a message: raw and percent-decoded."""
        parts = urlsplit(self.url)
        found = [p for p in (parts.username, parts.password) if p]
        return sorted({*found, *(unquote(p) for p in found)}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        text = text.replace(self.url, self.shown)
        for secret in self.credentials:
            text = text.replace(secret, "***")
        return text

    def __str__(self) -> str:
        return self.shown


def _port(parts) -> int | None:
    try:
        return parts.port
    except ValueError:  # not a number, or out of range
        return None


def webhook_session(allow_private: bool, proxy: WebhookProxy | None = None,
                    ca_file: str | None = None) -> requests.Session:
    """The worker's session. Direct: every connection must reach a public address (unless private ones are
    allowed). Through `proxy`: each connection reaches the proxy, so the check is the one before sending
    (resolved_refusal) and the proxy's own rules. The environment's HTTP(S)_PROXY/NO_PROXY are ignored: the
    setting is the only way out. `ca_file` replaces the system's CAs for receivers' certificates. Either way a
    request made within `deadline` is cut when it passes."""
    session = _session(public_only=not (allow_private or proxy))
    session.trust_env = False
    if proxy:
        session.proxies = {"http": proxy.url, "https": proxy.url}
    if ca_file:
        session.verify = ca_file
    return session


# --- the proxy's failures, told apart from the receiver's ------------------------------------

class ProxyFailure(OSError):
    """Our webhook proxy, not the receiver, stopped the webhook: it spends none of the delivery's attempts and
    none of the receiver's health."""


class ProxyUnavailable(ProxyFailure):
    """The proxy cannot be reached or refuses us (407 to CONNECT): every webhook would fail alike, so all wait."""


class ProxyDidNotForward(ProxyFailure):
    """The proxy answered for one receiver itself: it could not reach it (502/503/504) or its policy refuses it
    (403). Only that receiver's webhooks wait; it may be our proxy's doing, so it is not held against the receiver."""


TUNNEL_REFUSED = re.compile(r"Tunnel connection failed: (\d{3})( [^\n]*)?")
CANNOT_REACH = {502, 503, 504}  # a proxy's "bad gateway", "unavailable", "gateway timeout" for the next hop


def proxy_failure(exc: requests.RequestException, proxy: WebhookProxy) -> ProxyFailure | None:
    """What a failed request says about our proxy; None when it may be the receiver's doing.

    requests' ProxyError alone proves nothing: through a plain-HTTP proxy a receiver that drops the connection
    makes the proxy drop ours, which urllib3 also calls "Unable to connect to proxy". Reliable are: no TCP
    connection to the proxy at all (refused, unresolvable, timed out: urllib3's ConnectTimeoutError and
    NewConnectionError, raised only while connecting, and through a proxy we connect to the proxy alone), and
    the answer to CONNECT, which is the proxy's own."""
    cause = _urllib3_proxy_error(exc)
    if cause is None:
        return None
    tunnel = TUNNEL_REFUSED.search(str(cause.original_error))
    if tunnel:
        return _tunnel_refused(int(tunnel[1]), f"{tunnel[1]}{tunnel[2] or ''}".strip(), proxy)
    if isinstance(cause.original_error, urllib3.exceptions.ConnectTimeoutError):
        detail = proxy.scrub(f"{type(cause.original_error).__name__}: {cause.original_error}")
        return ProxyUnavailable(f"the webhook proxy {proxy.shown} cannot be reached ({detail})")
    return None


def _tunnel_refused(status: int, status_line: str, proxy: WebhookProxy) -> ProxyFailure:
    if status == 407:
        return ProxyUnavailable(f"the webhook proxy {proxy.shown} refused our credentials (CONNECT answered "
                                f"{status_line}): check NOTIFICATIONS_WEBHOOK_PROXY")
    if status in CANNOT_REACH:
        return ProxyDidNotForward(f"the webhook proxy {proxy.shown} could not reach the receiver (CONNECT answered "
                                  f"{status_line})")
    return ProxyDidNotForward(f"the webhook proxy {proxy.shown} refused to connect us to the receiver (CONNECT "
                              f"answered {status_line}): its own policy, not the receiver")


def _urllib3_proxy_error(exc: Exception) -> urllib3.exceptions.ProxyError | None:
    if not isinstance(exc, requests.exceptions.ProxyError) or not exc.args:
        return None
    reason = getattr(exc.args[0], "reason", exc.args[0])  # requests wraps urllib3's MaxRetryError(reason=...)
    return reason if isinstance(reason, urllib3.exceptions.ProxyError) else None


def proxy_answer(url: str, status: int, headers: Mapping[str, str], proxy: WebhookProxy) -> ProxyDidNotForward | None:
    """A plain-HTTP webhook's answer that the proxy gave itself; None if it may be the receiver's.

    Over https the answer comes through a TLS tunnel that ends at the receiver (its certificate checked), so it
    is the receiver's. Over plain HTTP the proxy relays the receiver's answer and may answer instead: a 407 is the
    proxy's, and so is an answer it marks as its own - an RFC 9209 Proxy-Status whose nearest member names an
    error and no received status, or Squid's X-Squid-Error. An unmarked 403 or 502 cannot be told from the
    receiver's and counts as the receiver's, as without a proxy. A receiver could forge these marks, so they
    hold back only its own webhooks (never every webhook)."""
    if urlsplit(url).scheme != "http":
        return None
    if status == 407:
        return ProxyDidNotForward(f"the webhook proxy {proxy.shown} refused our credentials (HTTP 407): check "
                                  "NOTIFICATIONS_WEBHOOK_PROXY")
    mark = _own_answer_mark(headers)
    if mark is None:
        return None
    what = "could not reach the receiver" if status in CANNOT_REACH else "answered instead of the receiver"
    return ProxyDidNotForward(f"the webhook proxy {proxy.shown} {what}: HTTP {status} ({mark})")


def _own_answer_mark(headers: Mapping[str, str]) -> str | None:
    squid = headers.get("X-Squid-Error")
    if squid:
        return f"X-Squid-Error: {squid.strip()[:100]}"
    status = headers.get("Proxy-Status")
    if not status:
        return None
    nearest = re.sub(r'"(?:[^"\\]|\\.)*"', '""', status).split(",")[-1]  # the member added last, by our proxy
    params = dict(part.strip().partition("=")[::2] for part in nearest.split(";")[1:])
    if params.get("error") and "received-status" not in params:
        return f"Proxy-Status error={params['error'][:60]}"
    return None
