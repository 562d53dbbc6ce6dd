"""Helpers for real-browser tests: serve a Flask app on loopback, check pages with axe-core."""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator
from urllib.parse import quote

from werkzeug.serving import make_server


@contextlib.contextmanager
def live_server(app) -> Iterator[str]:
    """Serve `app` on a free loopback port in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


def submit(page, button) -> None:
    """Click a form's button (or a link) and wait for the next page to load, so what follows
    reads it and not the page before (is_visible and content() do not wait)."""
    with page.expect_navigation():
        button.click()


def sign_in(page, base: str, token: str, next_path: str = "/") -> None:
    """Sign in at `base` with a token, as a person pastes one on the development sign-in page, and wait for
    the page it leads to (`next_path`)."""
    page.goto(f"{base}/signin?next={quote(next_path, safe='/')}")
    page.get_by_label("Access token").fill(token)
    submit(page, page.get_by_role("button", name="Sign in"))


def assert_accessible(page) -> None:
    """No axe-core violations (WCAG 2.x A/AA rules and best practices) on the current page.

    axe-core is JavaScript: in a context made with java_script_enabled=False it never
    answers, so check accessibility in a normal context and test no-JS flows separately.
    """
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    violations = results.response["violations"]
    assert not violations, results.generate_report()


def sealed(app, token: str) -> str:
    """The session cookie a browser signed in with `token` holds (the token sealed under the service's key):
    for a test that sets the cookie instead of signing in through /signin."""
    return app.extensions["worklink"].cookie_seal.seal(token)


def width_at(page, width: int = 320, settle_ms: int = 5000) -> int:
    """Narrow the page to `width` and return how wide it then lays out. NHS.UK's header re-lays its menu (items
    into "More") in a script on the resize event, a moment after the viewport changes: read straight away, a
    signed-in admin's longer menu still stood 90 px past the edge. Waits up to `settle_ms` for the page to fit,
    then returns the width either way, so a page that never fits fails its assertion with the figure."""
    page.set_viewport_size({"width": width, "height": 800})
    measure = "document.documentElement.scrollWidth"
    try:
        page.wait_for_function(f"{measure} <= {width}", timeout=settle_ms)
    except Exception:  # noqa: BLE001 - playwright's TimeoutError: the figure below tells the test
        pass
    return page.evaluate(measure)


# WCAG 2.2 criteria axe-core cannot judge, checked on the page as a person meets it: each helper returns what
# fails (an empty list when nothing does), so a test's assertion message names the control and the figure.

# the WCAG 1.4.12 text-spacing bookmarklet's styles; a constructed style sheet, which the CSP does not refuse
TEXT_SPACING = ("* { line-height: 1.5 !important; letter-spacing: 0.12em !important;"
                " word-spacing: 0.16em !important; } p { margin-bottom: 2em !important; }")
_FOCUSABLE = ("a[href], button, input:not([type=hidden]), select, textarea, summary,"
              " [tabindex]:not([tabindex='-1'])")
_SHOWN = """el => { const r = el.getBoundingClientRect(), s = getComputedStyle(el);
  return r.width > 1 && r.height > 1 && s.visibility !== 'hidden' && s.clipPath !== 'inset(50%)'; }"""


def small_targets(page, minimum: int = 24) -> list[str]:
    """WCAG 2.5.8 Target Size (minimum): targets under `minimum` CSS px either way whose `minimum`-px circle
    (centred on them) reaches another target or another small target's circle. A link within a sentence is
    exempt (inline), as the criterion exempts it."""
    return page.evaluate("""([selector, minimum]) => {
      const isShown = SHOWN;
      const inSentence = el => {
        if (el.tagName !== 'A') return false;
        const block = el.parentElement.closest('p, li, dd, td, th, label, legend, h1, h2, h3, h4, div') || document.body;
        const outside = [...block.childNodes].filter(n => !n.contains(el) && n !== el)
          .map(n => n.nodeType === 3 ? n.textContent : n.nodeType !== 1 || n.matches(`.nhsuk-u-visually-hidden, ${selector}`)
                    || n.querySelector(selector) ? '' : n.textContent);
        return outside.join('').trim().length > 0;
      };
      const targets = [...document.querySelectorAll(selector)].filter(isShown).map(el => {
        const r = el.getBoundingClientRect();
        return {el, r, small: r.width < minimum || r.height < minimum,
                x: r.left + r.width / 2, y: r.top + r.height / 2};
      });
      const distanceTo = (x, y, r) => Math.hypot(Math.max(r.left - x, 0, x - r.right), Math.max(r.top - y, 0, y - r.bottom));
      const name = t => `${t.el.tagName.toLowerCase()} "${(t.el.innerText || t.el.value || t.el.id).trim().slice(0, 40)}"`
        + ` ${Math.round(t.r.width)}x${Math.round(t.r.height)}`;
      return targets.filter(t => t.small && !inSentence(t.el)).flatMap(t => targets
        .filter(u => u !== t && !u.el.contains(t.el) && !t.el.contains(u.el)
                     && (distanceTo(t.x, t.y, u.r) < minimum / 2
                         || (u.small && Math.hypot(t.x - u.x, t.y - u.y) < minimum)))
        .map(u => `${name(t)} is too close to ${name(u)}`));
    }""".replace("SHOWN", _SHOWN), [_FOCUSABLE, minimum])


def _tab_from_the_top(page) -> None:
    """Press Tab as on a freshly loaded page: blur() alone leaves the last focused control as Tab's start."""
    page.evaluate("""() => { const start = document.createElement('span');
      start.id = 'wl-tab-start'; start.tabIndex = -1; document.body.prepend(start); start.focus();
      window.scrollTo(0, 0); }""")
    page.keyboard.press("Tab")
    page.evaluate("document.getElementById('wl-tab-start').remove()")


