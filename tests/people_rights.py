"""Helpers for the tests of a person's rights pages (worklink.web.people), in referrals and adjustments:
post a form as the browser would, and read what the server-rendered page says."""

from __future__ import annotations

import html
import re

from tests.browser import submit

HTML = {"Accept": "text/html"}
CSRF = "t0ken"


def post_form(client, path: str, data: dict, headers: dict, csrf: bool = True):
    """Post `data` as a page's form, with the CSRF cookie and (unless `csrf` is false) its token."""
    client.set_cookie("worklink_csrf", CSRF)
    return client.post(path, data={**({"csrf_token": CSRF} if csrf else {}), **data}, headers={**headers, **HTML})


def text(response) -> str:
    """The page's words, markup gone and white space folded; a responsive table's column headings repeated in
    each cell for narrow screens (hidden from screen readers) left out, so a row reads as on a wide one."""
    page = re.sub(r'<span class="nhsuk-table-responsive__heading" aria-hidden="true">[^<]*</span>', "",
                  response.get_data(as_text=True))
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def summary_links(response) -> list[tuple[str, str]]:
    """The error summary's (href, message) pairs."""
    box = re.search(r'nhsuk-error-summary__list">(.*?)</ul>', response.get_data(as_text=True), re.S)
    return [(href, html.unescape(words)) for href, words in re.findall(r'<a href="(#[\w-]+)">([^<]+)</a>',
                                                                          box.group(1))] if box else []


def hidden(response) -> dict[str, str]:
    """The last of the page's own forms (not sign-out's): its hidden fields but the CSRF token."""
    forms = re.findall(r'<form method="post" action="/people.*?</form>', response.get_data(as_text=True), re.S)
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', forms[-1]))
    fields.pop("csrf_token", None)
    return fields


def counts(response) -> dict[str, int]:
    """The summary's count of each kind of record held."""
    found = re.findall(r'<li><a href="#\w+">([^<]+)</a>: (\d+)</li>', response.get_data(as_text=True))
    return {html.unescape(kind): int(n) for kind, n in found}


def erase_without_javascript(page) -> None:
    """From the find page, filled in: find what is held, then erase it in the pages' steps (the first
    Article 17 reason), ending on the page that says it was erased."""
    submit(page, page.get_by_role("button", name="Find what is held"))
    submit(page, page.get_by_role("button", name="Erase their details"))
    page.get_by_label("Their details are no longer needed").check()
    submit(page, page.get_by_role("button", name="Continue"))
    submit(page, page.get_by_role("button", name="Erase their details"))
    assert page.get_by_role("heading", level=1).inner_text() == "Their details were erased"
