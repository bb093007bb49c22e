"""The layer contract in pyproject.toml (run by `make lint`) holds for the tree,
and fails as soon as a lower layer imports a higher one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    lint = Path(sys.executable).parent / "lint-imports"
    return subprocess.run(
        [str(lint), "--config", str(REPO / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_tree_keeps_its_layers():
    done = lint_imports(REPO)
    assert done.returncode == 0, done.stdout[-3000:]


def test_an_upward_import_breaks_the_contract(tmp_path):
    shutil.copytree(REPO / "textgen_core", tmp_path / "textgen_core")
    tokens = tmp_path / "textgen_core" / "data" / "tokens.py"
    tokens.write_text(tokens.read_text() + "\nfrom textgen_core.train import report  # upward\n")
    done = lint_imports(tmp_path)
    assert done.returncode != 0
    assert "textgen_core.data is not allowed to import textgen_core.train" in done.stdout
