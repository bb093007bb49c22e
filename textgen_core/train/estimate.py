"""How long a run will take on this machine, and how many steps fit a budget.

A short calibration times what a run is made of, on this machine and in the
run's precision: a few training steps (forward, backward, clipping, the
Trainer's own optimizer at a learning rate of 0: see training_step_times), one
evaluation batch, one save of the weights, and decoding (a sample's tokens one
row at a time, and the memorization report's rows together). It is cached per
machine and model shape (calibration_cache.py). A cached
calibration is re-checked with two timed steps: a machine that is busier (or
quieter) than when it was measured is calibrated again, since a shared or
loaded machine can run several times slower. The estimate is then arithmetic
(`Costs`):

    before training: test scoring + samples
    + steps x step + evaluations x (validation + checkpoint + samples)
    + after training: save + test scoring + memorization report

`--time-budget` turns it around: the most steps for which the whole call,
the time already spent preparing the data and calibrating included, stays
within the budget (never more than the epochs or --max-steps allow). The
run re-fits that count once from its own first steps (budget.py).
"""

from __future__ import annotations

import copy
import math
import os
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass

from textgen_core.config import TrainConfig, parse_duration
from textgen_core.errors import TextgenError
from textgen_core.kernels.frozen_bf16 import bf16_steps
from textgen_core.kernels.lm_loss import causal_lm_loss
from textgen_core.precision import autocast
from textgen_core.train import calibration_cache

CALIBRATION_STEPS = 3
"""Timed training steps (after one untimed warm-up step) a calibration takes at
least; the median of the last three counts. A fresh process's first step after
the warm-up is often the slowest, the new memory of the gradients beside the
optimizer's moments faulting in (fully fine-tuned Qwen2.5-0.5B: 24.9 s, then 15.3,
13.9, 13.9): the median of three drops it, where the median of two (their mean)
was 38-55% high."""

CALIBRATION_MAX_STEPS = 5
SETTLED = 1.10
"""A calibration times more steps, up to CALIBRATION_MAX_STEPS, while its last two
differ by more than 10%: the slow start can last two timed steps (a fully
fine-tuned Gemma-3-270M's calibration was 31% over its steady step), and the
median of the last three then still drops them."""

RECHECK_STEPS = 2
"""Timed steps of a cached calibration's re-check, of which the faster counts
(the slow first one again dropped)."""

RECHECK_TOLERANCE = 1.25
"""A cached calibration stands while a fresh step (the faster of RECHECK_STEPS)
takes between 1/1.25 and 1.25 times its cached time (the estimate's own target is
within 25%)."""


@dataclass
class Calibration:
    step_s: float
    """One optimizer step (all accumulated micro-batches)."""
    eval_batch_s: float
    """One evaluation batch of `eval_batch` chunks."""
    eval_batch: int
    save_s: float
    """Writing the weights once (a checkpoint also writes the optimizer: ~3x)."""
    sample_token_s: float = 0.0
    """One new token of one sample (a row decoded alone)."""
    decode_step_s: float = 0.0
    """One new token of each of the memorization report's rows, decoded together."""
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
class Costs:
    """Seconds of the parts of a run, from which plans and re-fits are made."""

    step_s: float
    evaluation_s: float
    """One evaluation: validation, its checkpoint and the samples after it."""
    before_s: float
    """Before the first step: scoring the base model and its samples."""
    after_s: float
    """After the last step: saving, scoring the trained model, the memorization report."""

    def ahead(self, done: int, steps: int, eval_every: int) -> tuple[int, float]:
        """(evaluations, seconds) from the end of step `done` to the end of a run
        of `steps` steps that evaluates every `eval_every` steps and at its last."""
        if steps <= done:
            return 0, self.after_s
        evaluations = steps // eval_every - done // eval_every + (steps % eval_every != 0)
        return evaluations, (
            (steps - done) * self.step_s + evaluations * self.evaluation_s + self.after_s
        )

    def fit(self, seconds: float, done: int, eval_every: int, ceiling: int) -> int:
        """The most steps (from `done` to `ceiling`) whose rest takes at most
        `seconds`; `done` when not even one more step fits."""
        low, high = done, max(done, ceiling)
        while low < high:
            mid = (low + high + 1) // 2
            low, high = (
                (mid, high) if self.ahead(done, mid, eval_every)[1] <= seconds else (low, mid - 1)
            )
        return low


