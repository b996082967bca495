"""Accessibility checks for the browser tests (issue 17, "accessibility as a test").

:class:`PageAudit` checks a page the browser is on, at 1280 px and at 375 px wide:
axe-core (bundled by ``axe-playwright-python``) finds no violation of impact
``serious`` or ``critical``, and at 375 px the page does not scroll sideways
(``document.documentElement.scrollWidth <= clientWidth``). Two checks axe
leaves out: every id an ``aria-labelledby``, ``aria-describedby`` or ``for``
names is on the page, and headings do not grow from h1 to h3. axe checks the
dark colour scheme too, at 1280 px (in the first language). A full-page
screenshot of each page at each width goes to
``tests/artifacts/pages/<lang>/<width>/<page>.png``.

Findings are collected, not raised at once, so one run names every page and
rule that fails: call :meth:`PageAudit.assert_clean` at the end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from axe_playwright_python.sync_playwright import Axe

from tests.conftest import ARTIFACTS

#: The languages the page walk runs in (the Accept-Language it sends); the
#: dark colour scheme is checked in the first only.
LANGUAGES = ["en", "de"]
WIDTHS = (1280, 375)
PHONE = 375
PAGES = ARTIFACTS / "pages"
#: The impacts that fail a page (axe's others are "moderate" and "minor").
FAILING = frozenset({"serious", "critical"})

_AXE = Axe()
_SCROLL = "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"


def violations(page: Any) -> list[str]:
    """axe's serious and critical violations on the page as readable lines:
    rule id, impact, the target selectors and axe's summary of the first one."""
    results = _AXE.run(page).response
    lines = []
    for violation in results["violations"]:
        if violation.get("impact") not in FAILING:
            continue
        targets = [" ".join(node["target"]) for node in violation["nodes"]]
        summary = violation["nodes"][0].get("failureSummary", "").replace("\n", " ")
        lines.append(
            f"{violation['id']} ({violation['impact']}): {violation['help']}\n"
            f"      targets: {', '.join(targets)}\n"
            f"      {summary}"
        )
    return lines


def sideways_scroll(page: Any) -> str | None:
    """Why the page scrolls sideways (the widest elements), or None when it does not."""
    scroll_width, client_width = page.evaluate(_SCROLL)
    if scroll_width <= client_width:
        return None
    widest = page.evaluate(
        """(limit) => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > limit)
            .slice(0, 5)
            .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                 + (e.className && typeof e.className === 'string'
                    ? '.' + e.className.trim().split(/\\s+/).join('.') : '')
                 + ' (right edge ' + Math.round(e.getBoundingClientRect().right) + ' px)')""",
        client_width,
    )
    return f"scrolls sideways: {scroll_width} px wide in {client_width} px; {', '.join(widest)}"


_BROKEN_REFERENCES = """() => {
  const broken = [];
  for (const attr of ['aria-labelledby', 'aria-describedby', 'aria-controls', 'for']) {
    for (const el of document.querySelectorAll('[' + attr + ']')) {
      for (const id of el.getAttribute(attr).split(/\\s+/).filter(Boolean)) {
        if (!document.getElementById(id)) {
          broken.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
                      + ' ' + attr + '="' + id + '"');
        }
      }
    }
  }
  return broken;
}"""

_HEADING_SIZES = """() => [1, 2, 3, 4].map(level =>
  [...document.querySelectorAll('h' + level)]
    .map(h => [parseFloat(getComputedStyle(h).fontSize), h.textContent.trim().slice(0, 40)]))"""


def own_checks(page: Any) -> list[str]:
    """ARIA and label references to ids not on the page; a heading larger than
    one of a higher level."""
    lines = [f"reference to a missing id: {ref}" for ref in page.evaluate(_BROKEN_REFERENCES)]
    levels = page.evaluate(_HEADING_SIZES)
    for upper in range(len(levels)):
        for lower in range(upper + 1, len(levels)):
            for size, text in levels[lower]:
                smaller = [(s, t) for s, t in levels[upper] if s < size]
                if smaller:
                    lines.append(
                        f"heading scale: h{lower + 1} {text!r} ({size} px) is larger than "
                        f"h{upper + 1} {smaller[0][1]!r} ({smaller[0][0]} px)"
                    )
    return lines


