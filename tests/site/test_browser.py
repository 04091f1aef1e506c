"""The rendered book, checked in a real browser (Debian's chromium, driven by Playwright).

Run by `make test` after the book is built (`pytest -m browser tests/site`); the unit-test run
skips it by marker. Every page of the table of contents is served from _build/html on
127.0.0.1 and opened at two widths, a laptop (1280 px) and a phone (390 px). Each page must:

- load with HTTP 200, with no failed request, no request off this machine, no console error;
- typeset its math with no MathJax error and no formula source holding a double backslash
  followed by a letter (``\\\\Delta`` is a line break and the letters "Delta");
- draw its diagrams as SVG and load every image; each image has alt text that is not a file name;
  on a chapter or solutions page each image and diagram is a figure with a numbered caption;
- open its table of contents from the visible button, and on a phone its "on this page" panel;
- not scroll sideways (the document is as wide as the window: only code, equation, table and
  wide-figure boxes may scroll inside themselves), and at 1280 px hold an 88-column line of code
  and every display equation without scrolling;
- show no test plumbing (``NBVAL``) and no stderr box other than progress bars, unless the
  cell is tagged ``stderr-demo`` (an intended demonstration, such as an error message);
- on a chapter page, link its Exercises section to the rendered solutions page.

The page chrome shows one search field, which opens the search; the search page must show
snippets without raw TeX. Screenshots of every page at both widths go
to _build/screenshots/. ``BOOK_HTML=/path/to/html`` checks another build (used to record how
many checks an older build fails).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html")).resolve()
SHOTS = HTML.parent / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [  # as root, headless, and with no background traffic to hosts we cannot reach
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTHS = (1280, 390)  # a laptop and a phone (iPhone 12 to 15: 390 css px)
DEMO_TAG = "stderr-demo"  # a cell whose stderr output is the lesson (CONTRIBUTING.md)

# pydata-sphinx-theme logs this with console.error on a first visit, before any light/dark mode
# is stored; the page then uses "auto". A message of the theme, not a fault of the book.
KNOWN_CONSOLE_MESSAGES = ("Got invalid theme mode: . Resetting to auto.",)

pytestmark = pytest.mark.browser


def toc_files() -> list[str]:
    """Every document of _toc.yml, root first, as paths without suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part.get("chapters", [])]
    return files


DOCS = toc_files()
CHAPTER = re.compile(r"chapters/(\d\d)_[^/]+$")
SOLUTIONS = re.compile(r"chapters/solutions/(\d\d)_[^/]+_solutions$")
NOTEBOOK_DOCS = [d for d in DOCS if CHAPTER.fullmatch(d) or SOLUTIONS.fullmatch(d)]
CHAPTER_DOCS = [d for d in DOCS if CHAPTER.fullmatch(d)]


def figure_prefix(doc: str) -> str:
    """The caption number a figure of ``doc`` starts with: "Figure 4." in chapter 4, "Figure S4." in its solutions."""
    if m := CHAPTER.fullmatch(doc):
        return f"Figure {int(m.group(1))}."
    m = SOLUTIONS.fullmatch(doc)
    return f"Figure S{int(m.group(1))}."


# A stderr box may hold tqdm progress bars: "name: 100%|#####| 8/8 [00:18<00:00, 2.34s/it, loss=0.015]".
PROGRESS_LINE = re.compile(r".*\d+%\|[^|]*\|\s*\d+/\d+\s*\[[^\]]*\]\s*")
FILE_NAME = re.compile(r"(?:.*/)?[\w.\-]+\.(?:png|jpe?g|svg|gif|webp)|[0-9a-f]{16,}", re.I)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # failed requests are caught in the browser instead
        pass


