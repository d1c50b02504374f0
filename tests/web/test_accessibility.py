"""Accessibility smoke checks (BITV 2.0 / WCAG 2.1 AA basics) on every page: German
language, one main landmark, a skip link, a name for every control (as Chromium's own
accessibility tree computes it), visible focus, text contrast, no horizontal scrolling at
1366×768, and the start page's whole flow with the keyboard alone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.web.flows import build_package, search_box

PAGES = ["/", "/katalog", "/betrieb"]
# roles of controls and of what announces state: each needs an accessible name
NAMED_ROLES = {
    "button",
    "checkbox",
    "combobox",
    "link",
    "listbox",
    "menuitem",
    "option",
    "progressbar",
    "radio",
    "searchbox",
    "slider",
    "spinbutton",
    "switch",
    "tab",
    "textbox",
}

# WCAG 2.1 contrast of every visible text against its (composited) background
CONTRAST = """() => {
  const parse = (value) => {
    const m = /rgba?\\(([^)]+)\\)/.exec(value);
    if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const over = (top, bottom) => ({
    r: top.r * top.a + bottom.r * (1 - top.a),
    g: top.g * top.a + bottom.g * (1 - top.a),
    b: top.b * top.a + bottom.b * (1 - top.a),
    a: 1,
  });
  const channel = (v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  const luminance = (c) => 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  const background = (element) => {
    const chain = [];
    for (let n = element; n; n = n.parentElement) {
      chain.push(parse(getComputedStyle(n).backgroundColor));
    }
    let colour = {r: 255, g: 255, b: 255, a: 1};
    for (const c of chain.reverse()) if (c && c.a > 0) colour = over(c, colour);
    return colour;
  };
  const failures = [];
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const element = walker.currentNode.parentElement;
    if (!walker.currentNode.textContent.trim() || seen.has(element)) continue;
    seen.add(element);
    if (element.closest("[hidden], .visually-hidden, :disabled, .skip-link")) continue;
    const style = getComputedStyle(element);
    const box = element.getBoundingClientRect();
    if (style.visibility !== "visible" || !box.width || !box.height) continue;
    const text = parse(style.color);
    if (!text) continue;
    const bg = background(element);
    const [light, dark] = [luminance(over(text, bg)), luminance(bg)].sort((a, b) => b - a);
    const ratio = (light + 0.05) / (dark + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (Number(style.fontWeight) >= 700 && size >= 18.66);
    if (ratio < (large ? 3 : 4.5)) {
      const sample = element.textContent.trim().slice(0, 40);
      failures.push(`${element.tagName} "${sample}": ${ratio.toFixed(2)}`);
    }
  }
  return failures;
}"""

FOCUS_STYLE = """() => {
  const e = document.activeElement;
  const s = getComputedStyle(e);
  return {
    tag: e.tagName, id: e.id, text: (e.textContent || e.value || '').trim().slice(0, 40),
    outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2,
    shadow: s.boxShadow !== 'none',
  };
}"""


def unnamed_controls(page: Page) -> list[str]:
    """Controls without an accessible name, by Chromium's accessibility tree."""
    cdp = page.context.new_cdp_session(page)
    nodes: list[dict[str, Any]] = cdp.send("Accessibility.getFullAXTree")["nodes"]
    cdp.detach()
    unnamed = []
    for node in nodes:
        role = node.get("role", {}).get("value")
        if node.get("ignored") or role not in NAMED_ROLES:
            continue
        if not str(node.get("name", {}).get("value", "")).strip():
            unnamed.append(f"{role} (backend node {node.get('backendDOMNodeId')})")
    return unnamed


@pytest.mark.parametrize("path", PAGES)
def test_page_basics(page: Page, screenshot: Callable[[str], Path], path: str) -> None:
    page.goto(path)
    page.wait_for_load_state("networkidle")
    screenshot("page")
    assert page.evaluate("() => document.documentElement.lang") == "de"
    expect(page.get_by_role("main")).to_have_count(1)
    expect(page.get_by_role("banner")).to_have_count(1)
    expect(page.get_by_role("contentinfo")).to_have_count(1)
    navigation = page.get_by_role("navigation", name="Hauptnavigation")
    for label in ("Start", "Katalog", "Betrieb", "API-Dokumentation", "OGC API"):
        expect(navigation.get_by_role("link", name=label, exact=True)).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_count(1)

    assert unnamed_controls(page) == []
    assert page.evaluate(CONTRAST) == []
    # no horizontal scrolling at 1366×768
    assert page.evaluate(
        "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )

    # the first Tab reaches the skip link, which leads into the main content
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Zum Inhalt springen")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.get_by_role("main")).to_be_focused()


def test_start_page_with_the_keyboard_alone(page: Page, screenshot: Callable[[str], Path]) -> None:
    page.goto("/")
    page.wait_for_load_state("networkidle")
    search = search_box(page)

    # Tab from the top to the search box; every stop on the way shows where the focus is
    for _ in range(15):
        page.keyboard.press("Tab")
        focus = page.evaluate(FOCUS_STYLE)
        assert focus["outline"] or focus["shadow"], f"focus not visible on {focus}"
        if focus["id"] == "search":
            break
    expect(search).to_be_focused()

    page.keyboard.type("Müch", delay=30)
    expect(page.get_by_role("listbox", name="Vorschläge")).to_be_visible()
    page.keyboard.press("Escape")  # closes the proposals, keeps the text
    expect(search).to_have_attribute("aria-expanded", "false")
    expect(search).to_have_value("Müch")
    page.keyboard.press("ArrowDown")  # opens them again, on the first proposal
    expect(search).to_have_attribute("aria-expanded", "true")
    expect(search).to_have_attribute("aria-activedescendant", "search-option-0")
    page.keyboard.press("Enter")
    expect(page.locator("#selection")).to_contain_text("Mücheln (Geiseltal)")
    expect(page.locator("#selection")).to_have_attribute("role", "status")
    screenshot("chosen-by-keyboard")

    # on to the big button, again by Tab only, leaving out one theme with the space bar
    # (a package of its own: the one with every theme is another test's to build)
    create = page.get_by_role("button", name="Datenpaket erstellen")
    for _ in range(40):
        page.keyboard.press("Tab")
        focus = page.evaluate(FOCUS_STYLE)
        assert focus["outline"] or focus["shadow"], f"focus not visible on {focus}"
        if focus["id"] == "theme-traffic":
            page.keyboard.press("Space")
        if focus["id"] == "create":
            break
    expect(page.get_by_label("Verkehr (Zählstellen)")).not_to_be_checked()
    expect(create).to_be_focused()
    page.keyboard.press("Space")
    progress = build_package(page, press=False)
    assert progress.values[-1] == 100
    expect(page.locator("#job-step")).to_have_attribute("role", "status")
    link = page.locator("#job-result").get_by_role("link", name="Datenpaket herunterladen")
    link.focus()
    assert page.evaluate(FOCUS_STYLE)["outline"]
    screenshot("package-by-keyboard")