def tab_through(page, limit: int = 200) -> list[dict]:
    """Press Tab from the top of the page until focus leaves it; each stop as {name, box (page coordinates),
    visible (the focus style changes what is drawn), obscured (a point of it is under something else)}.

    Focus is visible when a picture of the control and 8 px around it differs focused and blurred (the text
    caret is hidden so that it cannot be what differs)."""
    page.evaluate("""() => { const sheet = new CSSStyleSheet();
      sheet.replaceSync('* { caret-color: transparent !important; transition: none !important; }');
      document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet]; }""")
    stops: list[dict] = []
    for n in range(limit):
        if n == 0:
            _tab_from_the_top(page)
        else:
            page.keyboard.press("Tab")
        focused = page.evaluate_handle("document.activeElement")
        info = page.evaluate("""el => {
          if (el === document.body || el === null) return null;
          el.scrollIntoView({block: 'nearest'});
          const r = el.getBoundingClientRect();
          const points = [[r.left + r.width / 2, r.top + r.height / 2], [r.left + 2, r.top + 2],
                          [r.right - 2, r.bottom - 2]].filter(([x, y]) => x >= 0 && y >= 0
                          && x < innerWidth && y < innerHeight);
          const mine = hit => hit && (el.contains(hit) || hit.contains(el) || (el.labels && [...el.labels].some(l => l.contains(hit))));
          return {name: `${el.tagName.toLowerCase()}#${el.id} "${(el.innerText || el.value || '').trim().slice(0, 40)}"`,
                  box: {x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height},
                  clip: {x: Math.max(r.left - 8, 0), y: Math.max(r.top - 8, 0), width: Math.min(r.width + 16, innerWidth),
                         height: Math.min(r.height + 16, innerHeight)},
                  obscured: points.length === 0 || !points.some(([x, y]) => mine(document.elementFromPoint(x, y)))};
        }""", focused)
        if info is None or (stops and info["name"] == stops[0]["name"] and info["box"] == stops[0]["box"]):
            break
        clip = info.pop("clip")
        focused_picture = page.screenshot(clip=clip)
        page.evaluate("el => el.blur()", focused)
        info["visible"] = page.screenshot(clip=clip) != focused_picture
        focused.focus()
        stops.append(info)
    return stops


