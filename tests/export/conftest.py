"""A trained tiny run to export: a 2-layer, 32-wide GPT-2 fitted for two epochs on
real verse, so its greedy choices have clear margins (an untrained model's near-ties
would make greedy text depend on the last bit of rounding)."""

from __future__ import annotations

import pytest
from support.runs import tiny_config

from textgen_core.train.run import train


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, tiny_model, corpus_dir):
    out = tmp_path_factory.mktemp("export_run") / "run"
    train([corpus_dir], out, tiny_config(tiny_model))
    return out
