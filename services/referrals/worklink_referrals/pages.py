"""Pages: the adviser queue and referral page, the referrer's view, the person's status page."""

from __future__ import annotations

from worklink.web.pages import PagesBlueprint

pages = PagesBlueprint("referral_pages", __name__, template_folder="templates")
