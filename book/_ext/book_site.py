"""Sphinx extension: the book's own look and behaviour, and figure numbers per chapter.

- Serves ``book/_static/ftbook.css`` and ``book/_static/ftbook.js`` (one file each; the
  vendored JavaScript stays in ``_vendor/``, where Jupyter Book adds no script tag per file).
  The CSS sets the column widths and lets code, equations and tables scroll inside their own
  boxes; the script makes the theme's visible sidebar buttons work and keeps TeX out of
  search snippets (see the comments in each file).
- Numbers figures per chapter, "Figure 4.2", from the notebook's file name (``chapters/04_*``)
  rather than from a numbered table of contents: the chapters number their own headings
  ("## 4.2 ..."), and a numbered toctree would number them a second time. A solutions page
  numbers its figures "Figure S4.1"; any other page from 1.
- A mermaid diagram's ``:alt:`` option becomes its ``accDescr`` line, which mermaid writes into
  the SVG as its description (sphinxcontrib-mermaid drops ``:alt:`` when the browser draws the
  diagram, so the text would otherwise reach no reader).
- The role ``{repo}`data/README.md` `` links a file of the repository on its host (the address of
  ``repository.url`` and ``repository.branch`` in ``_config.yml``, as the launch buttons use), and
  fails the build when the file does not exist.
"""

from __future__ import annotations

import re
from pathlib import Path

from docutils import nodes

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "book" / "_static"
CHAPTER = re.compile(r"chapters/(\d\d)_[^/]+")
SOLUTIONS = re.compile(r"chapters/solutions/(\d\d)_[^/]+_solutions")

FigNumbers = dict[str, dict[str, dict[str, tuple]]]


def figure_prefix(docname: str) -> tuple:
    """The leading part of a figure number on ``docname``: (4,) in chapter 4, ("S4",) in its solutions."""
    if m := CHAPTER.fullmatch(docname):
        return (int(m.group(1)),)
    if m := SOLUTIONS.fullmatch(docname):
        return (f"S{int(m.group(1))}",)
    return ()


def renumber(fignumbers: FigNumbers) -> FigNumbers:
    """Figure (and table, listing) numbers that restart on every page, prefixed by its chapter.

    Sphinx counts through the whole book when no toctree is numbered; the order within a page
    (its document order) is kept.
    """
    out: FigNumbers = {}
    for docname, by_type in fignumbers.items():
        out[docname] = {}
        for figtype, numbers in by_type.items():
            ordered = sorted(numbers, key=lambda figure_id: numbers[figure_id])
            prefix = figure_prefix(docname)
            out[docname][figtype] = {fid: (*prefix, i) for i, fid in enumerate(ordered, start=1)}
    return out


def _renumber_env(app, env) -> list[str]:
    if not env.config.numfig:
        return []
    new = renumber(env.toc_fignumbers)
    changed = [doc for doc in new if new[doc] != env.toc_fignumbers.get(doc)]
    env.toc_fignumbers = new
    return changed


def with_alt_text(code: str, alt: str) -> str:
    """Mermaid ``code`` with ``alt`` as its ``accDescr`` line, after any front matter and the diagram type.

    Code that has its own ``accDescr`` is returned unchanged.
    """
    text = " ".join(alt.split())
    if not text or re.search(r"^\s*accDescr\b", code, re.M):
        return code
    lines = code.split("\n")
    i = 0
    if lines and lines[0].strip() == "---":  # front matter (sphinxcontrib-mermaid writes one)
        end = next((j for j in range(1, len(lines)) if lines[j].strip() == "---"), None)
        i = 0 if end is None else end + 1
    while i < len(lines) and (not lines[i].strip() or lines[i].strip().startswith("%%")):
        i += 1  # blank lines, comments and %%{init}%% directives come before the diagram type
    lines.insert(i + 1, f"    accDescr: {text}")
    return "\n".join(lines)


def _mermaid_alt_text(app, doctree) -> None:
    try:
        from sphinxcontrib.mermaid import mermaid
    except ImportError:  # pragma: no cover - the book always loads it
        return
    for node in doctree.findall(mermaid):
        if node.get("alt"):
            node["code"] = with_alt_text(node["code"], node["alt"])


def repo_url(path: str, repository: str, branch: str, root: Path = ROOT) -> str:
    """The address of ``path`` (a file or folder of the repository) on its host.

    Raises:
        ValueError: when ``path`` is not in the repository or no repository is configured.
    """
    clean = path.strip().strip("/")
    if not repository:
        raise ValueError("no repository.url in _config.yml")
    if not clean or ".." in Path(clean).parts or not (root / clean).exists():
        raise ValueError(f"{path!r} is not a file or folder of the repository")
    kind = "tree" if (root / clean).is_dir() else "blob"
    return f"{repository.rstrip('/')}/{kind}/{branch or 'main'}/{clean}"


def repo_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    theme = inliner.document.settings.env.config.html_theme_options or {}
    try:
        url = repo_url(text, theme.get("repository_url", ""), theme.get("repository_branch", "main"))
    except ValueError as error:
        message = inliner.reporter.error(f"{{repo}}`{text}`: {error}", line=lineno)
        return [inliner.problematic(rawtext, rawtext, message)], [message]
    return [nodes.reference(rawtext, "", nodes.literal(text, text), refuri=url, classes=["repo-file"])], []


def _static_path(app, config) -> None:
    config.html_static_path = [*config.html_static_path, str(STATIC)]


def setup(app):
    app.connect("config-inited", _static_path)
    # After Sphinx's own numbering (TocTreeCollector, priority 500), before the pages are written.
    app.connect("env-get-updated", _renumber_env, priority=900)
    app.connect("doctree-read", _mermaid_alt_text)
    app.add_role("repo", repo_role)
    app.add_css_file("ftbook.css")
    app.add_js_file("ftbook.js", loading_method="defer")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
