"""tests/browser.py's WCAG 2.2 checks find what they look for: every service's pages pass them today, so a check
that found nothing at all would pass them too. Each is run on a page built to fail it, in headless Chromium."""

from __future__ import annotations

import pytest

from tests.browser import (error_summary_problems, keyboard_problems, out_of_visual_order, small_targets, tab_through,
                           text_spacing_problems)

pytestmark = pytest.mark.timeout(60)

FAILING = """<html><head><title>Error: Broken</title><style>
  .row { display: flex } .row a:first-child { order: 2 } .tiny a { font-size: 12px } #no-ring:focus { outline: none }
  .box { height: 20px; overflow: hidden; width: 200px } .tall { height: 900px }
  .banner { position: fixed; bottom: 0; left: 0; right: 0; height: 300px; background: #fff }
</style></head><body>
<p class="tiny"><a href="#1">1</a><a href="#2">2</a></p>
<div class="row"><a href="#a">shown second</a><a href="#b">shown first</a></div>
<a id="no-ring" href="#c">no focus style</a>
<div class="box">text that is long enough to need a second line once it is spaced out widely</div>
<div class="tall"></div><a href="#d">under the cookie banner</a>
<div class="banner">We use cookies</div>
</body></html>"""

SUMMARY = """<html><head><title>Broken form</title></head><body>
<div class="nhsuk-error-summary" tabindex="-1"><ul class="nhsuk-error-summary__list">
  <li><a href="#gone">Enter your name</a></li><li><a href="#email">Enter your email</a></li></ul></div>
<label for="email">Email</label><input id="email" name="email">
</body></html>"""


def test_each_keyboard_and_target_check_finds_its_planted_failure(page):
    page.set_content(FAILING)
    stops = {stop["name"]: stop for stop in tab_through(page)}
    assert not stops['a#no-ring "no focus style"']["visible"] and stops['a# "shown second"']["visible"]
    assert stops['a# "under the cookie banner"']["obscured"] and not stops['a# "1"']["obscured"]
    assert out_of_visual_order(list(stops.values())) == ['a# "shown second" then a# "shown first"']
    assert any(problem.startswith('a "1"') and 'too close to a "2"' in problem for problem in small_targets(page))
    assert "the first Tab does not reach the skip link" in keyboard_problems(page)


def test_the_text_spacing_check_finds_clipped_text(page):
    page.set_content(FAILING)
    assert any("clips its text" in problem and "div.box" in problem for problem in text_spacing_problems(page))


def test_the_error_summary_check_finds_a_missing_field_an_undescribed_one_and_the_title(page):
    page.set_content(SUMMARY)
    assert error_summary_problems(page) == [
        "the title 'Broken form' does not start 'Error: '",
        "focus is not on the error summary",
        "'Enter your name' links to #gone, which is not on the page",
        "#email is not described by an error message saying 'Enter your email'"]
