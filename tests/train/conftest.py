"""The uninterrupted `textgen train` run that the fault and sample tests compare their
interrupted runs with, trained once for all of them (only ever read or copied)."""

from __future__ import annotations

import pytest
from support.runs import cli_train


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory, corpus_dir, tiny_model):
    """(run folder, finished process) of `cli_train(..., samples=True)`: 54 steps, a
    checkpoint and samples every 5 steps, no memorization report."""
    out = tmp_path_factory.mktemp("reference") / "run"
    done = cli_train(out, corpus_dir, tiny_model, samples=True)
    assert done.returncode == 0, done.stderr
    return out, done