@pytest.fixture(scope="module")
def server():
    if not (HTML / "index.html").is_file():
        pytest.fail(f"no built book in {HTML}: run `make book` first")
    handler = functools.partial(QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


# What one page shows, gathered once per page and width in the browser (one evaluate), then asserted
# on by the tests below, so that each check fails on its own and reports every offender at once.
OBSERVE_JS = r"""
(demoTag) => {
  const article = document.querySelector("article.bd-article") || document.querySelector("article");
  const text = article ? article.innerText : "";
  const describe = (el) => {
    const cls = (el.getAttribute("class") || "").split(/\s+/).slice(0, 2).join(".");
    const words = (el.innerText || el.getAttribute("alt") || "").trim().replace(/\s+/g, " ").slice(0, 60);
    return `${el.tagName.toLowerCase()}${cls ? "." + cls : ""} "${words}"`;
  };
  const section = (el) => {
    const s = el.closest("section");
    const h = s && s.querySelector("h1, h2, h3");
    return h ? h.innerText.replace(/#$/, "").trim() : "top";
  };

  // Math: MathJax's error nodes, and the TeX source of every formula it found.
  let mathErrors = [], doubleBackslash = [];
  if (window.MathJax && MathJax.startup && MathJax.startup.document) {
    mathErrors = [...document.querySelectorAll("mjx-merror, [data-mjx-error]")].map(
      (e) => `${section(e)}: ${e.getAttribute("data-mjx-error") || e.textContent}`.slice(0, 120));
    for (const item of MathJax.startup.document.math) {
      if (/\\\\[A-Za-z]/.test(item.math)) doubleBackslash.push(item.math.slice(0, 80));
    }
  }

  // Sideways scroll: the document against the window, and the elements that stick out of it
  // without a scrolling box of their own around them (the deepest ones).
  const viewport = window.innerWidth;
  const docWidth = document.documentElement.scrollWidth;
  let overflowing = [];
  if (docWidth > viewport) {
    const contained = (el) => {  // inside a box that scrolls or clips, or fixed to the window
      for (let a = el; a && a !== document.body; a = a.parentElement) {
        const style = getComputedStyle(a);
        if (style.position === "fixed") return true;
        if (a !== el && ["auto", "scroll", "hidden", "clip"].includes(style.overflowX)) return true;
      }
      return false;
    };
    const wide = [...document.body.querySelectorAll("*")].filter(
      (e) => e.getBoundingClientRect().right > viewport + 1 && !contained(e));
    overflowing = wide.filter((e) => !wide.some((o) => o !== e && e.contains(o)))
      .slice(0, 8).map((e) => `${section(e)}: ${describe(e)}`);
  }

  // Outputs: stderr boxes that are neither progress bars nor tagged demonstrations.
  const progress = /^.*\d+%\|[^|]*\|\s*\d+\/\d+\s*\[[^\]]*\]\s*$/;
  const stderr = [...document.querySelectorAll(".output.stderr")].filter((box) => {
    const cell = box.closest(".cell");
    if (cell && cell.classList.contains(`tag_${demoTag}`)) return false;
    const lines = box.innerText.split("\n").filter((l) => l.trim());
    return !lines.every((l) => progress.test(l));
  }).map((box) => `${section(box)}: ${box.innerText.trim().slice(0, 100)}`);

  // Images and diagrams of the article, with their alt text and the caption of their figure.
  // A mermaid diagram's text alternative: its accTitle / accDescr lines become the SVG's title and desc.
  const diagramText = (el) => [...el.querySelectorAll("svg > title, svg > desc")].map((t) => t.textContent)
    .join(" ").trim() || el.getAttribute("aria-label") || "";
  const visuals = article ? [...article.querySelectorAll("img, pre.mermaid, div.mermaid")] : [];
  const figures = visuals.map((el) => {
    const fig = el.closest("figure");
    const cap = fig && fig.querySelector("figcaption");
    const number = cap && cap.querySelector(".caption-number");
    const captionText = cap ? cap.innerText.replace(number ? number.innerText : "", "").trim() : "";
    return {
      what: `${section(el)}: ${describe(el)}`,
      img: el.tagName === "IMG",
      alt: el.tagName === "IMG" ? (el.getAttribute("alt") || "") : diagramText(el),
      number: number ? number.innerText.trim() : "",
      caption: captionText,
    };
  });

  // Exercises: links to a solutions page, and solutions files named as plain code.
  const exercises = [...document.querySelectorAll("section")].filter((s) => {
    const h = s.querySelector(":scope > h2");
    return h && /exercises/i.test(h.innerText);
  });
  const solutionLinks = [], solutionCode = [];
  for (const s of exercises) {
    for (const a of s.querySelectorAll("a[href]")) {
      if (/solutions/i.test(a.getAttribute("href"))) solutionLinks.push(a.href);
    }
    for (const c of s.querySelectorAll("code")) {
      if (/_solutions(\.ipynb|\.html)?/.test(c.innerText) && !c.closest("a")) solutionCode.push(c.innerText.trim());
    }
  }

  // Code cells whose lines do not fit their box (the chapters are formatted to 88 columns).
  const codeScrolling = [...document.querySelectorAll(".cell_input pre")]
    .filter((p) => p.scrollWidth > p.clientWidth + 1)
    .map((p) => `${section(p)}: ${p.innerText.split("\n").reduce((a, b) => (b.length > a.length ? b : a), "").slice(0, 100)}`);

  // Display equations that do not fit their box (ftbook.js shrinks a long one a little first).
  const mathScrolling = [...document.querySelectorAll('mjx-container[display="true"]')]
    .filter((m) => m.scrollWidth > m.clientWidth + 1)
    .map((m) => `${section(m)}: ${m.scrollWidth} px in ${m.clientWidth} px`);

  return {
    codeScrolling, mathScrolling,
    mathCount: document.querySelectorAll(".math").length,
    mjxCount: document.querySelectorAll("mjx-container").length,
    rawTex: text.includes("$$") || text.includes("\\["),
    mathErrors, doubleBackslash, viewport, docWidth, overflowing, stderr, figures,
    nbval: (text.match(/NBVAL/g) || []).length,
    hasExercises: exercises.length > 0, solutionLinks, solutionCode,
    brokenImages: [...document.images].filter((i) => !i.complete || i.naturalWidth === 0).map((i) => i.src),
  };
}
"""

# Is a panel's first link on screen: rendered, visible, inside the window horizontally?
SHOWN_JS = r"""
(selector) => {
  const links = [...document.querySelectorAll(selector)];
  return links.some((a) => {
    const r = a.getBoundingClientRect();
    const visible = a.checkVisibility ? a.checkVisibility({checkOpacity: true, checkVisibilityCSS: true}) : true;
    return visible && r.width > 0 && r.height > 0 && r.right > 0 && r.left < window.innerWidth;
  });
}
"""
TOC_LINKS = "nav.bd-docs-nav a.reference"
PAGE_TOC_LINKS = "nav.bd-toc-nav a.nav-link, .page-toc a.nav-link"


def try_toggle(page, button_selector: str, links: str) -> dict:
    """Click the visible ``button_selector`` and report whether ``links`` come on screen (or, where
    they were already shown, go away and come back with a second click)."""
    buttons = page.locator(button_selector).filter(visible=True)
    if not buttons.count():
        return {"button": False}
    shown = lambda: page.evaluate(SHOWN_JS, links)  # noqa: E731
    before = shown()
    buttons.first.click()
    page.wait_for_timeout(400)
    after = shown()
    result = {"button": True, "before": before, "after": after}
    if before:  # a wide window shows the sidebar already: the button must hide it, then show it again
        if not after:
            page.locator(button_selector).filter(visible=True).first.click()
            page.wait_for_timeout(400)
            result["again"] = shown()
        result["works"] = not after and result.get("again", False)
    else:
        result["works"] = after
        page.keyboard.press("Escape")
        page.wait_for_timeout(200)
    return result


@functools.lru_cache(maxsize=None)
def _observe(base: str, browser, doc: str, width: int) -> dict:
    page = browser.new_page(viewport={"width": width, "height": 900})
    failed, offsite, console_errors = [], [], []
    page.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})"))
    page.on("request", lambda r: urlparse(r.url).hostname not in ("127.0.0.1", None) and offsite.append(r.url))
    page.on(
        "console",
        lambda m: m.type == "error" and m.text not in KNOWN_CONSOLE_MESSAGES and console_errors.append(m.text),
    )
    page.on("pageerror", lambda e: console_errors.append(str(e)))

    response = page.goto(f"{base}/{doc}.html", wait_until="networkidle")
    facts = {"status": response.status if response else None}
    if page.locator(".math").count():
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise")
    if page.locator("pre.mermaid, div.mermaid").count():
        page.wait_for_function(
            "() => [...document.querySelectorAll('.mermaid')].every(d => d.querySelector('svg'))", timeout=20_000
        )
    facts.update(page.evaluate(OBSERVE_JS, DEMO_TAG))
    colab = page.locator("a[href*='colab.research.google.com']")
    facts["colab"] = colab.first.get_attribute("href") if colab.count() else None
    suffix = "" if width == 1280 else f"@{width}"
    page.screenshot(path=str(SHOTS / f"{doc.replace('/', '__')}{suffix}.png"), full_page=True)

    facts["toc"] = try_toggle(page, ".primary-toggle", TOC_LINKS)
    if width < 1200 and page.locator(PAGE_TOC_LINKS).count():  # the "on this page" panel is a button here
        page.reload(wait_until="networkidle")
        facts["page_toc"] = try_toggle(page, ".secondary-toggle", PAGE_TOC_LINKS)
    page.close()
    facts.update(failed=failed, offsite=offsite, console_errors=console_errors)
    return facts


