"""A referral page form sent twice by the same adviser - a second click while the first was on its way (no script
stops it), or the form sent again from the page Back returned to - is done once, and the adviser lands where one
click lands. Before, the action's second send was refused as a colleague's change ("Not saved: someone else changed
this referral ... submit it again if it is still needed": submitting again logged a contact attempt that never
happened), and a note's second send saved the note again. A form refused after the adviser's own change with other
answers says "you", not "someone else"; a colleague's change is still theirs (test_stale_page_browser)."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.browser import assert_accessible, live_server, sign_in
from tests.services.referrals.test_page_forms import page as read_page, post
from worklink.auth import mint_token
from worklink.uktime import uk_time
from tests.services.referrals.conftest import ADVISERS


def _accepted(h, adviser="adviser-ada") -> tuple[str, int]:
    rid = h.refer().get_json()["id"]
    h.signs_in(adviser)
    assert h.act(rid, "accept", adviser_id=adviser).status_code == 200
    return rid, h.client.get(f"/referrals/{rid}", headers=h.adviser(adviser)).get_json()["version"]


def _read(h, rid, adviser="adviser-ada") -> dict:
    return h.client.get(f"/referrals/{rid}", headers=h.adviser(adviser)).get_json()


def _alert(html: str) -> str:
    found = re.search(r'role="alert".*?<ul[^>]*>(.*?)</ul>', html, re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip() if found else ""


def test_a_contact_attempt_sent_twice_is_logged_once_and_lands_as_one_click(harness):
    h = harness
    rid, version = _accepted(h)
    form = {"action": "record_contact_attempt", "version": version, "channel": "phone", "result": "no_answer"}
    first = post(h, f"/queue/{rid}/act", form, h.adviser("adviser-ada"))
    again = post(h, f"/queue/{rid}/act", form, h.adviser("adviser-ada"))
    assert first.status_code == again.status_code == 303
    assert again.headers["Location"] == first.headers["Location"] == f"/queue/{rid}?done=record_contact_attempt"
    assert [(a["channel"], a["result"]) for a in _read(h, rid)["attempts"]] == [("phone", "no_answer")]


@pytest.mark.parametrize("action, fields, done", [
    ("accept", {"claim": "yes"}, "accept"), ("accept", {}, "waitlist"), ("acknowledge", {}, "acknowledge")])
def test_a_step_sent_twice_lands_as_one_click(harness, action, fields, done):
    h = harness
    rid = h.refer().get_json()["id"]
    form = {"action": action, "version": 1, **fields}
    assert post(h, f"/queue/{rid}/act", form, h.adviser("adviser-ada")).status_code == 303
    again = post(h, f"/queue/{rid}/act", form, h.adviser("adviser-ada"))
    assert (again.status_code, again.headers["Location"]) == (303, f"/queue/{rid}?done={done}")
    assert [step["action"] for step in _read(h, rid)["history"]] == ["submit", action]


def test_other_answers_after_your_own_change_are_not_saved_and_say_it_was_you(harness):
    """Back to the page before a logged attempt, then another attempt's answers: not the same form sent twice, so
    refused as stale, as before - but told it was the adviser's own change, not a colleague's."""
    h = harness
    rid, version = _accepted(h)
    form = {"action": "record_contact_attempt", "version": version, "channel": "phone", "result": "no_answer"}
    assert post(h, f"/queue/{rid}/act", form, h.adviser("adviser-ada")).status_code == 303
    refused = post(h, f"/queue/{rid}/act", {**form, "channel": "email", "result": "left_message"},
                   h.adviser("adviser-ada"))
    assert refused.status_code == 409
    when = uk_time(h.clock.now).strftime("%H:%M %Z on %-d %b %Y")
    said = _alert(refused.get_data(as_text=True))
    assert said.startswith(f"Not saved: you changed this referral after this page was opened (Contact attempt logged "
                           f"by you at {when}), in another tab or from an earlier page.")
    assert "someone else" not in said
    assert [a["channel"] for a in _read(h, rid)["attempts"]] == ["phone"]


def test_a_form_gone_after_your_own_change_says_it_was_you(harness):
    """Onto the waitlist, then 'Accept and take it on' from the same page: accepting is gone, and it was the
    adviser who moved the referral on."""
    h = harness
    rid = h.refer().get_json()["id"]
    assert post(h, f"/queue/{rid}/act", {"action": "accept", "version": 1}, h.adviser("adviser-ada")).status_code == 303
    refused = post(h, f"/queue/{rid}/act", {"action": "accept", "version": 1, "claim": "yes"}, h.adviser("adviser-ada"))
    assert refused.status_code == 409
    when = uk_time(h.clock.now).strftime("%H:%M %Z on %-d %b %Y")
    assert _alert(refused.get_data(as_text=True)) == (
        f"This can no longer be done: you changed this referral after this page was opened (Accepted by you at "
        f"{when}).")
    assert _read(h, rid)["business_status"] == "waitlisted"


def test_the_same_form_after_a_colleagues_change_is_still_refused_as_theirs(harness):
    h = harness
    rid, version = _accepted(h)
    form = {"action": "record_contact_attempt", "version": version, "channel": "phone", "result": "no_answer"}
    assert post(h, f"/queue/{rid}/act", form, h.adviser("adviser-bo")).status_code == 303
    refused = post(h, f"/queue/{rid}/act", form, h.adviser("adviser-ada"))
    assert refused.status_code == 409 and "someone else changed this referral" in _alert(refused.get_data(as_text=True))
    assert len(_read(h, rid)["attempts"]) == 1


def _notes_read(h, rid) -> str:
    html = read_page(h, f"/queue/{rid}", h.adviser("adviser-ada"))
    return re.search(r'name="notes_read" value="(\d+)"', html).group(1)


def test_a_note_sent_twice_is_saved_once(harness):
    h = harness
    rid, _ = _accepted(h)
    form = {"text": "Rang twice, no answer.", "notes_read": _notes_read(h, rid)}
    for _ in range(2):
        sent = post(h, f"/queue/{rid}/notes", form, h.adviser("adviser-ada"))
        assert (sent.status_code, sent.headers["Location"]) == (303, f"/queue/{rid}?done=note")
    assert [n["text"] for n in _read(h, rid)["notes"]] == ["Rang twice, no answer."]


def test_another_note_or_a_colleagues_same_words_are_saved(harness):
    h = harness
    rid, _ = _accepted(h)
    read = _notes_read(h, rid)
    for adviser, text in (("adviser-ada", "No answer."), ("adviser-ada", "Left a voicemail."),
                          ("adviser-bo", "No answer.")):
        assert post(h, f"/queue/{rid}/notes", {"text": text, "notes_read": read}, h.adviser(adviser)).status_code == 303
    assert [(n["by"], n["text"]) for n in _read(h, rid)["notes"]] == [
        ("adviser-ada", "No answer."), ("adviser-ada", "Left a voicemail."), ("adviser-bo", "No answer.")]
    # the page read after them offers the form from its last note: the same words again are a new note
    assert post(h, f"/queue/{rid}/notes", {"text": "No answer.", "notes_read": _notes_read(h, rid)},
                h.adviser("adviser-ada")).status_code == 303
    assert len(_read(h, rid)["notes"]) == 4


@pytest.mark.timeout(180)
def test_a_double_click_on_a_slow_answer_saves_once_and_lands_on_the_success_banner(harness, page):
    """In Chromium, each button clicked twice 0.3 s apart while the server takes a second to answer: the browser
    sends both posts from the page the first click left."""
    h = harness
    rid, _ = _accepted(h)
    served = h.app.wsgi_app

    def slow(environ, start_response):
        if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"].startswith("/queue/"):
            time.sleep(1.0)
        return served(environ, start_response)

    h.app.wsgi_app = slow
    ada = mint_token(h.settings.jwt, role="adviser", org=ADVISERS, subject="adviser-ada")

    def click_twice(button):
        button.scroll_into_view_if_needed()
        box = button.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.click(x, y)
        page.wait_for_timeout(300)
        page.mouse.click(x, y)  # on the same page: the first click's answer is a second away

    with live_server(h.app) as base:
        sign_in(page, base, ada, f"/queue/{rid}")
        page.locator("#record_contact_attempt-channel").select_option("phone")
        page.locator("#record_contact_attempt-result").select_option("no_answer")
        click_twice(page.get_by_role("button", name="Log attempt"))
        expect(page).to_have_url(re.compile(r"\?done=record_contact_attempt$"))
        expect(page.locator("#success-banner")).to_contain_text("Contact attempt logged")
        expect(page.locator("#attempts li")).to_have_count(1)
        page.get_by_label("Add a note").fill("Rang, no answer.")
        click_twice(page.get_by_role("button", name="Save note"))
        expect(page).to_have_url(re.compile(r"\?done=note$"))
        expect(page.locator("#notes ~ p")).to_have_count(1)
        assert_accessible(page)
    read = _read(h, rid)
    assert len(read["attempts"]) == 1 and [n["text"] for n in read["notes"]] == ["Rang, no answer."]


def test_on_postgresql_too_an_attempt_and_a_note_sent_twice_are_saved_once(both):
    h = both
    rid, version = _accepted(h)
    form = {"action": "record_contact_attempt", "version": version, "channel": "text", "result": "no_answer"}
    assert [post(h, f"/queue/{rid}/act", form, h.adviser("adviser-ada")).status_code for _ in range(2)] == [303, 303]
    note = {"text": "Texted; no reply.", "notes_read": _notes_read(h, rid)}
    assert [post(h, f"/queue/{rid}/notes", note, h.adviser("adviser-ada")).status_code for _ in range(2)] == [303, 303]
    read = _read(h, rid)
    assert len(read["attempts"]) == 1 and [n["text"] for n in read["notes"]] == ["Texted; no reply."]
