"""Where a webhook may go, judged from the URL and from what its host resolves to (webhook_targets): pure logic."""

from __future__ import annotations

import pytest

from worklink_notifications import webhook_targets

# IPv6 addresses that lead to an IPv4 one (a NAT64 translator, a 6to4 relay, the deprecated IPv4-compatible and
# IPv4-translated forms), and special-purpose ranges Python 3.11's is_global calls global.
NOT_PUBLIC = (
    "64:ff9b::a9fe:a9fe",  # NAT64 to the cloud metadata address 169.254.169.254
    "64:ff9b::7f00:1",     # NAT64 to 127.0.0.1
    "64:ff9b::a00:5",      # NAT64 to 10.0.0.5
    "64:ff9b:1::a00:5",    # local-use NAT64
    "2002:7f00:1::",       # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",   # 6to4 of 169.254.169.254
    "::127.0.0.1",         # IPv4-compatible
    "::ffff:0:127.0.0.1",  # IPv4-translated
    "fec0::1",             # site-local
    "192.0.0.8",           # IETF protocol assignments
    "192.0.0.192",         # ... where Oracle Cloud's instance metadata answers
    "192.88.99.1",         # 6to4 relay anycast
    "3fff::1",             # documentation
)
PUBLIC = ("8.8.8.8", "2001:4860:4860::8888", "64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8")


def literal(address: str) -> str:
    return f"https://[{address}]/hooks" if ":" in address else f"https://{address}/hooks"


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_an_address_that_leads_to_a_private_one_is_refused_as_a_literal_and_when_a_name_resolves_to_it(address):
    assert "not a public internet address" in webhook_targets.refusal(literal(address))
    resolved = webhook_targets.resolved_refusal("https://partner.example/hooks", lambda host, port: [address])
    assert resolved == f"partner.example resolves to {address}, not a public internet address."


@pytest.mark.parametrize("address", PUBLIC)
def test_a_public_address_in_any_of_those_forms_is_accepted(address):
    assert webhook_targets.refusal(literal(address)) is None
    assert webhook_targets.resolved_refusal("https://partner.example/hooks", lambda host, port: [address]) is None


@pytest.mark.parametrize("url", ["https://１２７.０.０.１/hooks", "https://ｍｅｔａｄａｔａ.ｇｏｏｇｌｅ.ｉｎｔｅｒｎａｌ/",
                                 "https://１６９.２５４.１６９.２５４/latest/meta-data/"])
def test_a_host_in_full_width_characters_is_judged_as_the_resolver_reads_it(url):
    """The URL field takes them, and the resolver (IDNA) reads them as 127.0.0.1 and an internal name."""
    assert webhook_targets.refusal(url) is not None


def test_the_check_before_a_send_waits_on_a_silent_resolver_only_so_long(monkeypatch):
    """The check of every address a name resolves to ran getaddrinfo with no limit, before the request's own
    deadline began: a silent DNS server held the worker there instead."""
    import threading
    import time

    monkeypatch.setattr(webhook_targets, "RESOLVE_SECONDS", 0.5)
    answered = threading.Event()

    def hanging(host: str, port: int) -> list[str]:
        answered.wait(30)
        return ["10.0.0.1"]

    started = time.monotonic()
    try:
        # Unresolved, so unchecked: the send itself fails and is retried (direct), or it is not sent (proxy).
        assert webhook_targets.resolved_refusal("https://partner.example/hook", hanging) is None
        with pytest.raises(webhook_targets.Unresolvable):
            webhook_targets.resolved_refusal("https://partner.example/hook", hanging, must_resolve=True)
        assert time.monotonic() - started < 1.5
    finally:
        answered.set()
