"""An adviser refused by an adjustments page is led to their own work, on the referrals site.

Found by the previous session: an adviser's refusal page offered "Go to the start page", this service's
/, which refuses advisers too. No adjustments page is theirs; their referral queue is."""

from __future__ import annotations

import re
from types import SimpleNamespace

from tests.browser import sealed
from tests.people_rights import post_form
from tests.services.adjustments.conftest import build_app
from worklink.web.pages import SESSION_COOKIE
from worklink_adjustments.app import _role_home_pages

PAGE = {"Accept": "text/html"}


def start_link(response, words: str = "the start page") -> str | None:
    found = re.search(rf'<a href="([^"]*)">Go to {words}</a>', response.get_data(as_text=True))
    return found.group(1) if found else None


QUEUE = "your referrals queue on WorkLink Referrals"


def test_an_adviser_refused_here_is_offered_their_referral_queue_not_a_page_that_refuses_them_too(
        settings, tokens, monkeypatch):
    monkeypatch.setenv("ADJUSTMENTS_REFERRALS_URL", "https://referrals.example/")
    app = build_app(settings)
    adviser = app.test_client()
    adviser.set_cookie(SESSION_COOKIE, sealed(app, tokens.raw("adviser")))
    for path in ("/find", "/"):
        refused = adviser.get(path, headers=PAGE)
        assert refused.status_code == 403 and "employment adviser" in refused.get_data(as_text=True), path
        # The link says where it leads: another site, not this one's start page.
        assert start_link(refused, QUEUE) == "https://referrals.example/queue", path
        assert "Go to the start page" not in refused.get_data(as_text=True), path
    gp = app.test_client()  # a role this service serves keeps its start page here
    gp.set_cookie(SESSION_COOKIE, sealed(app, tokens.raw("gp")))
    assert start_link(gp.get("/people", headers=PAGE)) == "/"


def test_an_adviser_signing_in_here_with_no_page_to_return_to_goes_to_their_referral_queue(
        settings, tokens, monkeypatch):
    monkeypatch.setenv("ADJUSTMENTS_REFERRALS_URL", "https://referrals.example/")
    app = build_app(settings)
    signed_in = post_form(app.test_client(), "/signin", {"token": tokens.raw("adviser")}, {})
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "https://referrals.example/queue"
    clinician = post_form(app.test_client(), "/signin", {"token": tokens.raw("gp")}, {})
    assert clinician.headers["Location"] == "/"


def test_without_the_referrals_sites_address_an_advisers_refusal_offers_no_link_rather_than_one_that_refuses(
        settings, tokens, monkeypatch):
    monkeypatch.delenv("ADJUSTMENTS_REFERRALS_URL", raising=False)
    in_production = _role_home_pages(SimpleNamespace(env="production"))  # no local address to fall back on
    assert in_production == {"adviser": ""}
    app = build_app(settings)
    app.config["WORKLINK_ROLE_HOME_PAGES"] = in_production
    adviser = app.test_client()
    adviser.set_cookie(SESSION_COOKIE, sealed(app, tokens.raw("adviser")))
    refused = adviser.get("/find", headers=PAGE)
    assert refused.status_code == 403 and "employment adviser" in refused.get_data(as_text=True)
    assert start_link(refused) is None and start_link(refused, QUEUE) is None
    signed_in = post_form(app.test_client(), "/signin", {"token": tokens.raw("adviser")}, {})
    assert signed_in.headers["Location"] == "/"  # the service's own start page, which says why it refuses
