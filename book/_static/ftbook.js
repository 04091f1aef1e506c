/*
 * The book's own script, on top of sphinx-book-theme 1.3 and pydata-sphinx-theme 0.17
 * (loaded by book/_ext/book_site.py). Checked in tests/site/test_browser.py.
 */
(() => {
  "use strict";

  /*
   * 1. The sidebar buttons. Both themes attach their click handlers to
   * document.querySelector(".primary-toggle") and (".secondary-toggle"): the first such
   * button of the page, which sits in the top header that sphinx-book-theme hides. The
   * buttons a reader sees, in the article header, get no handler, so the table of contents
   * cannot be opened (on a phone not at all). Forward their clicks to the bound button: on
   * a wide window the theme then collapses or restores the sidebar, on a narrow one it opens
   * the sidebar as a dialog. (sphinx-book-theme 1.4.0 still binds the first button only.)
   */
  const forwardClicks = (selector) => {
    const [bound, ...others] = document.querySelectorAll(selector);
    for (const button of others) {
      button.addEventListener(
        "click",
        (event) => {
          event.preventDefault();
          event.stopImmediatePropagation();
          bound.click();
          button.blur(); // dismiss the button's tooltip
        },
        true,
      );
    }
  };

  /*
   * 2. Search snippets without TeX. Sphinx cuts a result's snippet from the page's HTML, in
   * which a formula is still TeX source ("\(\alpha / \sqrt{r}\)"): MathJax typesets it only in
   * the browser. Turn the formulas into plain text (α / √r) before the snippet is cut, and do
   * the same for the titles of the search index (headings with math in them).
   */
  const SYMBOLS = {
    alpha: "α", beta: "β", gamma: "γ", delta: "δ", epsilon: "ε", varepsilon: "ε", eta: "η",
    theta: "θ", lambda: "λ", mu: "μ", pi: "π", rho: "ρ", sigma: "σ", tau: "τ", phi: "φ",
    Delta: "Δ", Sigma: "Σ", Theta: "Θ", nabla: "∇", partial: "∂", sum: "∑", prod: "∏",
    sqrt: "√", times: "×", cdot: "·", approx: "≈", le: "≤", leq: "≤", ge: "≥", geq: "≥",
    ne: "≠", neq: "≠", in: "∈", infty: "∞", to: "→", rightarrow: "→", leftarrow: "←",
    mapsto: "↦", top: "ᵀ", ldots: "…", dots: "…", cdots: "…", lVert: "‖", rVert: "‖",
    Vert: "‖", mid: "|", quad: " ", qquad: " ", left: "", right: "", big: "", Big: "",
  };
  const texToText = (tex) =>
    tex
      .replace(/^\s*\\[([]/, "")
      .replace(/\\[)\]]\s*$/, "")
      .replace(/\\(?:mathrm|mathbf|mathcal|mathit|mathbb|boldsymbol|text|textbf|operatorname)\s*\{([^{}]*)\}/g, "$1")
      .replace(/\\frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}/g, "($1)/($2)")
      .replace(/\\\\/g, " ")
      .replace(/\\([A-Za-z]+)/g, (_, name) => (name in SYMBOLS ? SYMBOLS[name] : name))
      .replace(/\\[,;:! ]/g, " ")
      .replace(/\\([{}_%&$#])/g, "$1")
      .replace(/[{}]/g, "")
      .replace(/\s+/g, " ")
      .trim();
  const mathToText = (root) => {
    for (const el of root.querySelectorAll(".math")) el.textContent = texToText(el.textContent);
  };
  const cleanTitles = (index) => {
    if (!index) return;
    if (Array.isArray(index.titles)) index.titles = index.titles.map(texToText);
    if (index.alltitles) {
      const cleaned = {};
      for (const [title, places] of Object.entries(index.alltitles)) cleaned[texToText(title)] = places;
      index.alltitles = cleaned;
    }
  };
  const patchSearch = () => {
    if (typeof Search === "undefined" || !Search.htmlToText || Search.ftbookPatched) return;
    const htmlToText = Search.htmlToText;
    Search.htmlToText = (htmlString, anchor) => {
      const doc = new DOMParser().parseFromString(htmlString, "text/html");
      mathToText(doc);
      return htmlToText(doc.documentElement.outerHTML, anchor);
    };
    const setIndex = Search.setIndex;
    Search.setIndex = (index) => {
      cleanTitles(index);
      setIndex(index);
    };
    cleanTitles(Search._index); // when searchindex.js ran before this script
    Search.ftbookPatched = true;
  };

  /*
   * 3. Display equations on a narrow screen. MathJax 3 does not break a long equation into
   * lines; its box scrolls sideways (ftbook.css). Where a modest reduction makes it fit (to 70 %
   * of the text size), shrink it instead, so that a phone shows the whole formula.
   */
  const MIN_SCALE = 0.7;
  const fitEquations = () => {
    for (const box of document.querySelectorAll('mjx-container[display="true"]')) {
      box.style.fontSize = "";
      const ratio = box.clientWidth / box.scrollWidth;
      if (ratio < 1) box.style.fontSize = `${Math.max(ratio, MIN_SCALE) * 100}%`;
    }
  };
  const afterMathJax = () => {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(fitEquations);
      let timer;
      window.addEventListener("resize", () => {
        clearTimeout(timer);
        timer = setTimeout(fitEquations, 150);
      });
    }
  };

  /*
   * 4. Wide figures on a phone. A figure of two or three panels side by side, shrunk to a
   * phone's 360 px, has labels too small to read. Each image more than twice as wide as a
   * phone's column is wrapped in a box of its own; on a narrow screen (ftbook.css) the image
   * keeps most of its size there and the box scrolls sideways, never the page. A wide mermaid
   * diagram (a flowchart from left to right) is treated the same way.
   */
  const WIDE_FIGURE_PX = 720;
  const wrapWideFigure = (img) => {
    if (img.naturalWidth <= WIDE_FIGURE_PX || img.closest(".ftbook-wide-figure")) return;
    const box = document.createElement("div");
    box.className = "ftbook-wide-figure";
    box.style.setProperty("--ftbook-img-width", `${img.naturalWidth}px`);
    img.replaceWith(box);
    box.append(img);
  };
  // A mermaid diagram is drawn in the browser, after this script: mark it once its SVG is there
  // (mermaid writes the drawing's own width as the SVG's max-width).
  const markWideDiagram = (pre) => {
    const svg = pre.querySelector(":scope > svg");
    const width = svg ? parseFloat(svg.style.maxWidth) : NaN;
    if (!(width > WIDE_FIGURE_PX)) return Boolean(svg);
    pre.classList.add("ftbook-wide-diagram");
    pre.style.setProperty("--ftbook-img-width", `${width}px`);
    return true;
  };
  const watchDiagrams = () => {
    for (const pre of document.querySelectorAll(".bd-article pre.mermaid")) {
      if (markWideDiagram(pre)) continue;
      const observer = new MutationObserver(() => markWideDiagram(pre) && observer.disconnect());
      observer.observe(pre, { childList: true });
    }
  };
  const wrapWideFigures = () => {
    for (const img of document.querySelectorAll(".bd-article figure img, .bd-article .cell_output img")) {
      if (img.complete) wrapWideFigure(img);
      else img.addEventListener("load", () => wrapWideFigure(img), { once: true });
    }
  };

  /*
   * 5. Long inline code (paths, dotted names) wraps at its separators. ftbook.css lets it break
   * anywhere rather than push the page sideways; a break opportunity after each "/", "_" and
   * "." makes "chapters/solutions/" break between words instead of inside them.
   */
  const LONG_CODE = 16;
  const breakLongCode = () => {
    for (const span of document.querySelectorAll(".bd-article code.literal span.pre")) {
      const text = span.textContent;
      if (text.length <= LONG_CODE || span.childElementCount || !/[/_.]/.test(text)) continue;
      const parts = text.replace(/([/_.])/g, "$1\u0000").split("\u0000").filter(Boolean); // no lookbehind: older Safari
      span.replaceChildren(...parts.flatMap((part, i) => (i ? [document.createElement("wbr"), part] : [part])));
    }
  };

  /*
   * 6. Tables of five or more columns on a phone (the claims page, the instructor guide): five
   * columns of prose in 360 px make rows of one word per line. Each cell gets its column's
   * heading as a label, and on a narrow screen (ftbook.css) each row becomes a card.
   */
  const STACK_COLUMNS = 5;
  const stackWideTables = () => {
    for (const table of document.querySelectorAll(".bd-article table")) {
      const labels = [...table.querySelectorAll(":scope > thead th")].map((th) => th.textContent.trim());
      if (labels.length < STACK_COLUMNS) continue;
      for (const row of table.querySelectorAll(":scope > tbody > tr")) {
        [...row.children].forEach((cell, i) => {
          if (labels[i]) cell.dataset.label = labels[i];
        });
      }
      table.classList.add("ftbook-stack");
    }
  };

  forwardClicks(".primary-toggle");
  forwardClicks(".secondary-toggle");
  patchSearch();
  wrapWideFigures();
  watchDiagrams();
  breakLongCode();
  stackWideTables();
  if (document.readyState === "complete") afterMathJax();
  else window.addEventListener("load", afterMathJax);
})();
