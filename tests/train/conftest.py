"""The uninterrupted `textgen train` run that the fault and sample tests compare their
interrupted runs with, trained once for all of them (only ever read or copied)."""

from __future__ import annotations

import json
import subprocess

import pytest
from support.runs import cli_train
from support.shared import built_once


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory, corpus_dir, tiny_model):
    """(run folder, finished process) of `cli_train(..., samples=True)`: 54 steps, a
    checkpoint and samples every 5 steps, no memorization report."""

    def train(folder):
        done = cli_train(folder / "run", corpus_dir, tiny_model, samples=True)
        assert done.returncode == 0, done.stderr
        process = {"args": list(map(str, done.args)), "stdout": done.stdout, "stderr": done.stderr}
        (folder / "process.json").write_text(json.dumps(process))

    folder = built_once(tmp_path_factory, "reference", train)
    process = json.loads((folder / "process.json").read_text())
    return folder / "run", subprocess.CompletedProcess(returncode=0, **process)
