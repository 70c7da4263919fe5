"""Browser test of the built website: every page, as a reader's browser shows it.

Run after the book build (``jupyter-book build . -W -n --keep-going``). It serves ``_build/html`` on
127.0.0.1 (a free port) and opens every page in headless Chromium driven by Selenium (Debian's
``chromium`` and ``chromium-driver``; no browser is downloaded). On each page it checks that

- MathJax typeset all the math (every Sphinx ``.math`` element holds an ``mjx-container``, no
  ``mjx-merror``, no raw ``\\(``, ``\\[`` or ``\\begin{`` left in the text) with the MathJax copy that the
  site serves itself (no script or stylesheet comes from another host: the site works offline);
- every ``<img>`` loaded (``naturalWidth > 0``);
- the browser console has no ``SEVERE`` message (failed loads, JavaScript errors);
- every same-site link resolves to a file of the built site and, when it has a ``#fragment``, to an
  element with that id on the target page;

and, on every page at a laptop width (1400 px) and a phone width (390 px), what a reader sees
(``test_reader_layout``):

- no display equation is wider than its box without a visible scroll cue (a scroll shadow or fade from
  ``_static/course.css``; a bare scrollbar does not count, because phones draw overlay scrollbars only while
  scrolling), at 1400 px none is wider than its box at all, and no equation number covers its equation;
- at 1400 px, no code or output block (``<pre>``) and no table is wider than the column;
- the reader sees one search button, not two;
- every image has an alt text, and not a file name or hash (myst-nb's default is the image's path);
- no reader-facing text names a file or document outside the book (the course's design notes, source notes
  and errata, ``../shared``, ``*.md`` files); in code and outputs a random ``seed`` is of course fine;

and, once each: a solution dropdown opens and closes when its toggle is clicked, and the search page finds
"cosine". Screenshots of a few pages go to ``_build/html/_screenshots/`` (the CI artifact).

The test is skipped, with the reason, when there is no built site or no Chromium/chromedriver/Selenium, so
that ``python -m pytest`` works on a fresh clone. Set ``SCHED_LIB_SITE_TEST=required`` (CI does) to turn
those skips into failures.
"""

from __future__ import annotations

import functools
import html
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from site_browser import REQUIRED, SHOTS, SITE, TIMEOUT, chromium, skip_reason

# Pages that are not content: Sphinx's generated index and search pages (search is checked on its own).
NOT_PAGES = {"genindex.html", "search.html"}
CHAPTER = "chapters/snr.html"  # has display math, a figure and solution dropdowns
WINDOW = (1280, 1000)  # the window of every test but the layout test
LAYOUT_WIDTHS = (1400, 390)  # a laptop and a phone (iPhone 12-15: 390 CSS px)
# Documents and files a reader of the book does not have. Code and outputs are held to CODE_REFERENCES
# only (a random seed, `seed=0`, is fine there); prose also to PROSE_REFERENCES, the ways the course used to
# cite its source notes ("the seed notes", "the seed's exercise 3", "the seed drops -bt") while still
# allowing a random seed ("the seed-to-seed spread", "seed 0", "the seed of the generator").
CODE_REFERENCES = re.compile(
    r"DESIGN\.md|\berrata\b|\.\./shared\b|\bshared/(?:seed|reference|data)\b|noise_schedules_seed"
    r"|\bseed[ -]notes?\b|\bsource notes\b|\b[\w.-]+\.md\b",
    re.IGNORECASE,
)
PROSE_REFERENCES = re.compile(
    r"\bseed(?:'s|\u2019s)|\b(?:the|our|its) seed\b(?!\s*(?:=|-?\d|value|range|spread|run|of\b|-to-|for\b))",
    re.IGNORECASE,
)
URL = re.compile(r"https?://\S+")


def _is_redirect(path: Path) -> bool:
    head = path.read_text(encoding="utf8", errors="replace")[:2000].lower()
    return 'http-equiv="refresh"' in head


def site_pages() -> list[str]:
    """Every content page of the built site, as a path relative to ``_build/html``."""
    if not SITE.is_dir():
        return []
    pages = []
    for path in sorted(SITE.rglob("*.html")):
        rel = path.relative_to(SITE)
        if any(part.startswith(("_", ".")) for part in rel.parts) or rel.as_posix() in NOT_PAGES:
            continue  # _static, _sources, _images, _screenshots, ...
        if not _is_redirect(path):
            pages.append(rel.as_posix())
    return pages


