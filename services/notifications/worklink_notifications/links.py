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
# (fact naming the record, message codes it applies to or None for any) -> (site, path, link words)
RECORDS = (
    ("service_id", ("listing_published", "listing_updated", "listing_review_due"),
     ("directory", "/partner/services/{}", "Open the listing")),
    ("suggestion_id", None, ("adjustments", "/review/{}", "Open the suggestion")),
    ("referral_id", None, ("referrals", "/queue/{}", "Open the referral")),
)


def sites(env: Mapping[str, str]) -> dict[str, str]:
    return {site: env.get(setting, default).rstrip("/") for site, (setting, default) in SITES.items()}


def record_link(item: dict, site_urls: dict[str, str]) -> tuple[str, str] | None:
    """(words, address) of the page showing the item's record, or None when it names none."""
    facts = item.get("facts") or {}
    for fact, codes, (site, path, words) in RECORDS:
        if fact in facts and (codes is None or item["message_code"] in codes):
            try:
                record_id = uuid.UUID(str(facts[fact]))
            except ValueError:
                continue
            return words, site_urls[site] + path.format(record_id)
    return None
