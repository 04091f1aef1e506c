"""ftlib.glue writes what myst-nb reads back, and returns the value unchanged."""

import nbformat
import pytest
import torch
from nbclient import NotebookClient

from ftlib.glue import GLUE_PREFIX, glue


def test_outside_ipython_it_returns_the_value():
    t = torch.tensor(0.5)
    assert glue("x", 3) == 3 and glue("t", t) is t


@pytest.mark.parametrize("name", ["", "a b", "x:y", "a`b"])
def test_bad_names_are_rejected(name):
    with pytest.raises(ValueError):
        glue(name, 1)


def test_a_kernel_saves_what_myst_nb_reads():
    pytest.importorskip("myst_nb")
    from myst_nb.ext.glue import extract_glue_data_cell

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import numpy as np, torch\nfrom ftlib.glue import glue\n"
        "glue('em', 0.91)\nglue('n', np.int64(16))\nglue('loss', torch.tensor(0.25))\nglue('shown', 'hi', display=True)"
    )]
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    hidden = [o for o in nb.cells[0].outputs if any(k.startswith(GLUE_PREFIX) for k in o.get("data", {}))]
    assert len(hidden) == 3  # 'shown' is displayed, the others are not
    data = dict(extract_glue_data_cell(nb.cells[0]))  # (this removes the glue outputs from the cell)
    assert data["em"]["data"]["text/plain"] == "0.91"
    assert data["n"]["data"]["text/plain"] == "16"
    assert data["loss"]["data"]["text/plain"] == "0.25"