def _page_params():
    reason = skip_reason()
    if reason and not REQUIRED:
        return [pytest.param("(site)", marks=pytest.mark.skip(reason=reason))]
    return site_pages() or ["(no pages)"]


@functools.cache
def _ids(path: Path) -> frozenset[str]:
    """The ids (and ``<a name>`` anchors) written in a built HTML file."""
    text = path.read_text(encoding="utf8", errors="replace")
    found = re.findall(r'\sid="([^"]*)"', text) + re.findall(r'<a\s[^>]*\bname="([^"]*)"', text)
    return frozenset(html.unescape(x) for x in found)


# --- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(site_url, tmp_path_factory):
    with chromium(tmp_path_factory.mktemp("chromium-profile"), WINDOW, {"browser": "ALL"}) as driver:
        yield driver


# --- helpers ---------------------------------------------------------------------------------------

_WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
const m = window.MathJax;
if (!m || !m.startup || !m.startup.promise) { done("not loaded"); return; }
m.startup.promise.then(() => done("ok"), (e) => done("error: " + e));
"""

_WAIT_FOR_IMAGES = """
const done = arguments[arguments.length - 1];
const imgs = Array.from(document.images);
imgs.forEach((img) => { img.loading = "eager"; });
Promise.all(imgs.map((img) => img.complete ? null : new Promise((resolve) => {
  img.addEventListener("load", resolve); img.addEventListener("error", resolve);
  setTimeout(resolve, 15000);
}))).then(() => done(imgs.map((img) => [img.getAttribute("src"), img.naturalWidth])));
"""

_INSPECT = r"""
const maths = Array.from(document.querySelectorAll(".math"));
const skip = "script, style, pre, code, textarea, mjx-container";
const raw = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  if (node.parentElement && node.parentElement.closest(skip)) continue;
  if (/\\\(|\\\[|\\begin\{/.test(node.textContent)) raw.push(node.textContent.trim().slice(0, 120));
}
const here = location.origin;
return {
  math: maths.length,
  untypeset: maths.filter((e) => !e.querySelector("mjx-container"))
                  .map((e) => e.textContent.trim().slice(0, 120)),
  // A TeX error is an <merror>; an undefined macro is, with the noundefined package, the macro's name
  // in red (no merror), so look at the MathML of each typeset expression.
  merrors: (window.MathJax && MathJax.startup && MathJax.startup.document && MathJax.startup.toMML)
    ? Array.from(MathJax.startup.document.math)
        .filter((item) => /<merror|mathcolor="red"/.test(MathJax.startup.toMML(item.root)))
        .map((item) => String(item.math).trim().slice(0, 120))
    : Array.from(document.querySelectorAll("mjx-merror")).map((e) => e.textContent.slice(0, 120)),
  raw: raw,
  hrefs: Array.from(document.querySelectorAll("a[href]")).map((a) => a.href),
  external: Array.from(document.querySelectorAll("script[src], link[rel~=stylesheet][href]"))
                 .map((e) => e.src || e.href).filter((u) => new URL(u).origin !== here),
};
"""


_LAYOUT = r"""
const strict = arguments[0];  // laptop width: no display equation may be wider than its box at all
const col = document.querySelector("article.bd-article") || document.querySelector("main") || document.body;
const colBox = col.getBoundingClientRect();
const colRight = colBox.right - parseFloat(getComputedStyle(col).paddingRight);
const text = (e) => (e.textContent || "").replace(/\s+/g, " ").trim().slice(0, 80);
const shown = (e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden";
const wider = (e) => e.scrollWidth > e.clientWidth + 1;
// A cue a reader sees without touching the element: a scroll shadow (gradient backgrounds, one of them
// attached `local`) or a fade (mask). A scrollbar alone is not one: phones draw overlay scrollbars only
// while scrolling.
function cue(e) {
  for (let el = e; el && el !== col; el = el.parentElement) {
    const cs = getComputedStyle(el);
    if (!/auto|scroll/.test(cs.overflowX)) continue;
    if (/gradient/.test(cs.backgroundImage) && /local/.test(cs.backgroundAttachment)) return true;
    const mask = cs.maskImage || cs.webkitMaskImage;
    return !!(mask && mask !== "none");
  }
  return false;
}
const overlap = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1 &&
                          Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
const equations = [], numbers = [];
let displayed = 0;
for (const mjx of document.querySelectorAll("mjx-container[display='true']")) {
  if (!col.contains(mjx) || !shown(mjx)) continue;
  displayed++;
  const box = mjx.closest("div.math") || mjx;
  const label = (box.querySelector(".eqno") ? box.querySelector(".eqno").textContent.replace("#", "").trim() + " " : "")
                + text(mjx.querySelector("mjx-assistive-mml") || mjx).slice(0, 60);
  const math = mjx.querySelector("mjx-math") || mjx;
  const over = wider(mjx) || wider(box) || math.getBoundingClientRect().right > colRight + 1
               && math.getBoundingClientRect().right > mjx.getBoundingClientRect().right + 1;
  if (over && (strict || !cue(mjx))) equations.push(label);
  const eqno = box.querySelector(".eqno");
  if (eqno && shown(eqno)) {
    // the part of the equation a reader sees: the typeset math, clipped to its (scrolling) box
    const m = math.getBoundingClientRect(), c = mjx.getBoundingClientRect();
    const visible = {left: Math.max(m.left, c.left), right: Math.min(m.right, c.right), top: m.top, bottom: m.bottom};
    if (overlap(eqno.getBoundingClientRect(), visible) || eqno.getBoundingClientRect().right > colRight + 1)
      numbers.push(label);
  }
}
const blocks = [];
if (strict) {
  for (const e of col.querySelectorAll("pre, table")) {
    if (!shown(e) || e.closest("mjx-container")) continue;
    const r = e.getBoundingClientRect();
    if (wider(e) || r.right > colRight + 1 || (e.tagName === "TABLE" && e.parentElement && wider(e.parentElement)))
      blocks.push(`${e.tagName.toLowerCase()} ${Math.round(Math.max(e.scrollWidth, r.width))} px: ${text(e)}`);
  }
}
const images = [];
for (const img of document.images) {
  if (img.getAttribute("role") === "presentation" || img.getAttribute("aria-hidden") === "true") continue;
  const alt = (img.getAttribute("alt") || "").trim();
  const file = (img.getAttribute("src") || "").split("/").pop();
  if (!alt || alt === file || alt.endsWith(file) || /\.(png|jpe?g|gif|svg|webp)\b/i.test(alt) || /[0-9a-f]{32}/i.test(alt))
    images.push(`${file}: alt ${JSON.stringify(alt.slice(0, 80))}`);
}
const searches = Array.from(document.querySelectorAll("button.search-button__button")).filter(shown).length;
const clone = col.cloneNode(true);
const code = Array.from(clone.querySelectorAll("pre")).map((e) => e.textContent);
clone.querySelectorAll("pre, script, style, mjx-container, .MathJax").forEach((e) => e.remove());
const colLeft = colBox.left + parseFloat(getComputedStyle(col).paddingLeft);
return {width: window.innerWidth, column: Math.round(colRight - colLeft), displayed: displayed,
        searches: searches, equations: equations, numbers: numbers, blocks: blocks, images: images, code: code,
        prose: clone.textContent.replace(/\s+/g, " ")};
"""


def _outside_references(found: dict) -> list[str]:
    """Passages of a page that name a document or file outside the book, each with some context."""
    hits = []
    for source, patterns in ((found["prose"], (CODE_REFERENCES, PROSE_REFERENCES)),
                             *((code, (CODE_REFERENCES,)) for code in found["code"])):
        source = URL.sub(" ", source)
        for pattern in patterns:
            for match in pattern.finditer(source):
                hits.append(" ".join(source[max(0, match.start() - 40):match.end() + 30].split()))
    return hits


def _layout_problems(browser, site_url: str, page: str, width: int) -> list[str]:
    browser.set_window_size(width, WINDOW[1])
    _load(browser, site_url + page)
    browser.execute_async_script(_WAIT_FOR_MATHJAX)
    browser.execute_async_script(_WAIT_FOR_IMAGES)
    found = browser.execute_script(_LAYOUT, width >= 1000)
    at = f"at {found['width']} px (column {found['column']} px)"
    problems = []
    if found["equations"]:
        what = "wider than their box" if width >= 1000 else "wider than their box with no visible scroll cue"
        problems.append(f"{at}: {len(found['equations'])} of {found['displayed']} display equations {what}: "
                        f"{found['equations'][:8]}")
    if found["numbers"]:
        problems.append(f"{at}: equation numbers cover their equation or leave the column: {found['numbers'][:8]}")
    if found["blocks"]:
        problems.append(f"{at}: {len(found['blocks'])} code/output blocks or tables wider than the column: "
                        f"{found['blocks'][:5]}")
    if found["images"]:
        problems.append(f"{at}: {len(found['images'])} images without a real alt text: {found['images'][:5]}")
    if found["searches"] != 1:
        problems.append(f"{at}: {found['searches']} search buttons on screen, not one")
    if width == LAYOUT_WIDTHS[0]:  # the text is the same at every width: check it once
        refs = _outside_references(found)
        if refs:
            problems.append(f"{len(refs)} passages name documents or files outside the book: {refs[:8]}")
    return problems


def _load(browser, url: str) -> None:
    browser.get_log("browser")  # drop messages from the previous page
    browser.get(url)


def _severe(browser) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def _broken_links(hrefs: list[str], site_url: str) -> list[str]:
    base = urlsplit(site_url)
    broken = []
    for href in sorted(set(hrefs)):
        parts = urlsplit(href)
        if parts.scheme not in ("http", "https") or parts.netloc != base.netloc:
            continue  # another site (not checked: CI must not depend on the network) or mailto:
        rel = unquote(parts.path).lstrip("/")
        target = SITE / rel
        if rel == "" or rel.endswith("/"):
            target = target / "index.html"
        if not target.is_file():
            broken.append(f"{href} (no file {target.relative_to(SITE).as_posix()})")
        elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in _ids(target):
            broken.append(f"{href} (no id {unquote(parts.fragment)!r} on {target.relative_to(SITE).as_posix()})")
    return broken


def _scroll_to(browser, element) -> None:
    browser.execute_script("arguments[0].scrollIntoView({block: 'start'}); window.scrollBy(0, -80);", element)


def _screenshot(browser, name: str) -> None:
    browser.save_screenshot(str(SHOTS / name))


# --- the tests -------------------------------------------------------------------------------------


def test_site_has_pages() -> None:
    reason = skip_reason()
    if reason:
        (pytest.fail if REQUIRED else pytest.skip)(reason)
    pages = site_pages()
    assert "intro.html" in pages and CHAPTER in pages, f"unexpected page list: {pages}"
    assert (SITE / "_static" / "mathjax" / "tex-chtml-full.js").is_file(), (
        "the site does not serve its own MathJax (sphinx.config.html_extra_path / mathjax_path in _config.yml)"
    )


_CITATION = re.compile(r'<a class="reference internal" href="(?:\.\./)*bibliography\.html#([\w-]+)"[^>]*>(.*?)</a>', re.S)
_ENTRY = re.compile(r'<div class="citation" id="([\w-]+)"[^>]*>\s*<span class="label">(.*?)</span></span>', re.S)
_YEAR = re.compile(r"\b\d{4}[a-z]?\b|n\.d\.")


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def test_citations_print_their_entry_year() -> None:
    """Each citation in the text prints the year of the bibliography label it links to: "Song et al., 2021a"
    and "2021b" for two papers that share an author-year name (tools/bib_labels.py), never a bare "2021"."""
    if not (SITE / "bibliography.html").is_file():
        (pytest.fail if REQUIRED else pytest.skip)(f"no built site at {SITE}: run `jupyter-book build .` first")
    labels = {key: _text(label).strip("[]") for key, label in
              _ENTRY.findall((SITE / "bibliography.html").read_text(encoding="utf8"))}
    assert labels, "no bibliography entries found in bibliography.html"
    wrong, n = [], 0
    for page in site_pages():
        for key, text in _CITATION.findall((SITE / page).read_text(encoding="utf8")):
            years = _YEAR.findall(_text(text))
            if key not in labels or not years:
                continue  # a link to the bibliography page itself, or the author part of a textual citation
            n += 1
            label_year = labels[key].rpartition(", ")[2]
            if years != [label_year]:
                wrong.append(f"{page}: {_text(text)!r} links to [{labels[key]}]")
    assert n > 0, "no citations found on any page"
    assert not wrong, "citations whose year differs from their entry's label:\n" + "\n".join(wrong[:20])


@pytest.mark.parametrize("page", _page_params())
def test_page(page: str, browser, site_url) -> None:
    """Math typeset, images loaded, a quiet console and resolving links, on one page."""
    _load(browser, site_url + page)
    mathjax = browser.execute_async_script(_WAIT_FOR_MATHJAX)
    images = browser.execute_async_script(_WAIT_FOR_IMAGES)
    found = browser.execute_script(_INSPECT)
    severe = _severe(browser)

    problems = []
    if found["math"] and mathjax != "ok":
        problems.append(f"MathJax {mathjax} on a page with {found['math']} math elements")
    if found["untypeset"]:
        problems.append(f"{len(found['untypeset'])} math elements not typeset, e.g. {found['untypeset'][:3]}")
    if found["merrors"]:
        problems.append(f"TeX errors or undefined macros in: {found['merrors'][:5]}")
    if found["raw"]:
        problems.append(f"raw TeX in the text: {found['raw'][:3]}")
    if found["external"]:
        problems.append(f"scripts/stylesheets from another host (the site must work offline): {found['external']}")
    bad_images = [src for src, width in images if not width]
    if bad_images:
        problems.append(f"images that did not load: {bad_images}")
    if severe:
        problems.append(f"console errors: {severe[:5]}")
    broken = _broken_links(found["hrefs"], site_url)
    if broken:
        problems.append(f"{len(broken)} broken internal links: {broken[:10]}")
    assert not problems, f"{page}:\n  " + "\n  ".join(problems)

    if page == "intro.html":
        _screenshot(browser, "intro.png")
    elif page == "status.html":
        _screenshot(browser, "status.png")
    elif page == CHAPTER:
        from selenium.webdriver.common.by import By

        _scroll_to(browser, browser.find_element(By.CSS_SELECTOR, "div.math[id^='equation-']"))
        _screenshot(browser, "chapter-math.png")
        _scroll_to(browser, browser.find_element(By.CSS_SELECTOR, "figure img"))
        _screenshot(browser, "chapter-figure.png")


@pytest.mark.parametrize("page", _page_params())
def test_reader_layout(page: str, browser, site_url) -> None:
    """What a reader sees at 1400 px and at 390 px: equations, code blocks, alt texts, references."""
    problems = []
    try:
        for width in LAYOUT_WIDTHS:
            problems += _layout_problems(browser, site_url, page, width)
            _screenshot(browser, f"layout-{width}-{page.replace('/', '-').removesuffix('.html')}.png")
    finally:
        browser.set_window_size(*WINDOW)
    assert not problems, f"{page}:\n  " + "\n  ".join(problems)


def test_solution_dropdown_opens_and_closes(browser, site_url) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _load(browser, site_url + CHAPTER)
    browser.execute_async_script(_WAIT_FOR_MATHJAX)
    solution = browser.find_element(By.CSS_SELECTOR, "div.solution.dropdown")
    WebDriverWait(browser, TIMEOUT).until(lambda d: solution.find_elements(By.CSS_SELECTOR, "button.toggle-button"))
    toggle = solution.find_element(By.CSS_SELECTOR, "button.toggle-button")
    code = solution.find_element(By.CSS_SELECTOR, "div.cell_input pre")
    assert "toggle-hidden" in solution.get_attribute("class") and not code.is_displayed(), (
        "the solution is not folded when the page opens"
    )

    _scroll_to(browser, solution)
    toggle.click()
    WebDriverWait(browser, 5).until(lambda d: code.is_displayed())
    assert "# @title" in code.text, "the opened solution does not show its code"
    _screenshot(browser, "solution-open.png")

    toggle.click()
    WebDriverWait(browser, 5).until(lambda d: not code.is_displayed())
    assert "toggle-hidden" in solution.get_attribute("class")
    assert not _severe(browser)


def test_search_finds_cosine(browser, site_url) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _load(browser, site_url + "search.html?q=cosine")
    WebDriverWait(browser, TIMEOUT).until(
        lambda d: "found" in d.find_element(By.CSS_SELECTOR, "#search-results").text.lower()
    )
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#search-results li a")]
    assert any("chapters/classic_schedules.html" in href for href in links), (
        f"searching 'cosine' does not find the chapter on the classic schedules: {links}"
    )
    assert not _severe(browser)
