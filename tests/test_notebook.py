"""Tests of the Colab notebook, `notebooks/amsga_colab.ipynb`.

The notebook is executed top to bottom on the CPU with nbclient in its
"test" setting (scikit-learn digits, layers of 32 units, two epochs per
layer), and the committed file is checked to hold no outputs. The execution
needs nbclient and ipykernel (the package's test extra) and is skipped
without them.
"""

import json
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO_ROOT / "notebooks" / "amsga_colab.ipynb"
CELL_TIMEOUT_SECONDS = 600


def load_notebook_json() -> dict:
  with open(NOTEBOOK, encoding="utf-8") as f:
    return json.load(f)


def test_committed_notebook_has_no_outputs():
  notebook = load_notebook_json()
  code_cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
  assert code_cells, "the notebook has no code cells"
  for number, cell in enumerate(code_cells, start=1):
    assert cell.get("outputs") == [], f"code cell {number} holds outputs"
    assert cell.get("execution_count") is None, (
        f"code cell {number} has execution_count"
        f" {cell.get('execution_count')}; strip it"
    )


def test_notebook_uses_the_setting_variable():
  notebook = load_notebook_json()
  sources = ["".join(c["source"]) for c in notebook["cells"]]
  assert any(
      'SETTING = os.environ.get("AMSGA_NOTEBOOK_SETTING", "quick")' in source
      for source in sources
  )


def cell_text(cell) -> str:
  """The stdout, stderr and plain-text results a cell printed."""
  parts = []
  for output in cell.get("outputs", []):
    if output["output_type"] == "stream":
      parts.append(output["text"])
    elif "data" in output:
      parts.append(output["data"].get("text/plain", ""))
  return "".join(parts)


def test_notebook_runs_in_test_setting(monkeypatch, tmp_path):
  nbformat = pytest.importorskip(
      "nbformat", reason="nbformat is not installed (pip install -e .[test])"
  )
  nbclient = pytest.importorskip(
      "nbclient", reason="nbclient is not installed (pip install -e .[test])"
  )
  pytest.importorskip(
      "ipykernel", reason="ipykernel is not installed (pip install -e .[test])"
  )

  # The kernel inherits this environment: the "test" setting, the CPU, and
  # the checkout importable whether or not the package is installed.
  monkeypatch.setenv("AMSGA_NOTEBOOK_SETTING", "test")
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
  python_path = os.environ.get("PYTHONPATH")
  monkeypatch.setenv(
      "PYTHONPATH",
      os.pathsep.join([str(REPO_ROOT), python_path])
      if python_path
      else str(REPO_ROOT),
  )
  monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "matplotlib"))
  # Compiling the runs' programs takes most of the time at this size; XLA's
  # unoptimised CPU backend compiles them about 40% faster.
  xla_flags = os.environ.get("XLA_FLAGS", "")
  monkeypatch.setenv(
      "XLA_FLAGS", f"{xla_flags} --xla_backend_optimization_level=0".strip()
  )

  notebook = nbformat.read(NOTEBOOK, as_version=4)
  client = nbclient.NotebookClient(
      notebook,
      kernel_name="python3",
      timeout=CELL_TIMEOUT_SECONDS,
      resources={"metadata": {"path": str(REPO_ROOT)}},
  )
  # Raises CellExecutionError, naming the cell, if any cell fails.
  client.execute()

  code_cells = [c for c in notebook.cells if c.cell_type == "code"]
  text = "\n".join(cell_text(cell) for cell in code_cells)
  assert "Setting: test" in text
  assert "match experiments/presets.py" in text
  assert "reused" in text  # The ablation reused the runs of step 5.
  images = sum(
      "image/png" in output.get("data", {})
      for cell in code_cells
      for output in cell.outputs
  )
  assert images == 5, f"expected 5 figures, the notebook drew {images}"