@pytest.fixture
def observe(server, browser):
    return lambda doc, width=1280: _observe(server, browser, doc, width)


def test_toc_pages_exist():
    missing = [f for f in DOCS if not (HTML / f"{f}.html").is_file()]
    assert not missing, f"pages in _toc.yml that were not built: {missing}"


@pytest.mark.parametrize("doc", DOCS)
def test_page_renders(observe, doc):
    facts = observe(doc)
    assert facts["status"] == 200
    # Math: every math node is typeset by MathJax, and no raw TeX delimiters are left in the text.
    assert facts["mjxCount"] >= facts["mathCount"]
    assert not facts["rawTex"], "raw TeX left in the page"
    assert not facts["brokenImages"], f"images that did not load: {facts['brokenImages']}"
    # The Colab button of a notebook page opens that notebook of the repository.
    if (ROOT / f"{doc}.ipynb").is_file():
        repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
        expected = f"https://colab.research.google.com/github/{urlparse(repo).path.strip('/')}/blob/main/{doc}.ipynb"
        assert facts["colab"] == expected
    assert not facts["failed"], f"failed requests: {facts['failed']}"
    assert not facts["offsite"], f"requests off this machine: {facts['offsite']}"
    assert not facts["console_errors"], f"console errors: {facts['console_errors']}"


