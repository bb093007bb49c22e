"""The estimate of a run before it starts, for the app's preview: the files
prepared as `train` would, the model loaded, a calibration (cached per machine
and shape) and the plan of estimate.py, without training or writing a run."""

from __future__ import annotations

import tempfile

from textgen_core.config import TrainConfig
from textgen_core.kernels.precision import resolve
from textgen_core.train import distributed, estimate
from textgen_core.train.report import RunPaths
from textgen_core.train.run_precision import model_width


def estimate_run(paths, cfg: TrainConfig) -> estimate.Plan:
    """How long `train(paths, ..., cfg)` would take here (see Plan.message)."""
    import torch

    from textgen_core.train.run import _trainable_model, prepare_data
    from textgen_core.train.trainer import _steps, training_arguments

    cfg.validate()
    _, tokenizer, splits = prepare_data(paths, cfg, name_skipped=False)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    precision = resolve(cfg.precision, device, width=model_width(cfg))
    model = _trainable_model(cfg, tokenizer)
    with tempfile.TemporaryDirectory() as tmp:
        args = training_arguments(cfg, RunPaths(tmp), len(splits.train), precision)
    per_epoch, total = _steps(cfg, len(splits.train), distributed.world_size())
    calibration = estimate.calibrate(model, splits, cfg, args, precision)
    return estimate.plan(calibration, cfg, total, per_epoch, splits)
