"""WCAG 2.2 AA criteria axe-core cannot judge, on the notifications pages in real headless Chromium: each
inbox and its pages, the alliance admin's page, and where an organisation is told with its forms and questions.
Each test walks the pages a person meets and checks one criterion (helpers: tests/browser.py). The forms typed
into (where an organisation is told) ask for no one's own details (1.3.5: a contact address is not the user's
own) and their errors are checked by test_where_told_page (3.3.1: the error summary linked to its fields)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.browser import (PageWalk, keyboard_problems, live_server, pages_with_problems, sign_in, small_targets,
                           reflow_and_spacing_problems)
from tests.services.notifications.test_pages import ADVISERS, PRACTICE, database_url, route  # noqa: F401 - SQLite
from worklink.auth import mint_token
from worklink_notifications.models import Delivery, OrganisationContact, RoutingRule, WebhookSubscriber

pytestmark = pytest.mark.timeout(300)


def walk(app, notifications_db, page, check) -> dict[str, object]:
    """Every notifications page as the person who uses it sees it: `check(page)` on each, by the page's name."""
    with notifications_db.transaction() as session:
        hook = WebhookSubscriber(organisation_id=PRACTICE, url="https://crm.practice.example/hooks",
                                 secret="whsec_AAAA")
        contact = OrganisationContact(organisation_id=PRACTICE, email="team@practice.example", purpose="team")
        session.add_all([hook, contact])
        session.flush()
        hook, contact = hook.id, contact.id
    for _ in range(52):  # more than a page of the organisation's inbox
        route(notifications_db, "referrals.referral.submitted")
    route(notifications_db, "referrals.referral.accepted")
    with notifications_db.transaction() as session:
        session.execute(sa.update(Delivery).where(Delivery.channel == "webhook")
                        .values(status="dead", attempts=6, last_error="HTTP 503 from the receiver"))
    jwt = app.extensions["worklink"].settings.jwt
    with live_server(app) as base:
        pages = PageWalk(page, base, check)
        visit = pages.visit

        visit("sign in", "/signin")
        sign_in(page, base, mint_token(jwt, role="adviser", org=ADVISERS, subject="ada"), "/messages")
        visit("own inbox", "/messages")
        visit("organisation's inbox", "/messages?scope=organisation")
        visit("organisation's inbox, page 2", "/messages?scope=organisation&page=2")
        visit("notification settings", "/settings")
        page.context.clear_cookies()
        sign_in(page, base, mint_token(jwt, role="alliance_admin", subject="alex"), "/admin")
        visit("administration", "/admin")
        with notifications_db.sessions() as session:
            rule = session.scalar(sa.select(RoutingRule.id).where(
                RoutingRule.event_type == "adjustments.employer_response.recorded", RoutingRule.audience == "clinician"))
        visit("turning a routing rule off", f"/admin/rules/{rule}/turn-off")
        visit("choosing an organisation", "/where-told")
        page.context.clear_cookies()
        sign_in(page, base, mint_token(jwt, role="org_admin", org=PRACTICE, subject="lee"), f"/where-told/{PRACTICE}")
        told = f"/where-told/{PRACTICE}"
        visit("where your organisation is told", told)
        visit("adding an email contact", f"{told}/contacts/new")
        visit("changing an email contact", f"{told}/contacts/{contact}")
        visit("removing an email contact", f"{told}/contacts/{contact}/remove")
        visit("adding a webhook", f"{told}/webhooks/new")
        visit("changing a webhook", f"{told}/webhooks/{hook}")
        visit("turning a webhook off", f"{told}/webhooks/{hook}/turn-off")
        visit("rotating a webhook's secret", f"{told}/webhooks/{hook}/rotate")
        visit("removing a webhook", f"{told}/webhooks/{hook}/remove")
        visit("a webhook's secret, no longer shown", f"{told}/webhooks/{hook}/secret")
    return pages.found


def test_2_4_2_every_page_and_every_page_of_an_inbox_has_a_title_of_its_own(app, notifications_db, page):
    titles = walk(app, notifications_db, page, lambda p: p.title())
    assert len(set(titles.values())) == len(titles), titles
    assert titles["organisation's inbox, page 2"] == "Your organisation (page 2 of 2) – Messages – WorkLink"


def test_2_4_3_2_4_7_2_4_11_keyboard_order_visible_unobscured_focus_and_the_skip_link(app, notifications_db, page):
    assert pages_with_problems(walk(app, notifications_db, page, keyboard_problems)) == {}


def test_2_5_8_targets_are_24_px_or_spaced(app, notifications_db, page):
    assert pages_with_problems(walk(app, notifications_db, page, small_targets)) == {}


def test_1_4_10_1_4_12_reflow_at_320_px_and_text_spacing(app, notifications_db, page):
    assert pages_with_problems(walk(app, notifications_db, page, reflow_and_spacing_problems)) == {}
