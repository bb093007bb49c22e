"""The estimate of a run before it starts, for the app's preview: the same
preamble as `train` (files prepared, precision, model, allocator setting), a
calibration (cached per machine and shape) and the plan of estimate.py,
without training or writing a run."""

from __future__ import annotations

import tempfile

from textgen_core.config import TrainConfig
from textgen_core.run_folder import RunPaths
from textgen_core.train import estimate


def estimate_run(paths, cfg: TrainConfig) -> estimate.Plan:
    """How long `train(paths, ..., cfg)` would take here (see Plan.message)."""
    from textgen_core.train.run import _plan, preamble

    cfg.validate()
    with tempfile.TemporaryDirectory() as tmp:
        out = RunPaths(tmp)
        _, tokenizer, splits, precision, _, _, model = preamble(paths, cfg, out, name_skipped=False)
        return _plan(model, tokenizer, splits, cfg, out, precision, None)[0]