@pytest.mark.parametrize("doc", DOCS)
def test_math_has_no_errors(observe, doc):
    facts = observe(doc)
    assert not facts["mathErrors"], f"{len(facts['mathErrors'])} MathJax errors: {facts['mathErrors']}"


@pytest.mark.parametrize("doc", DOCS)
def test_formulas_have_no_double_backslash(observe, doc):
    facts = observe(doc)
    assert not facts["doubleBackslash"], (
        f"{len(facts['doubleBackslash'])} formulas with a double backslash before a letter "
        f"(write \\Delta, not \\\\Delta, in markdown): {facts['doubleBackslash']}"
    )


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("doc", DOCS)
def test_toc_button_opens_the_table_of_contents(observe, doc, width):
    toc = observe(doc, width)["toc"]
    assert toc["button"], "no visible table-of-contents button"
    assert toc["works"], f"clicking the visible table-of-contents button did not open it: {toc}"


@pytest.mark.parametrize("doc", DOCS)
def test_on_this_page_button_opens_on_a_phone(observe, doc):
    page_toc = observe(doc, 390).get("page_toc")
    if page_toc is None:
        pytest.skip("no 'on this page' contents on this page")
    assert page_toc["button"], "no visible 'on this page' button at 390 px"
    assert page_toc["works"], f"clicking 'on this page' did not open it: {page_toc}"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("doc", DOCS)
def test_no_sideways_scroll(observe, doc, width):
    facts = observe(doc, width)
    assert facts["docWidth"] <= facts["viewport"], (
        f"the page is {facts['docWidth']} px wide in a {facts['viewport']} px window; "
        f"sticking out: {facts['overflowing']}"
    )


@pytest.mark.parametrize("doc", NOTEBOOK_DOCS)
def test_code_fits_its_box_at_1280(observe, doc):
    """The chapters' code is formatted to 88 columns (tests/test_notebooks.py); the column must hold it."""
    bad = observe(doc)["codeScrolling"]
    assert not bad, f"{len(bad)} code cells scroll sideways at 1280 px; longest lines: {bad}"


