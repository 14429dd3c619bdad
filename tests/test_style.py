"""The formatter and the linter report nothing, so style is never a review.

Both are configured in pyproject.toml: pyink at 80 columns with 2-space
indents, and ruff.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = ["amsga_jax", "experiments", "tests"]


FIXES = {
    "pyink": "pyink amsga_jax experiments tests",
    "ruff": "ruff check --fix amsga_jax experiments tests",
}


@pytest.mark.parametrize(
    "command",
    [
        ["pyink", "--check", "--quiet", *SOURCES],
        ["ruff", "check", "--quiet", *SOURCES],
    ],
    ids=["pyink", "ruff"],
)
def test_tool_reports_nothing(command):
  tool = command[0]
  pytest.importorskip(tool)

  completed = subprocess.run(
      [sys.executable, "-m", *command],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=300,
  )

  assert completed.returncode == 0, (
      f"{tool} found problems; `{FIXES[tool]}` mends most of them.\n"
      + completed.stdout[-4000:]
      + completed.stderr[-2000:]
  )
