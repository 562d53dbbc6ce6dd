"""Where an inbox message's record lives: a link to its page in the service that owns it.

A message says what happened and never who it is about (`messages.py`), so the reader must open the
record to act on it; without a link, "Referral 70672877" matched nothing they could find (the queue
shows references such as R-J9E2K6YJ). Each owning service checks the reader's access itself.
"""

from __future__ import annotations

import uuid
from typing import Mapping

from worklink_notifications.delivery import DeliverySettings

# site -> (setting, default): the defaults are the ports `worklink up` serves each service on.
SITES = {
    "referrals": ("NOTIFICATIONS_REFERRALS_URL", DeliverySettings.referrals_url),
    "adjustments": ("NOTIFICATIONS_ADJUSTMENTS_URL", "http://127.0.0.1:8082"),
    "directory": ("NOTIFICATIONS_DIRECTORY_URL", "http://127.0.0.1:8081"),
}
# message codes (by their start) -> (fact naming the record, site, path, link words). By the message, not by
# which facts it carries: a referral made from a suggestion names both, and its adviser reads the referral.
RECORDS = (
    (("listing_published", "listing_updated", "listing_review_due"),
     ("service_id", "directory", "/partner/services/{}", "Open the listing")),
    (("referral_",), ("referral_id", "referrals", "/queue/{}", "Open the referral")),
    (("suggestion_", "employer_response"), ("suggestion_id", "adjustments", "/review/{}", "Open the suggestion")),
)


def sites(env: Mapping[str, str]) -> dict[str, str]:
    return {site: env.get(setting, default).rstrip("/") for site, (setting, default) in SITES.items()}


def record_link(item: dict, site_urls: dict[str, str]) -> tuple[str, str] | None:
    """(words, address) of the page showing the item's record, or None when it names none."""
    facts = item.get("facts") or {}
    for codes, (fact, site, path, words) in RECORDS:
        if item["message_code"].startswith(codes) and fact in facts:
            try:
                record_id = uuid.UUID(str(facts[fact]))
            except ValueError:
                return None
            return words, site_urls[site] + path.format(record_id)
    return None
