"""Paste numbers from the cell that computed them into the prose: myst-nb's ``glue``.

A chapter never types a result into its text. The cell that computes it calls
``glue("em_after", em_after)``, and the markdown says ``{glue:text}`em_after:.2f```.
The book build replaces the role with the value saved in the cell's output, so the prose
cannot drift from what ran. Another page of the book can paste it too, with
``{glue:text}`../chapters/01_why_finetune.ipynb::em_after:.2f```.

This is myst-nb's own ``glue`` (the same output format, read by ``jupyter-book``), written
out here so that a notebook runs where myst-nb is not installed (Colab). The value is
saved hidden: the cell's printed output is what the reader sees in JupyterLab.

Taught in chapter 1, section 1.6.
"""

from __future__ import annotations

from typing import Any, TypeVar

__all__ = ["GLUE_PREFIX", "glue"]

GLUE_PREFIX = "application/papermill.record/"  # what myst-nb reads back (myst_nb.ext.glue)

T = TypeVar("T")


def glue(name: str, value: T, display: bool = False) -> T:
    """Save ``value`` under ``name`` for the book's ``{glue:text}`` role, and return it unchanged.

    Args:
        name: the key the markdown uses; unique within the notebook.
        value: a number, a string, or anything IPython can display (a float is saved as its
            ``repr``, so ``{glue:text}`name:.2f``` formats it).
        display: also show the value in the cell's output.

    Raises:
        ValueError: for an empty name or one with characters the role cannot parse.
    """
    if not isinstance(name, str) or not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"glue name must be letters, digits, '_' or '-', got {name!r}")
    try:
        from IPython import get_ipython
        from IPython.core.formatters import format_display_data
        from IPython.display import display as ipy_display
    except ImportError:  # plain Python: nothing to save, the value is still returned
        return value
    if get_ipython() is None:
        return value
    shown = value.item() if hasattr(value, "item") and getattr(value, "ndim", 1) == 0 else value
    bundle, metadata = format_display_data(shown)  # a 0-d tensor or NumPy scalar pastes as a plain number
    prefix = "" if display else GLUE_PREFIX
    metadata["scrapbook"] = {"name": name, "mime_prefix": prefix}
    ipy_display({prefix + k: v for k, v in bundle.items()}, raw=True, metadata=metadata)
    return value
