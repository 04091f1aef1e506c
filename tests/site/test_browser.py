"""The rendered book, checked in a real browser (Debian's chromium, driven by Playwright).

Run by `make test` after the book is built (`pytest -m browser tests/site`); the unit-test run
skips it by marker. Every page of the table of contents is served from _build/html on
127.0.0.1 and must load with HTTP 200, typeset math, diagrams drawn as SVG, every image
loaded, no failed request, no request off this machine and no console error. A full-page
screenshot of each goes to _build/screenshots/.
"""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
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


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # failed requests are caught in the browser instead
        pass


@pytest.fixture(scope="module")
def server():
    if not (HTML / "index.html").is_file():
        pytest.fail("no built book in _build/html: run `make book` first")
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


def test_toc_pages_exist():
    missing = [f for f in toc_files() if not (HTML / f"{f}.html").is_file()]
    assert not missing, f"pages in _toc.yml that were not built: {missing}"


@pytest.mark.parametrize("doc", toc_files())
def test_page_renders(server, browser, doc):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    failed, offsite, console_errors = [], [], []
    page.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})"))
    page.on("request", lambda r: urlparse(r.url).hostname not in ("127.0.0.1", None) and offsite.append(r.url))
    page.on("console", lambda m: m.type == "error" and m.text not in KNOWN_CONSOLE_MESSAGES and console_errors.append(m.text))
    page.on("pageerror", lambda e: console_errors.append(str(e)))

    response = page.goto(f"{server}/{doc}.html", wait_until="networkidle")
    assert response is not None and response.status == 200

    # Math: every math node is typeset by MathJax, and no raw TeX delimiters are left in the text.
    if page.locator(".math").count():
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise")
        assert page.locator("mjx-container").count() >= page.locator(".math").count()
    text = page.locator("article").inner_text()
    assert "$$" not in text and "\\[" not in text, "raw TeX left in the page"

    # Diagrams: each mermaid block becomes an SVG.
    diagrams = page.locator("pre.mermaid, div.mermaid")
    if diagrams.count():
        page.wait_for_function(
            "() => [...document.querySelectorAll('.mermaid')].every(d => d.querySelector('svg'))", timeout=20_000
        )

    # Images: every one loaded.
    broken = page.evaluate("() => [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
    assert not broken, f"images that did not load: {broken}"

    # The Colab button of a notebook page opens that notebook of the repository.
    if (ROOT / f"{doc}.ipynb").is_file():
        repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
        href = page.locator("a[href*='colab.research.google.com']").first.get_attribute("href")
        expected = f"https://colab.research.google.com/github/{urlparse(repo).path.strip('/')}/blob/main/{doc}.ipynb"
        assert href == expected

    page.screenshot(path=str(SHOTS / f"{doc.replace('/', '__')}.png"), full_page=True)
    page.close()
    assert not failed, f"failed requests: {failed}"
    assert not offsite, f"requests off this machine: {offsite}"
    assert not console_errors, f"console errors: {console_errors}"