@dataclass
class PageAudit:
    """The pages checked in one language, and what failed on them."""

    lang: str
    findings: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    def check(self, page: Any, name: str) -> None:
        """Check the page the browser shows now at every width; screenshot it."""
        assert re.fullmatch(r"[a-z0-9-]+", name), name
        assert name not in self.checked, f"page name {name} used twice"
        self.checked.append(name)
        size = page.viewport_size or {"width": WIDTHS[0], "height": 800}
        try:
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 800})
                where = f"{name} at {width} px ({page.url})"
                self.findings.extend(f"{where}: {line}" for line in violations(page))
                if width == WIDTHS[0]:
                    self.findings.extend(f"{where}: {line}" for line in own_checks(page))
                if width == PHONE:
                    scroll = sideways_scroll(page)
                    if scroll:
                        self.findings.append(f"{where}: {scroll}")
                folder = PAGES / self.lang / str(width)
                folder.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
            if self.lang != LANGUAGES[0]:
                return  # colours do not depend on the language
            # The dark colour scheme (belay.css has one): axe at the first width.
            page.set_viewport_size({"width": WIDTHS[0], "height": 800})
            page.emulate_media(color_scheme="dark")
            where = f"{name} at {WIDTHS[0]} px, dark ({page.url})"
            self.findings.extend(f"{where}: {line}" for line in violations(page))
        finally:
            page.emulate_media(color_scheme="light")
            page.set_viewport_size(size)

    def assert_clean(self) -> None:
        assert not self.findings, (
            f"{len(self.findings)} accessibility finding(s) in {self.lang}:\n"
            + "\n".join(self.findings)
        )


# -- every page the browser tests reach ------------------------------------------

#: Runs in every page of a watched browser context: once the page has loaded,
#: when it is one of Belay's (its stylesheet) and its path has not been checked
#: in this run, axe checks it at the test's viewport and the page reports back.
_WATCH_SCRIPT = """
window.addEventListener('load', async () => {
  if (window.top !== window || !document.querySelector('link[href*="css/belay.css"]')) return;
  const path = location.pathname;
  if (!(await window.__belayA11yWanted(path))) return;
  const results = await axe.run(document, {resultTypes: ['violations']});
  const failing = results.violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => ({id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.map(n => n.target.join(' '))}));
  const root = document.documentElement;
  await window.__belayA11yReport(path, location.href, window.innerWidth, failing,
                                 root.scrollWidth, root.clientWidth);
});
"""


@dataclass
class Watcher:
    """Checks each page path the browser tests reach once per run: axe at the
    test's own viewport (serious and critical violations) and no sideways scroll.
    Best effort: a page left before axe is done is checked at its next visit.
    :class:`PageAudit` walks give the guarantee for every page type."""

    checked: set[str] = field(default_factory=set)
    findings: list[str] = field(default_factory=list)

    def attach(self, context: Any) -> None:
        context.expose_binding("__belayA11yWanted", self._wanted)
        context.expose_binding("__belayA11yReport", self._report)
        context.add_init_script(script=_AXE.axe_script + _WATCH_SCRIPT)

    def _wanted(self, source: Any, path: str) -> bool:
        return path not in self.checked

    def _report(
        self,
        source: Any,
        path: str,
        url: str,
        width: int,
        failing: list[dict[str, Any]],
        scroll_width: int,
        client_width: int,
    ) -> None:
        if path in self.checked:
            return
        self.checked.add(path)
        where = f"{url} at {width} px"
        for violation in failing:
            self.findings.append(
                f"{where}: {violation['id']} ({violation['impact']}): {violation['help']}\n"
                f"      targets: {', '.join(violation['targets'])}"
            )
        if scroll_width > client_width:
            self.findings.append(
                f"{where}: scrolls sideways: {scroll_width} px wide in {client_width} px"
            )

    def take(self) -> list[str]:
        found, self.findings = self.findings, []
        return found


class WatchedBrowser:
    """The browser, whose new contexts are watched by ``watcher``."""

    def __init__(self, browser: Any, watcher: Watcher) -> None:
        self.unwatched = browser
        self.watcher = watcher

    def new_context(self, **options: Any) -> Any:
        context = self.unwatched.new_context(**options)
        self.watcher.attach(context)
        return context

    def __getattr__(self, name: str) -> Any:
        return getattr(self.unwatched, name)