def out_of_visual_order(stops: list[dict]) -> list[str]:
    """WCAG 2.4.3: pairs of consecutive tab stops where focus goes backwards on the page as one reads it
    (left to right on a line, then down; a stop above the last is only right when it starts a column to its
    right)."""
    wrong = []
    for before, after in zip(stops, stops[1:]):
        a, b = before["box"], after["box"]
        same_line = b["y"] < a["y"] + a["height"] and a["y"] < b["y"] + b["height"]
        if same_line and b["x"] + 1 < a["x"] or not same_line and b["y"] + b["height"] <= a["y"] \
                and b["x"] + 1 < a["x"] + a["width"]:
            wrong.append(f"{before['name']} then {after['name']}")
    return wrong


def reflow_and_spacing_problems(page) -> list[str]:
    """WCAG 1.4.10 and 1.4.12 on the page as it is: wider than 320 px at a 320 px viewport, then what the text
    spacing styles clip or overlap at desktop width."""
    wide = width_at(page, 320)
    page.set_viewport_size({"width": 1280, "height": 800})
    return ([f"{wide} px wide at 320 px"] if wide > 320 else []) + text_spacing_problems(page)


def text_spacing_problems(page) -> list[str]:
    """WCAG 1.4.12 Text Spacing: with the bookmarklet's spacing applied, text no box clips (overflow hidden and
    its content larger) and no two lines of text that overlap, and nothing scrolls sideways."""
    page.evaluate("""spacing => { const sheet = new CSSStyleSheet(); sheet.replaceSync(spacing);
      document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
      window.dispatchEvent(new Event('resize')); }""", TEXT_SPACING)
    try:  # NHS.UK's header re-lays its menu for the wider words on resize, as it does for a style sheet at load
        page.wait_for_function("document.documentElement.scrollWidth <= innerWidth", timeout=3000)
    except Exception:  # noqa: BLE001 - playwright's TimeoutError: reported below with the width
        pass
    return page.evaluate("""() => {
      const isShown = SHOWN;
      const problems = [];
      const label = el => `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${el.className} "${el.innerText.trim().slice(0, 40)}"`;
      for (const el of document.body.querySelectorAll('*')) {
        const s = getComputedStyle(el);
        if (!isShown(el) || !el.innerText || !el.innerText.trim()) continue;
        const clipsX = s.overflowX !== 'visible' && s.overflowX !== 'auto' && s.overflowX !== 'scroll';
        const clipsY = s.overflowY !== 'visible' && s.overflowY !== 'auto' && s.overflowY !== 'scroll';
        if ((clipsX && el.scrollWidth > el.clientWidth + 1) || (clipsY && el.scrollHeight > el.clientHeight + 1))
          problems.push(`${label(el)} clips its text`);
      }
      const lines = [];
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      while (walker.nextNode()) {
        const node = walker.currentNode;
        const parent = node.parentElement, folded = parent.closest('details:not([open])');
        if (!node.textContent.trim() || !isShown(parent) || parent.closest('script, style, .nhsuk-u-visually-hidden, .nhsuk-skip-link')
            || (folded && !parent.closest('summary'))) continue;  // a closed details' text is laid out, not drawn
        const range = document.createRange(); range.selectNodeContents(node);
        for (const r of range.getClientRects()) if (r.width > 2 && r.height > 2) lines.push({node, r});
      }
      for (let i = 0; i < lines.length; i++) for (let j = i + 1; j < lines.length; j++) {
        const a = lines[i].r, b = lines[j].r;
        const overlapX = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const overlapY = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        if (overlapX > 2 && overlapY > 2)
          problems.push(`"${lines[i].node.textContent.trim().slice(0, 30)}" overlaps "${lines[j].node.textContent.trim().slice(0, 30)}"`);
      }
      if (document.documentElement.scrollWidth > innerWidth) problems.push(`the page scrolls sideways (${document.documentElement.scrollWidth} px)`);
      return problems;
    }""".replace("SHOWN", _SHOWN))