@pytest.mark.parametrize("doc", DOCS)
def test_equations_fit_their_box_at_1280(observe, doc):
    """On a laptop a display equation is seen whole; on a phone it may scroll inside its own box."""
    bad = observe(doc)["mathScrolling"]
    assert not bad, f"{len(bad)} display equations cut off at 1280 px (they scroll): {bad}"


SEARCH_BUTTONS = ".search-button-field, button.search-button, .search-button__button"


@pytest.mark.parametrize("width", WIDTHS)
def test_one_search_field_and_it_opens(server, browser, width):
    """One search field in the page's chrome (the theme's top header held a second one), and it works."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(f"{server}/{DOCS[0]}.html", wait_until="networkidle")
    buttons = page.locator(SEARCH_BUTTONS).filter(visible=True)
    count, opened = buttons.count(), False
    if count:
        buttons.first.click()
        page.wait_for_timeout(400)
        opened = page.locator("input[name=q]").filter(visible=True).count() > 0
    page.close()
    assert count == 1, f"{count} search fields or buttons visible at {width} px; one is enough"
    assert opened, "clicking the search field did not open the search"


@pytest.mark.parametrize("doc", DOCS)
def test_no_nbval_comments_show(observe, doc):
    facts = observe(doc)
    assert not facts["nbval"], f"{facts['nbval']} x 'NBVAL' visible: use nbval's cell tags instead of comments"


@pytest.mark.parametrize("doc", DOCS)
def test_no_stray_stderr_boxes(observe, doc):
    facts = observe(doc)
    assert not facts["stderr"], (
        f"stderr boxes that are neither progress bars nor in a cell tagged {DEMO_TAG!r}: {facts['stderr']}"
    )


@pytest.mark.parametrize("doc", DOCS)
def test_images_have_alt_text(observe, doc):
    """An image needs alt text (``mystnb.image.alt`` in the cell's metadata); a mermaid diagram needs
    ``accTitle:`` / ``accDescr:`` lines, which mermaid turns into the SVG's title and description."""
    bad = [f["what"] for f in observe(doc)["figures"] if not f["alt"].strip() or FILE_NAME.fullmatch(f["alt"])]
    assert not bad, f"{len(bad)} images or diagrams whose alt text is empty or a file name: {bad}"


@pytest.mark.parametrize("doc", NOTEBOOK_DOCS)
def test_figures_are_numbered_and_captioned(observe, doc):
    prefix = figure_prefix(doc)
    bad = [
        f"{f['what']} (number {f['number']!r}, caption {f['caption'][:40]!r})"
        for f in observe(doc)["figures"]
        if not f["caption"] or not f["number"].startswith(prefix)
    ]
    assert not bad, f"{len(bad)} images or diagrams without a caption numbered {prefix}N: {bad}"


@pytest.mark.parametrize("doc", CHAPTER_DOCS)
def test_exercises_link_to_the_solutions(observe, server, doc):
    facts = observe(doc)
    assert facts["hasExercises"], "no Exercises section"
    name = Path(doc).name
    expected = f"{server}/chapters/solutions/{name}_solutions.html"
    problems = [f"{c} is plain code, not a link" for c in facts["solutionCode"]]
    links = [link.split("#")[0] for link in facts["solutionLinks"]]
    if expected not in links:
        problems.append(f"no link to {expected}")
    for link in links:
        if not (HTML / urlparse(link).path.lstrip("/")).is_file():
            problems.append(f"broken link {link}")
    assert not problems, f"Exercises section: {problems}"


def test_search_snippets_show_no_tex(server, browser):
    """Sphinx builds search snippets from the page's HTML, where a formula is still TeX source."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{server}/search.html?q=rsLoRA", wait_until="networkidle")
    page.wait_for_function("() => document.querySelectorAll('ul.search li p.context').length > 0", timeout=30_000)
    page.wait_for_timeout(500)
    texts = page.locator("ul.search li").all_inner_texts()
    page.close()
    tex = [t for t in texts if re.search(r"\\[A-Za-z]+|\\\(|\\\)", t)]
    assert not tex, f"{len(tex)} of {len(texts)} search results show raw TeX: {[t[:120] for t in tex]}"
