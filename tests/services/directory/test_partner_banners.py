"""After a change, the partner pages say what was done with NHS.UK's success banner (worklink/banners.html),
as the adjustments and referrals pages do: the redirect carries a code, the words are the service's.

Found by the previous session: the directory's partner pages showed a plain inset notice instead."""

from __future__ import annotations

import html
import re

from tests.services.directory.conftest import ORG_A, listed_long_ago
from tests.services.directory.test_partner_pages import csrf, listing_form, signed_in


def banner(response) -> tuple[str, str] | None:
    """(heading, text) of the page's success banner, announced as an alert; None without one."""
    page = response.get_data(as_text=True)
    found = re.search(r'<div class="nhsuk-notification-banner nhsuk-notification-banner--success" role="alert".*?'
                      r'notification-banner__heading">([^<]*)</p>\s*(?:<p class="nhsuk-body">([^<]*)</p>)?', page, re.S)
    return (html.unescape(found.group(1)), html.unescape(found.group(2) or "")) if found else None


def test_each_change_to_a_listing_ends_on_a_success_banner_saying_what_was_done(app, directory):
    client = signed_in(app, "org_admin", ORG_A)
    listing = directory.ids["counselling"]
    edited = client.post(f"/partner/services/{listing}", data=listing_form(
        name="Taunton talking therapies", taxonomy_term_ids=[directory.terms["counselling"]], csrf_token=csrf(client)))
    assert edited.status_code == 303, edited.get_data(as_text=True)
    page = client.get(edited.headers["Location"])
    assert banner(page) == ("Listing saved", "Your changes were saved.")
    assert "nhsuk-inset-text" not in page.get_data(as_text=True)  # no plain notice beside it

    added = client.post(f"/partner/services/{listing}/contacts/new",
                        data={"csrf_token": csrf(client), "name": "Reception", "email": "reception@example.org"})
    assert added.status_code == 303 and "done=added" in added.headers["Location"]
    assert banner(client.get(added.headers["Location"])) == ("Contact added", "The contact was added.")

    assert banner(client.get(f"/partner/services/{listing}")) is None  # only after a change
    crafted = client.get(f"/partner/services/{listing}?done=Your+listing+was+deleted")
    assert banner(crafted) is None and "deleted" not in crafted.get_data(as_text=True)  # no words from the link


def test_withdrawing_a_listing_ends_on_the_listings_with_a_success_banner(app, directory):
    client = signed_in(app, "org_admin", ORG_A)
    debt = directory.ids["debt"]
    withdrawn = client.post(f"/partner/services/{debt}/withdraw", data={"csrf_token": csrf(client), "reason": "moved"})
    listings = client.get(withdrawn.headers["Location"])
    assert banner(listings) == ("Listing withdrawn",
                                "Debt and money advice, Bridgwater was withdrawn. Residents no longer see it.")
    assert "nhsuk-inset-text" not in listings.get_data(as_text=True)


def test_saving_a_listing_says_whether_it_was_changed_and_whether_it_is_now_checked(app, directory):
    """Each said "Your changes were saved." before: a listing only marked as checked (nothing changed), and one
    saved unchanged without the tick - a volunteer reviewing it who missed the box left it due for review,
    told it was saved."""
    client = signed_in(app, "org_admin", ORG_A)
    listing = directory.ids["counselling"]
    as_shown = listing_form(description="Short-term counselling for anxiety and stress at work.",
                            taxonomy_term_ids=[directory.terms["counselling"], directory.terms["mental-health"]])

    def save(**changes):
        response = client.post(f"/partner/services/{listing}", data={**as_shown, **changes, "csrf_token": csrf(client)})
        assert response.status_code == 303, response.get_data(as_text=True)
        return banner(client.get(response.headers["Location"]))

    assert save() == ("Nothing changed", "The listing was already as you saved it. If you have checked that it is "
                                         "correct, tick \u201cI have checked this listing is correct today\u201d and "
                                         "save again.")
    assert save(assure="1") == ("Listing checked", "Nothing needed changing. The listing is marked as checked today.")
    assert save(alert="Closed on bank holidays.", assure="1") == (
        "Listing saved and checked", "Your changes were saved. The listing is marked as checked today.")
    assert save(alert="") == ("Listing saved", "Your changes were saved.")


def test_a_listing_due_for_review_says_how_to_review_it(app, directory):
    client = signed_in(app, "org_admin", ORG_A)
    listing = f"/partner/services/{directory.ids['counselling']}"
    assert "To review it" not in client.get(listing).get_data(as_text=True)  # listed today: not due
    listed_long_ago(app)
    page = client.get(listing).get_data(as_text=True)
    assert ('To review it, check the details, locations, contacts and opening times on this page, then tick '
            '<a href="#assure">I have checked this listing is correct today</a> and save.') in page
    assert 'id="assure"' in page