def error_summary_problems(page) -> list[str]:
    """WCAG 3.3.1/3.3.3 after a refused form (NHS.UK pattern): the title starts "Error: ", focus is on the
    error summary, and each of its links leads to an existing form field that it focuses, whose
    aria-describedby (or its fieldset's) names an error message saying the same."""
    problems = []
    if not page.title().startswith("Error: "):
        problems.append(f"the title {page.title()!r} does not start 'Error: '")
    try:
        page.wait_for_function("document.activeElement.classList.contains('nhsuk-error-summary')", timeout=5000)
    except Exception:  # noqa: BLE001 - playwright's TimeoutError: reported below
        problems.append("focus is not on the error summary")
    links = page.locator(".nhsuk-error-summary__list a")
    for i in range(links.count()):
        link = links.nth(i)
        text, target = link.inner_text().strip(), (link.get_attribute("href") or "").removeprefix("#")
        field = page.evaluate("""id => { const el = document.getElementById(id);
          if (!el) return null;
          const described = [el.getAttribute('aria-describedby'), el.closest('fieldset')?.getAttribute('aria-describedby')]
            .join(' ').split(/\\s+/).filter(Boolean).map(d => document.getElementById(d)).filter(Boolean);
          return {field: el.matches('input, select, textarea'),
                  messages: described.filter(d => d.classList.contains('nhsuk-error-message')).map(d => d.innerText)}; }""",
                              target)
        if field is None:
            problems.append(f"{text!r} links to #{target}, which is not on the page")
            continue
        if not field["field"]:
            problems.append(f"{text!r} links to #{target}, which is not a form field")
        if not any(text in message for message in field["messages"]):
            problems.append(f"#{target} is not described by an error message saying {text!r}")
        link.click()
        if page.evaluate("document.activeElement.id") != target:
            problems.append(f"following {text!r} does not focus #{target}")
    return problems


def keyboard_problems(page) -> list[str]:
    """WCAG 2.4.3 Focus Order, 2.4.7 Focus Visible and 2.4.11 Focus Not Obscured (minimum), tabbing through the
    current page from its top; and 2.4.1's skip link: the first stop, and Enter on it moves focus to the main
    content."""
    stops = tab_through(page)
    problems = [f"focus on {s['name']} is not visible" for s in stops if not s["visible"]]
    problems += [f"{s['name']} is hidden under something when focused" for s in stops if s["obscured"]]
    problems += [f"focus goes backwards: {pair}" for pair in out_of_visual_order(stops)]
    _tab_from_the_top(page)
    if page.evaluate("document.activeElement.getAttribute('href')") != "#maincontent":
        return problems + ["the first Tab does not reach the skip link"]
    page.keyboard.press("Enter")
    if not page.evaluate("document.getElementById('maincontent').contains(document.activeElement)"):
        problems.append("the skip link does not move focus to the main content")
    return problems


class PageWalk:
    """A walk through a site's pages for one check (a service's test_wcag22_pages.py): `visit(name, path)` opens
    `path` (on the site, or a full address: another site's link) and keeps `check(page)` under the page's name in
    `found`; `visit(name)` checks the page already open (one a form led to)."""

    def __init__(self, page, base: str, check) -> None:
        self.page, self.base, self.check = page, base, check
        self.found: dict[str, object] = {}

    def visit(self, name: str, path: str | None = None) -> None:
        if path:
            self.page.goto(path if path.startswith("http") else self.base + path)
        self.found[name] = self.check(self.page)


def pages_with_problems(found: dict[str, list[str]]) -> dict[str, list[str]]:
    """The pages of a walk whose check found any problem, by name: {} when every page passes, so a failing
    `assert pages_with_problems(...) == {}` names the pages and what is wrong on each."""
    return {name: problems for name, problems in found.items() if problems}