@dataclass
class Plan:
    steps: int
    evaluations: int
    seconds: float
    """Scoring the base model to the end of the memorization report."""
    calibration: Calibration
    budget_seconds: float | None = None
    costs: Costs | None = None
    eval_every: int = 1
    ceiling: int = 0
    """The most steps the epochs or --max-steps allow."""
    spent_seconds: float = 0.0
    """Already spent before the estimate: reading the data, loading, calibrating."""

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


def _batch(dataset, rows: int):
    import torch

    from textgen_core.train.batches import trim_padding

    n = min(rows, len(dataset))
    cols = dataset[:n]
    keys = ("input_ids", "attention_mask", "labels")
    return trim_padding({k: torch.as_tensor(cols[k]) for k in keys})


def time_training_step(model, batch: dict, args, precision: str, accumulation: int = 1) -> float:
    """Seconds of one optimizer step, as a calibration times and keeps it (see
    calibration_step_times and calibrated_step)."""
    return calibrated_step(calibration_step_times(model, batch, args, precision, accumulation))


def calibration_step_times(
    model, batch: dict, args, precision: str, accumulation: int = 1
) -> list[float]:
    """A calibration's timed steps: CALIBRATION_STEPS, and more until the last two
    agree (SETTLED) or CALIBRATION_MAX_STEPS are timed."""
    return training_step_times(
        model, batch, args, precision, accumulation, CALIBRATION_STEPS, CALIBRATION_MAX_STEPS
    )


def calibrated_step(times: list[float]) -> float:
    """The step time a calibration keeps from its timed steps: the median of the
    last CALIBRATION_STEPS."""
    return statistics.median(times[-CALIBRATION_STEPS:])


def training_step_times(
    model, batch: dict, args, precision: str, accumulation: int, steps: int, most: int = 0
) -> list[float]:
    """Seconds of each of `steps` optimizer steps (after an untimed warm-up), and of
    more, up to `most`, while the last two differ by more than SETTLED; leaving
    the model's weights and the global random state as they were. Where
    the Trainer's optimizer is torch's AdamW, Adam or SGD the steps run on `model`
    itself at a learning rate of 0 (the same work; every weight keeps its bits, but
    for a -0.0 that can turn +0.0, and a step whose gradients are not finite is
    skipped): no copy of the model is held beside it, a whole model's size off the
    run's peak memory. Other optimizers step a copy."""
    import torch
    from transformers import Trainer

    optimizer_cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(args, model)
    in_place = optimizer_cls in (torch.optim.AdamW, torch.optim.Adam, torch.optim.SGD)
    was_training = model.training
    work = (model if in_place else copy.deepcopy(model)).train()
    trainable = [p for p in work.parameters() if p.requires_grad]
    optimizer = optimizer_cls(trainable, **({**kwargs, "lr": 0.0} if in_place else kwargs))
    device = next(work.parameters()).device
    batch = {k: v.to(device) for k, v in batch.items()}
    times = []
    with torch.random.fork_rng(devices=[]), bf16_steps(work, precision):
        while len(times) < 1 + steps or (len(times) < 1 + most and not _settled(times[-2:])):
            start = time.perf_counter()
            for _ in range(accumulation):
                with autocast(precision, device):
                    loss = causal_lm_loss(work, **batch)
                loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(work.parameters(), 1.0)
            if torch.isfinite(norm):
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    model.train(was_training)
    return times[1:]


def _settled(last_two: list[float]) -> bool:
    return max(last_two) <= SETTLED * min(last_two)


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


DECODE_TOKENS = 8
"""New tokens timed for each decoding figure (after a one-token warm-up)."""


