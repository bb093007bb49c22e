"""A trained tiny run to export: a 2-layer, 32-wide GPT-2 fitted for two epochs on
real verse, so its greedy choices have clear margins (an untrained model's near-ties
would make greedy text depend on the last bit of rounding)."""

from __future__ import annotations

import pytest
from runners import LEAN_CONFIG

from textgen_core.config import DataConfig, TrainConfig
from textgen_core.train.run import train


def tiny_config(model, **overrides) -> TrainConfig:
    values = dict(
        model=str(model),
        epochs=2,
        lr=3e-3,
        batch_size=8,
        early_stopping_patience=None,
        data=DataConfig(chunk_size=64),
        **LEAN_CONFIG,
    )
    return TrainConfig(**{**values, **overrides})


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, tiny_model, corpus_dir):
    out = tmp_path_factory.mktemp("export_run") / "run"
    train([corpus_dir], out, tiny_config(tiny_model))
    return out
