"""Where an inbox message's record lives: a link to its page in the service that owns it.

A message says what happened and never who it is about (`messages.py`), so the reader must open the
record to act on it; without a link, "Referral 70672877" matched nothing they could find (the queue
shows references such as R-J9E2K6YJ). Each owning service checks the reader's access itself.
"""

from __future__ import annotations

import uuid
from typing import Mapping

from worklink.sites import site_url

# Pages of the referrals site that a resident's e-mails link (delivery.render_email, emails/_person_why.*), by
# referrals' own paths: tests/e2e/test_email_links_resolve_in_referrals.py resolves each in the referrals app, so a
# page or section renamed there fails a test instead of the e-mails. The status page itself is the path the event
# carries (referrals' services.status_page).
NEW_LINK_PAGE = "/new-link"      # public: ask for a new private link to one's referral page
STOP_EMAILS_SECTION = "emails"   # the status page's "Emails about your referral" section, where they stop

SITES = {"referrals": "NOTIFICATIONS_REFERRALS_URL", "adjustments": "NOTIFICATIONS_ADJUSTMENTS_URL",
         "directory": "NOTIFICATIONS_DIRECTORY_URL"}
# message codes (by their start) -> (fact naming the record, site, path, link words). By the message, not by
# which facts it carries: a referral made from a suggestion names both, and its adviser reads the referral.
RECORDS = (
    (("listing_published", "listing_updated", "listing_review_due", "intake_paused", "intake_resumed"),
     ("service_id", "directory", "/partner/services/{}", "Open the listing")),
    (("referral_",), ("referral_id", "referrals", "/queue/{}", "Open the referral")),
    # A replaced suggestion's message opens the one that replaced it (the event's superseded_by_id).
    (("suggestion_replaced",), ("superseded_by_id", "adjustments", "/review/{}", "Open the new suggestion")),
    (("suggestion_", "employer_response"), ("suggestion_id", "adjustments", "/review/{}", "Open the suggestion")),
)


def sites(env: Mapping[str, str], environment: str) -> dict[str, str]:
    return {site: site_url(env, setting, site, environment) for site, setting in SITES.items()}


def record_link(item: dict, site_urls: dict[str, str]) -> tuple[str, str] | None:
    """(words, address) of the page showing the item's record, or None when it names none."""
    facts = item.get("facts") or {}
    for codes, (fact, site, path, words) in RECORDS:
        if item["message_code"].startswith(codes) and fact in facts:
            try:
                record_id = uuid.UUID(str(facts[fact]))
            except ValueError:
                return None
            return (words, site_urls[site] + path.format(record_id)) if site_urls[site] else None
    return None
