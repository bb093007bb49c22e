"""Precision recorded and kept on --resume; the estimate printed before
training; a time budget too short for one step (test_time_budget.py has the rest)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from support.cli import logged
from support.runs import LEAN_CONFIG

from textgen_core.config import DataConfig, TrainConfig, parse_duration
from textgen_core.errors import TextgenError
from textgen_core.run_folder import RunPaths
from textgen_core.train import calibration_cache, estimate
from textgen_core.train.run import train
from textgen_core.train.run_precision import run_precision


def config(model, **overrides) -> TrainConfig:
    values = dict(
        model=str(model),
        epochs=2,
        lr=3e-3,
        max_steps=2,
        eval_steps=2,
        early_stopping_patience=None,
        precision="fp32",
        data=DataConfig(chunk_size=64),
        **LEAN_CONFIG,
    )
    return TrainConfig(**{**values, **overrides})


@pytest.fixture(scope="module")
def fp32_run(tmp_path_factory, tiny_model, corpus_dir):
    out = tmp_path_factory.mktemp("prec") / "out"
    with logged() as messages:
        results = train([corpus_dir], out, config(tiny_model))
    return out, results, messages


def test_precision_is_recorded_in_results_and_run_settings(fp32_run):
    out, results, _ = fp32_run
    assert results["precision"] == "fp32"
    assert json.loads((out / "results.json").read_text())["precision"] == "fp32"
    assert json.loads((out / "textgen_run.json").read_text())["config"]["precision"] == "fp32"
    assert "| precision | fp32 |" in (out / "README.md").read_text()


def test_resume_restores_the_recorded_precision_and_refuses_another(fp32_run, tiny_model):
    out, _, _ = fp32_run
    paths = RunPaths(out)
    assert run_precision(config(tiny_model, precision="auto"), paths, True, False) == "fp32"
    assert run_precision(config(tiny_model, precision="fp32"), paths, True, False) == "fp32"


def test_resume_in_another_precision_is_refused_without_force(fp32_run, tiny_model, corpus_dir):
    out, _, _ = fp32_run
    bf16 = config(tiny_model, precision="bf16", max_steps=4)
    from textgen_core.precision import cpu_bf16_native

    if not cpu_bf16_native():
        pytest.skip("bf16 needs a CPU with native bf16")
    with pytest.raises(
        TextgenError, match=r"--resume: settings differ .*precision: 'fp32' -> 'bf16'"
    ):
        train([corpus_dir], out, bf16, resume=True)


def test_estimate_is_printed_before_training_and_recorded(fp32_run):
    _, results, messages = fp32_run
    printed = [m for m in messages if m.startswith("estimate: about ")]
    assert len(printed) == 1 and "on this machine (2 steps x " in printed[0]
    assert results["estimated_seconds"] > 0 and results["run_seconds"] > 0
    assert results["time_budget_seconds"] is None


def test_calibration_is_cached_per_machine_and_shape(
    fp32_run, tiny_model, corpus_dir, tmp_path, monkeypatch
):
    out, _, _ = fp32_run
    cached = json.loads(calibration_cache.cache_file().read_text())
    assert cached and all(entry["step_s"] > 0 for entry in cached.values())
    # A tiny model's step lasts milliseconds, too noisy for the re-check's
    # tolerance; here the cache's plumbing is under test, the tolerance below.
    monkeypatch.setattr(estimate, "RECHECK_TOLERANCE", 1e9)
    with logged() as messages:
        train([corpus_dir], tmp_path / "again", config(tiny_model))
    assert any("calibration cached" in m for m in messages if m.startswith("estimate:"))


def prepared(cfg: TrainConfig, corpus_dir, tmp_path):
    """(model, splits, TrainingArguments) of a run of `cfg`, as train() prepares them."""
    from textgen_core.train.run import _trainable_model, prepare_data
    from textgen_core.train.trainer import training_arguments

    _, tokenizer, splits = prepare_data([corpus_dir], cfg)
    model = _trainable_model(cfg, tokenizer)
    args = training_arguments(cfg, RunPaths(tmp_path / "run"), len(splits.train), "fp32")
    return model, splits, args


def test_a_cached_calibration_is_redone_when_a_fresh_step_disagrees(
    monkeypatch, tiny_model, corpus_dir, tmp_path
):
    cfg = config(tiny_model)
    model, splits, args = prepared(cfg, corpus_dir, tmp_path)
    monkeypatch.setenv("TEXTGEN_CACHE", str(tmp_path / "cache"))
    # Each call's timed steps: a calibration's median counts, a re-check's fastest;
    # the slow first step after the warm-up (9 s) counts in neither.
    step_times = iter([[9.0, 2.0, 1.9], [9.0, 2.4], [9.0, 7.0], [7.0, 7.0, 9.0]])
    monkeypatch.setattr(estimate, "training_step_times", lambda *a, **k: next(step_times))

    first = estimate.calibrate(model, splits, cfg, args, "fp32")
    assert (first.step_s, first.cached) == (2.0, False)
    within = estimate.calibrate(model, splits, cfg, args, "fp32")  # 2.4 s: within 25%
    assert (within.step_s, within.cached) == (2.0, True)
    assert "calibration cached" in within.describe()
    busier = estimate.calibrate(model, splits, cfg, args, "fp32")  # 7 s: 3.5x the cached
    assert (busier.step_s, busier.cached, busier.stale_step_s) == (7.0, False, 2.0)
    assert "calibrated again: a step takes 3.5x the 2.00 s cached" in busier.describe()
    assert [
        e["step_s"] for e in json.loads(calibration_cache.cache_file().read_text()).values()
    ] == [7.0]


@pytest.mark.parametrize("slow_steps", [1, 2])
def test_slow_steps_after_the_warm_up_do_not_set_the_calibrated_step(
    slow_steps, monkeypatch, tiny_model, corpus_dir, tmp_path
):
    """A fresh process's first steps after the warm-up can take almost twice the
    steps after them (memory faulting in), one of them or two: the calibrated step
    is the steady one."""
    import time

    from textgen_core.kernels.lm_loss import causal_lm_loss

    cfg = config(tiny_model)
    model, splits, args = prepared(cfg, corpus_dir, tmp_path)
    calls = []

    def loss_with_slow_first_timed_steps(*a, **k):
        calls.append(1)
        if 2 <= len(calls) <= 1 + slow_steps:  # the first timed steps
            time.sleep(1.5)
        return causal_lm_loss(*a, **k)

    monkeypatch.setattr(estimate, "causal_lm_loss", loss_with_slow_first_timed_steps)
    assert estimate.time_training_step(model, estimate._batch(splits.train, 4), args, "fp32") < 0.5
    # the warm-up, then at least three timed and one more for each slow step after
    # the first (its last two disagree), five at most
    assert estimate.CALIBRATION_STEPS + slow_steps <= len(calls)
    assert len(calls) <= 1 + estimate.CALIBRATION_MAX_STEPS


def test_the_calibration_times_steps_until_two_agree(monkeypatch, tiny_model, corpus_dir, tmp_path):
    """Steps that take (on a fake clock) 20 s for the warm-up, then 16, 15, 8.5, 8.4,
    8.3 s: timed until the last two agree within 10%, and the median of the last
    three kept, 8.5 s (the median of the first three, 15 s, was 77% over)."""
    cfg = config(tiny_model)
    model, splits, args = prepared(cfg, corpus_dir, tmp_path)
    durations = iter([20.0, 16.0, 15.0, 8.5, 8.4, 8.3])
    now, ends = [0.0], [False]

    def perf_counter():  # called at each step's start, then at its end
        if ends[0]:
            now[0] += next(durations)
        ends[0] = not ends[0]
        return now[0]

    monkeypatch.setattr(estimate, "time", SimpleNamespace(perf_counter=perf_counter))
    times = estimate.calibration_step_times(model, estimate._batch(splits.train, 4), args, "fp32")
    assert times == pytest.approx([16.0, 15.0, 8.5, 8.4])
    assert estimate.calibrated_step(times) == pytest.approx(8.5)


@pytest.mark.parametrize("lora", [False, True])
def test_timing_steps_leaves_the_weights_bit_for_bit_and_the_random_state(
    lora, tiny_model, corpus_dir, tmp_path
):
    """The calibration's steps run on the model itself (no copy held beside it) with
    the Trainer's optimizer at a learning rate of 0: after them every weight has
    the same bits, no gradient is left, and the random numbers go on as before."""
    import torch

    from textgen_core.config import LoraConfig

    cfg = config(tiny_model, lora=LoraConfig() if lora else None)
    model, splits, args = prepared(cfg, corpus_dir, tmp_path)
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()

    assert estimate.time_training_step(model, estimate._batch(splits.train, 4), args, "fp32") > 0
    after = model.state_dict()
    assert before.keys() == after.keys()
    for name, weights in before.items():  # the bytes (this model holds no -0.0)
        assert weights.view(torch.uint8).equal(after[name].view(torch.uint8)), name
    assert all(p.grad is None for p in model.parameters())
    assert not model.training  # its mode too
    assert torch.equal(torch.get_rng_state(), rng)


def test_budget_too_short_for_one_step_is_refused(monkeypatch, tiny_model, corpus_dir, tmp_path):
    fixed = estimate.Calibration(step_s=30.0, eval_batch_s=0.0, eval_batch=16, save_s=0.0)
    monkeypatch.setattr(estimate, "calibrate", lambda *args: fixed)
    cfg = config(tiny_model, max_steps=None, time_budget="10s")
    with pytest.raises(TextgenError, match="--time-budget 10s: even one step"):
        train([corpus_dir], tmp_path / "short", cfg)


def test_time_budget_durations_parse_and_bad_ones_name_the_flag():
    assert parse_duration("30m") == 1800 and parse_duration("1h30m") == 5400
    assert parse_duration("90s") == 90 and parse_duration("45") == 45
    with pytest.raises(TextgenError, match="--time-budget: 'soon' is not a duration"):
        TrainConfig(time_budget="soon").validate()
