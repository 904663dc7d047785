"""notebooks/quickstart.ipynb runs from top to bottom (nbclient), so the notebook cannot rot.

It executes in a temporary directory (its runs and replays land there) with
the same kernel a user gets (``python3`` from ipykernel), importing this
checkout. The notebook keeps its worlds small; it still takes about a minute
of compiles on 2 CPU cores, so it runs in the suite's background lane
(tests/background.py: a child python drives nbclient and writes the executed
notebook) while the in-process tests run, and the test reads what it wrote.
Its install cell does nothing because the package is already importable here.
"""
from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from background import LANE, in_file

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "quickstart.ipynb"

EXECUTE = """
import sys
import nbformat
from nbclient import NotebookClient
notebook, workdir, out = sys.argv[1:]
nb = nbformat.read(notebook, as_version=4)
try:
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": workdir}}).execute()
finally:
    nbformat.write(nb, out)
"""


def _execute():
    """Run the notebook in a fresh directory: (workdir, executed notebook path, rc, stdout, stderr)."""
    if importlib.util.find_spec("nbclient") is None or importlib.util.find_spec("nbformat") is None:
        return None  # the test skips
    workdir = Path(tempfile.mkdtemp(prefix="nmmo-jax-notebook-"))
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    out = workdir.parent / f"{workdir.name}.executed.ipynb"
    atexit.register(lambda: out.unlink(missing_ok=True))
    # the kernel is a grandchild: JAX on the CPU, the session's fast XLA compiles (XLA_FLAGS, set by
    # tests/conftest.py), and this checkout importable, as every other subprocess of the suite has it
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    rc, stdout, stderr = LANE.run([sys.executable, "-c", EXECUTE, str(NOTEBOOK), str(workdir), str(out)],
                                  timeout=900, env=env, cwd=str(workdir))
    return workdir, out, rc, stdout, stderr


LANE.add("notebook", _execute, needed_by=in_file(__file__))


def test_quickstart_notebook_executes():
    nbformat = pytest.importorskip("nbformat", reason="pip install -e '.[dev]' (nbformat, nbclient, ipykernel)")
    pytest.importorskip("nbclient", reason="pip install -e '.[dev]' (nbformat, nbclient, ipykernel)")
    workdir, out, rc, stdout, stderr = LANE.result("notebook")
    assert rc == 0, f"the notebook failed (rc={rc}):\n{stderr[-6000:]}"
    nb = nbformat.read(out, as_version=4)
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {}) or "image/gif" in o.get("data", {})]
    assert len(images) >= 3, "expected a frame, a GIF and replay frames inline"
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "mean_lifetime=" in text and "random_mean_lifetime=" in text   # the evaluation cell printed
    assert list(workdir.glob("**/*.replay")), "the notebook writes a replay and opens it"
