"""How long a run will take on this machine, and how many steps fit a budget.

A short calibration times what a run is made of, on this machine and in the
run's precision: a few training steps (forward, backward, clipping, the
Trainer's own optimizer) on a copy of the model, one evaluation batch and one
save of the weights. It is cached per machine and model shape (in
`$TEXTGEN_CACHE/calibration.json`, else ~/.cache/textgen). A cached
calibration is re-checked with one timed step: a machine that is busier (or
quieter) than when it was measured is calibrated again, since a shared or
loaded machine can run several times slower. The estimate is then arithmetic:

    steps x step + evaluations x (validation + checkpoint) + 2 x test scoring + save

`--time-budget` turns it around: the most steps for which that sum stays
within the budget (never more than the epochs or --max-steps allow).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import platform
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from textgen_core.config import TrainConfig, parse_duration
from textgen_core.cpuinfo import cpuinfo_field
from textgen_core.errors import TextgenError
from textgen_core.kernels.lm_loss import causal_lm_loss
from textgen_core.precision import autocast

CALIBRATION_STEPS = 2
"""Timed training steps (after one untimed warm-up step)."""

RECHECK_TOLERANCE = 1.25
"""A cached calibration stands while one fresh step takes between 1/1.25 and
1.25 times its cached time (the estimate's own target is within 25%)."""


@dataclass
class Calibration:
    step_s: float
    """One optimizer step (all accumulated micro-batches)."""
    eval_batch_s: float
    """One evaluation batch of `eval_batch` chunks."""
    eval_batch: int
    save_s: float
    """Writing the weights once (a checkpoint also writes the optimizer: ~3x)."""
    cached: bool = False
    stale_step_s: float | None = None
    """The cached step time that a fresh step disagreed with, when this
    calibration replaced it."""

    def describe(self) -> str:
        if self.cached:
            return ", calibration cached"
        if self.stale_step_s:
            return (
                f", calibrated again: a step takes {self.step_s / self.stale_step_s:.1f}x "
                f"the {self.stale_step_s:.2f} s cached"
            )
        return ""


@dataclass
class Plan:
    steps: int
    evaluations: int
    seconds: float
    calibration: Calibration
    budget_seconds: float | None = None

    def message(self) -> str:
        c = self.calibration
        minutes = self.seconds / 60
        when = f"about {minutes:.0f} min" if minutes >= 1.5 else f"about {self.seconds:.0f} s"
        budget = (
            f"; --time-budget {self.budget_seconds / 60:.3g} min sets {self.steps} steps"
            if self.budget_seconds
            else ""
        )
        return (
            f"estimate: {when} on this machine ({self.steps} steps x {c.step_s:.2f} s, "
            f"{self.evaluations} evaluations, test scoring"
            f"{c.describe()}){budget}"
        )


def _cache_file() -> Path:
    base = os.environ.get("TEXTGEN_CACHE") or Path.home() / ".cache" / "textgen"
    return Path(base) / "calibration.json"


def _machine() -> str:
    import torch

    cpu = cpuinfo_field("model name") or platform.processor()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else ""
    return f"{cpu}|{os.cpu_count()}|{torch.get_num_threads()}|{gpu}|{torch.__version__}"


def cache_key(model, cfg: TrainConfig, precision: str, eval_batch: int) -> str:
    """Machine, model shape and the settings that change a step's cost."""
    config = getattr(model, "config", None)
    shape = {
        k: getattr(config, k, None)
        for k in ("model_type", "n_layer", "n_embd", "n_head", "hidden_size", "vocab_size")
    }
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    parts = [
        _machine(),
        json.dumps(shape, sort_keys=True),
        str(trainable),
        str(cfg.batch_size),
        str(cfg.gradient_accumulation_steps),
        str(cfg.data.chunk_size),
        precision,
        str(eval_batch),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def _read_cache() -> dict:
    try:
        return json.loads(_cache_file().read_text())
    except (OSError, ValueError):
        return {}


def _write_cache(key: str, calibration: Calibration) -> None:
    entries = _read_cache()
    measured = asdict(calibration)
    entries[key] = {k: measured[k] for k in ("step_s", "eval_batch_s", "eval_batch", "save_s")}
    path = _cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(entries, indent=1))
        tmp.replace(path)
    except OSError:
        pass  # an estimate without a cache is still an estimate


def _batch(dataset, rows: int):
    import torch

    from textgen_core.train.batches import trim_padding

    n = min(rows, len(dataset))
    cols = dataset[:n]
    keys = ("input_ids", "attention_mask", "labels")
    return trim_padding({k: torch.as_tensor(cols[k]) for k in keys})


def time_training_step(
    model, batch: dict, args, precision: str, accumulation: int = 1, steps: int = CALIBRATION_STEPS
) -> float:
    """Median seconds of `steps` optimizer steps (after a warm-up) on a copy
    of `model` (the model and the global random state are left as they were)."""
    import torch
    from transformers import Trainer

    work = copy.deepcopy(model).train()
    optimizer_cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(args, work)
    optimizer = optimizer_cls([p for p in work.parameters() if p.requires_grad], **kwargs)
    device = next(work.parameters()).device
    batch = {k: v.to(device) for k, v in batch.items()}
    times = []
    with torch.random.fork_rng(devices=[]):
        for _ in range(1 + steps):
            start = time.perf_counter()
            for _ in range(accumulation):
                with autocast(precision, device):
                    loss = causal_lm_loss(work, **batch)
                loss.backward()
            torch.nn.utils.clip_grad_norm_(work.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def _time_eval_batch(model, batch: dict) -> float:
    from textgen_core.kernels.lm_loss import token_loss_sum

    model.eval()
    token_loss_sum(model, **batch)  # warm-up
    start = time.perf_counter()
    token_loss_sum(model, **batch)
    return time.perf_counter() - start


def _time_save(model) -> float:
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    seen, unique = set(), {}
    for k, v in state.items():  # tied weights are saved once
        if v.data_ptr() not in seen:
            seen.add(v.data_ptr())
            unique[k] = v
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        save_file(unique, os.path.join(tmp, "model.safetensors"))
        return time.perf_counter() - start


def calibrate(model, splits, cfg: TrainConfig, args, precision: str) -> Calibration:
    """The timings of a run of `model` with `cfg`, from the cache when this
    machine has measured this shape before and one fresh step agrees."""
    eval_batch = args.per_device_eval_batch_size
    key = cache_key(model, cfg, precision, eval_batch)
    saved = _read_cache().get(key)
    train_batch = _batch(splits.train, cfg.batch_size)
    accumulation = cfg.gradient_accumulation_steps
    if saved:
        fresh = time_training_step(model, train_batch, args, precision, accumulation, steps=1)
        if 1 / RECHECK_TOLERANCE <= fresh / saved["step_s"] <= RECHECK_TOLERANCE:
            return Calibration(**saved, cached=True)
    was_training = model.training
    calibration = Calibration(
        step_s=time_training_step(model, train_batch, args, precision, accumulation),
        eval_batch_s=_time_eval_batch(model, _batch(splits.validation, eval_batch)),
        eval_batch=eval_batch,
        save_s=_time_save(model),
        stale_step_s=saved["step_s"] if saved else None,
    )
    model.train(was_training)
    _write_cache(key, calibration)
    return calibration


def run_seconds(c: Calibration, steps: int, eval_every: int, val_chunks: int, test_chunks: int):
    """(evaluations, seconds) of a run of `steps` steps evaluating every `eval_every`."""
    evaluations = math.ceil(steps / max(1, min(eval_every, steps)))
    per_chunk = c.eval_batch_s / max(1, c.eval_batch)
    validation = math.ceil(val_chunks / c.eval_batch) * c.eval_batch
    test = math.ceil(test_chunks / 16) * 16  # evaluate_loss's default batch
    checkpoint = 3 * c.save_s  # weights + AdamW's two moments
    seconds = (
        steps * c.step_s
        + evaluations * (validation * per_chunk + checkpoint)
        + 2 * test * per_chunk  # the base model and the trained one
        + c.save_s
    )
    return evaluations, seconds


def plan(c: Calibration, cfg: TrainConfig, total_steps: int, per_epoch: int, splits) -> Plan:
    """The run's steps and time; with `cfg.time_budget`, the most steps (at
    most `total_steps`) whose estimated time fits the budget."""
    eval_every = cfg.eval_steps or per_epoch
    sizes = (len(splits.validation), len(splits.test))
    budget = parse_duration(cfg.time_budget) if cfg.time_budget else None
    steps = total_steps
    if budget is not None:
        if run_seconds(c, 1, eval_every, *sizes)[1] > budget:
            need = run_seconds(c, 1, eval_every, *sizes)[1]
            raise TextgenError(
                f"--time-budget {cfg.time_budget}: even one step with its evaluation and the "
                f"test scoring takes about {need:.0f} s here; give a longer budget"
            )
        low, high = 1, total_steps  # the largest step count that fits
        while low < high:
            mid = (low + high + 1) // 2
            low, high = (
                (mid, high)
                if run_seconds(c, mid, eval_every, *sizes)[1] <= budget
                else (
                    low,
                    mid - 1,
                )
            )
        steps = low
    evaluations, seconds = run_seconds(c, steps, eval_every, *sizes)
    return Plan(steps, evaluations, seconds, c, budget)
