"""notebooks/quickstart.ipynb runs from top to bottom (nbclient), so the notebook cannot rot.

It executes in a temporary directory (its runs and replays land there) with
the same kernel a user gets (``python3`` from ipykernel). The notebook keeps
its worlds small, so this takes a couple of minutes on 2 CPU cores; its
install cell is skipped because the package is already importable here.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "quickstart.ipynb"


def test_quickstart_notebook_executes(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="pip install -e '.[dev]' (nbformat, nbclient, ipykernel)")
    from nbclient import NotebookClient

    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    # the kernel imports this checkout (as every other subprocess of the suite does), not whatever
    # an earlier editable install elsewhere points at
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    # the kernel is a child process: fast XLA compiles, as in the rest of the suite
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))   # FAST_COMPILE (tests/conftest.py)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {}) or "image/gif" in o.get("data", {})]
    assert len(images) >= 3, "expected a frame, a GIF and replay frames inline"
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "mean_lifetime=" in text and "random_mean_lifetime=" in text   # the evaluation cell printed
    assert list(tmp_path.glob("**/*.replay")), "the notebook writes a replay and opens it"