def _time_decoding(model, tokenizer, splits, cfg: TrainConfig) -> tuple[float, float]:
    """(seconds per new token of one sample, seconds per new token of the
    memorization report's rows decoded together), each 0 when the run takes none."""
    import torch

    from textgen_core.config import GenerateConfig
    from textgen_core.generate.sampling import generate
    from textgen_core.quality.memorization import PROMPT_TOKENS, continue_prompts

    ids = _batch(splits.validation, 1)["input_ids"][0, :PROMPT_TOKENS].tolist()
    sample = memorization = 0.0
    was_training = model.training
    model.eval()
    with torch.random.fork_rng(devices=[]):
        if cfg.sample_tokens:
            prompt = tokenizer.decode(ids)
            generate(model, tokenizer, prompt, GenerateConfig(max_new_tokens=1, seed=0))
            start = time.perf_counter()
            generate(model, tokenizer, prompt, GenerateConfig(max_new_tokens=DECODE_TOKENS, seed=0))
            sample = (time.perf_counter() - start) / DECODE_TOKENS
        if cfg.memorization_prompts:
            rows = [ids] * cfg.memorization_prompts
            continue_prompts(model, tokenizer, rows, GenerateConfig(max_new_tokens=1, stop=[]))
            start = time.perf_counter()
            decode = GenerateConfig(max_new_tokens=DECODE_TOKENS, seed=0, stop=[])
            continue_prompts(model, tokenizer, rows, decode)
            memorization = (time.perf_counter() - start) / DECODE_TOKENS
    model.train(was_training)
    return sample, memorization


def calibrate(model, splits, cfg: TrainConfig, args, precision: str, tokenizer=None) -> Calibration:
    """The timings of a run of `model` with `cfg`, from the cache when this
    machine has measured this shape before and one fresh step agrees (the
    decoding figures need `tokenizer`; without it they are 0)."""
    eval_batch = args.per_device_eval_batch_size
    key = calibration_cache.key(model, cfg, precision, eval_batch)
    saved = calibration_cache.read().get(key)
    train_batch = _batch(splits.train, cfg.batch_size)
    accumulation = cfg.gradient_accumulation_steps
    if saved:
        fresh = min(
            training_step_times(model, train_batch, args, precision, accumulation, RECHECK_STEPS)
        )
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
    if tokenizer is not None:
        calibration.sample_token_s, calibration.decode_step_s = _time_decoding(
            model, tokenizer, splits, cfg
        )
    model.train(was_training)
    calibration_cache.write(key, asdict(calibration))
    return calibration


def costs(c: Calibration, cfg: TrainConfig, splits, score_test: bool = True) -> Costs:
    """What each part of a run of `cfg` on `splits` costs, from calibration `c`."""
    from textgen_core.quality.memorization import CONTINUATION_TOKENS
    from textgen_core.train.sample_callback import DEFAULT_PROMPTS

    per_chunk = c.eval_batch_s / max(1, c.eval_batch)
    validation = math.ceil(len(splits.validation) / c.eval_batch) * c.eval_batch * per_chunk
    # evaluate_loss's default batch of 16 chunks
    test = math.ceil(len(splits.test) / 16) * 16 * per_chunk if score_test else 0.0
    prompts = len(cfg.sample_prompts) or DEFAULT_PROMPTS
    samples = prompts * cfg.sample_tokens * c.sample_token_s
    report = CONTINUATION_TOKENS * c.decode_step_s if score_test else 0.0
    return Costs(
        step_s=c.step_s,
        evaluation_s=validation + 3 * c.save_s + samples,  # checkpoint: weights + AdamW's moments
        before_s=test + samples,
        after_s=c.save_s + test + report,
    )


def plan(
    c: Calibration,
    cfg: TrainConfig,
    total_steps: int,
    per_epoch: int,
    splits,
    *,
    spent: float = 0.0,
    score_test: bool = True,
) -> Plan:
    """The run's steps and time; with `cfg.time_budget`, the most steps (at
    most `total_steps`) whose estimated time fits what is left of the budget
    after the `spent` seconds."""
    eval_every = max(1, cfg.eval_steps or per_epoch)
    parts = costs(c, cfg, splits, score_test)
    budget = parse_duration(cfg.time_budget) if cfg.time_budget else None
    steps = total_steps
    if budget is not None:
        left = budget - spent - parts.before_s
        steps = parts.fit(left, 0, eval_every, total_steps)
        if steps == 0:
            need = spent + parts.before_s + parts.ahead(0, 1, eval_every)[1]
            raise TextgenError(
                f"--time-budget {cfg.time_budget}: even one step with its evaluation and the "
                f"test scoring takes about {need:.0f} s here; give a longer budget"
            )
    evaluations, seconds = parts.ahead(0, steps, eval_every)
    return Plan(
        steps,
        evaluations,
        parts.before_s + seconds,
        c,
        budget,
        costs=parts,
        eval_every=eval_every,
        ceiling=total_steps,
        spent_seconds=spent,
    )
