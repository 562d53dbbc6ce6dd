"""The write form starts from what the clinician already told us: their name from their token, and for
each adjustment picked from the guidance results the difficulty they searched for that it addresses -
in real headless Chromium; and its answers read as answers (a capital first).

Found on a walk through the running system: both were typed again on every suggestion."""

from __future__ import annotations

import re

import pytest

from tests.browser import assert_accessible, live_server, sign_in, submit
from tests.services.adjustments.conftest import PRACTICE
from worklink.auth import mint_token

pytestmark = pytest.mark.timeout(180)


def pick_first_results(page, count: int) -> list[str]:
    """Tick the first `count` adjustments in the results and use them; their titles."""
    boxes = page.locator("input[name=adjustment]")
    titles = []
    for n in range(count):
        boxes.nth(n).check()
        titles.append(page.locator(f"label[for={boxes.nth(n).get_attribute('id')}]").inner_text().strip())
    submit(page, page.get_by_role("button", name="Use these adjustments"))
    return titles


def test_the_issuer_name_and_the_searched_difficulty_are_filled_in(app, settings, page):
    token = mint_token(settings.jwt, role="gp", org=str(PRACTICE), subject="dr-ada", name="Dr Ada Lovelace")
    with live_server(app) as base:
        sign_in(page, base, token, "/find?limitation=lifting")
        pick_first_results(page, 2)
        assert page.get_by_label("Your name").input_value() == "Dr Ada Lovelace"
        assert [page.locator(f"#recommendations-{i}-difficulty").input_value() for i in range(2)] == [
            "Lifting and carrying"] * 2
        assert page.locator("#recommendations-2-difficulty").input_value() == ""  # own words: nothing searched
        assert_accessible(page)


def test_nothing_is_guessed_when_the_token_has_no_name_and_no_difficulty_was_searched(app, tokens, page):
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), "/find?condition=back_pain")
        pick_first_results(page, 1)
        assert page.get_by_label("Your name").input_value() == ""
        assert page.locator("#recommendations-0-difficulty").input_value() == ""


def test_each_answer_on_the_write_page_starts_with_a_capital(app, tokens):
    """The assessment and profession labels are the letter's own words, lower case mid-sentence there."""
    html = app.test_client().get("/write", headers={**tokens.header(), "Accept": "text/html"}).get_data(as_text=True)
    labels = re.findall(r'<label class="nhsuk-label nhsuk-radios__label" for="[^"]+">([^<]+)</label>', html)
    assert "A telephone consultation" in labels and "Occupational therapist" in labels
    assert all(label[:1].isupper() for label in labels), labels


def test_the_job_task_searched_for_is_ticked_among_the_job_s_tasks(app, tokens, page):
    """The find page searched by a job task but left it behind: the write page asked for the job's main tasks again."""
    from playwright.sync_api import expect

    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), "/find?limitation=lifting&task=handling_objects")
        pick_first_results(page, 1)
        expect(page.get_by_role("checkbox", name="Handling and moving objects")).to_be_checked()
        assert page.locator("input[name='job.tasks']:checked").count() == 1  # that one only
        assert_accessible(page)

    client, html = app.test_client(), {**tokens.header(), "Accept": "text/html"}
    found = client.get("/find?task=computer_work", headers=html).get_data(as_text=True)
    own_words = re.search(r'<a id="own-words" href="([^"]+)"', found).group(1).replace("&amp;", "&")
    assert "task=computer_work" in own_words  # advice in the clinician's own words starts from the task too
    written = client.get(own_words, headers=html).get_data(as_text=True)
    assert re.search(r'<input[^>]*name="job.tasks"[^>]*value="computer_work"[^>]*checked', written), own_words
    unknown = client.get("/write?task=juggling", headers=html).get_data(as_text=True)  # not in the library: none
    assert not re.search(r'name="job.tasks"[^>]*checked', unknown)
