"""Sphinx extension: keep the built book free of CDN references.

Jupyter Book always loads sphinx-thebe, which writes the URL of its JavaScript bundle on a
CDN into every page (it is fetched only if a reader starts a live kernel). This book has no
live kernels (it launches Colab instead), so the thebe scripts are dropped from each page.
"""

CDN_HOSTS = ("unpkg.com", "cdn.jsdelivr.net", "cdnjs.cloudflare.com")


def _is_cdn_or_thebe(js) -> bool:
    text = f"{js.filename or ''} {js.attributes.get('body', '')}"
    return "thebe" in text or any(host in text for host in CDN_HOSTS)


def drop_cdn_scripts(app, pagename, templatename, context, doctree):
    """Remove scripts that name a CDN or thebe from the page's script list."""
    if "script_files" in context:
        context["script_files"] = [js for js in context["script_files"] if not _is_cdn_or_thebe(js)]


def setup(app):
    app.connect("html-page-context", drop_cdn_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
