"""docs/notebook.ipynb runs: its code cells, in order, in one namespace, from the repository's root
(no Jupyter needed: the notebook's JSON is read with the json module), on the shipped checkpoints."""

from __future__ import annotations

import json
import time

import pytest

from conftest import REPO_ROOT

NOTEBOOK = REPO_ROOT / "docs" / "notebook.ipynb"


def code_cells() -> list[str]:
    notebook = json.loads(NOTEBOOK.read_text())
    assert notebook["nbformat"] == 4
    cells = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    assert cells, "the notebook has no code cells"
    return cells


def test_the_notebook_is_clean_json_without_outputs():
    notebook = json.loads(NOTEBOOK.read_text())
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None  # no stale outputs committed
        assert not any(line.lstrip().startswith(("!", "%")) for line in cell["source"])  # plain Python only


@pytest.mark.shipped
def test_the_notebook_runs(monkeypatch):
    from PIL import Image

    import genlab

    monkeypatch.chdir(REPO_ROOT)
    namespace: dict = {"__name__": "__notebook__"}
    start = time.perf_counter()
    for i, source in enumerate(code_cells()):
        exec(compile(source, f"docs/notebook.ipynb (code cell {i + 1})", "exec"), namespace)
    seconds = time.perf_counter() - start
    assert isinstance(namespace["vae"], genlab.Model) and isinstance(namespace["gan"], genlab.Model)
    assert tuple(namespace["samples"].shape) == (16, 1, 28, 28)
    assert tuple(namespace["path"].shape) == (10, 1, 28, 28)
    assert tuple(namespace["result"].completed.shape) == (4, 1, 28, 28)
    assert isinstance(namespace["side_by_side"](Image.new("RGB", (2, 2)), Image.new("RGB", (2, 2))), Image.Image)
    assert seconds < 120, f"the notebook took {seconds:.0f} s; keep it quick"
