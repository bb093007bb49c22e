"""--time-budget: the steps planned from the calibration, the time already spent
counted, re-fitted once from the run's own steps with the learning-rate decay
re-planned to end at the new last step, and the plan kept on --resume."""

from __future__ import annotations

import json
import signal
import time
from types import SimpleNamespace

import pytest
import torch
from support.runs import LEAN_CONFIG, weights
from transformers import TrainerCallback, get_linear_schedule_with_warmup

from textgen_core.config import DataConfig, TrainConfig
from textgen_core.train import budget, estimate
from textgen_core.train.budget import BudgetPlan, Schedule
from textgen_core.train.run import train

PEAK = 3e-3
NO_TEXT = SimpleNamespace(validation=[], test=[])  # splits whose scoring costs nothing


def calibration(step_s: float) -> estimate.Calibration:
    """Steps of `step_s` and nothing else costing any time."""
    return estimate.Calibration(step_s=step_s, eval_batch_s=0.0, eval_batch=16, save_s=0.0)


def test_the_plan_counts_the_time_already_spent_against_the_budget():
    cfg = TrainConfig(time_budget="7s", eval_steps=100, memorization_prompts=0, sample_tokens=0)
    assert estimate.plan(calibration(1.0), cfg, 50, 10, NO_TEXT).steps == 7
    spent = estimate.plan(calibration(1.0), cfg, 50, 10, NO_TEXT, spent=2.5)
    assert (spent.steps, spent.spent_seconds) == (4, 2.5)
    assert estimate.plan(calibration(1.0), cfg, 3, 10, NO_TEXT).steps == 3  # the epochs' bound


def test_costs_count_the_evaluations_the_trainer_makes_and_fit_the_most_steps():
    costs = estimate.Costs(step_s=1.0, evaluation_s=10.0, before_s=0.0, after_s=5.0)
    # 25 steps evaluated every 10: after steps 10, 20 and the last
    assert costs.ahead(0, 25, 10) == (3, 25 + 30 + 5)
    assert costs.ahead(12, 25, 10) == (2, 13 + 20 + 5)
    assert costs.fit(38, 12, 10, 100) == 25  # 26 steps would take 39 s
    assert costs.fit(4, 12, 10, 100) == 12  # not one more step fits


def test_the_schedule_without_a_refit_is_the_trainers_linear_one():
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    trainers = get_linear_schedule_with_warmup(optimizer, 3, 20).lr_lambdas[0]
    ours = Schedule(BudgetPlan(first_steps=20, warmup_steps=3, steps=20))
    assert [ours(s) for s in range(22)] == [trainers(s) for s in range(22)]


def test_a_refit_inside_the_warmup_keeps_it_and_decays_to_zero_at_the_new_last_step():
    plan = BudgetPlan(first_steps=100, warmup_steps=10, steps=160, refit_step=5)
    schedule, first = Schedule(plan), Schedule(BudgetPlan(100, 10, 100))
    assert [schedule(s) for s in range(11)] == [first(s) for s in range(11)]
    assert schedule(85) == pytest.approx(0.5)  # halfway from step 10 to step 160
    assert (schedule(159) > 0, schedule(160)) == (True, 0.0)


def test_a_refit_after_the_warmup_continues_from_the_rate_reached():
    plan = BudgetPlan(first_steps=20, warmup_steps=2, steps=40, refit_step=5)
    schedule, first = Schedule(plan), Schedule(BudgetPlan(20, 2, 20))
    assert [schedule(s) for s in range(6)] == [first(s) for s in range(6)]
    reached = first(5)
    assert schedule(6) == pytest.approx(reached * 34 / 35)
    assert schedule(40) == 0.0 and schedule(39) == pytest.approx(reached / 35)


def test_the_refit_comes_after_a_few_timed_steps_or_not_at_all_in_a_tiny_plan():
    assert [budget.refit_step(n) for n in (3, 4, 7, 100, 200, 10_000)] == [
        None, None, 5, 5, 10, 25,
    ]  # fmt: skip


def test_the_refit_leaves_out_the_slow_steps_a_run_starts_with(monkeypatch):
    """Steps of 10 s and 30 s, then 15 s each (a fresh process's second step is
    often its slowest): the re-fit after step 5 measures 15 s a step, not 18.75."""
    ends = iter([10.0, 40.0, 55.0, 70.0, 85.0])
    clock = SimpleNamespace(perf_counter=lambda: next(ends), time=time.time)
    monkeypatch.setattr(budget, "time", clock)  # budget's clock alone
    costs = estimate.Costs(step_s=60.0, evaluation_s=0.0, before_s=0.0, after_s=0.0)
    planned = estimate.Plan(
        steps=20, evaluations=1, seconds=1200.0, calibration=calibration(60.0),
        budget_seconds=1200.0, costs=costs, eval_every=100, ceiling=1000,
    )  # fmt: skip
    recorded = []
    keeper = budget.BudgetKeeper(BudgetPlan(20, 2, 20), planned, time.time(), recorded.append)
    state = SimpleNamespace(global_step=0, max_steps=20)
    control = SimpleNamespace(should_training_stop=False)
    for step in range(1, 6):
        state.global_step = step
        keeper.on_step_end(None, state, control)
    assert recorded[0].refit_step == 5
    assert recorded[0].measured_step_seconds == 15.0
    assert recorded[0].steps == state.max_steps > 20  # 15 s steps: more fit than 60 s ones


# A calibration of 60 s a step plans 9 steps for a 10-minute budget (the few
# seconds spent reading and loading leave 9 whole steps); the tiny model's real
# steps take a fraction of a second, so the re-fit after step 5 takes every step
# that --max-steps allows.
BUDGET = dict(time_budget="10m", max_steps=16, eval_steps=8, epochs=3)


def config(model) -> TrainConfig:
    return TrainConfig(
        model=str(model),
        lr=PEAK,
        early_stopping_patience=None,
        precision="fp32",
        data=DataConfig(chunk_size=64),
        **BUDGET,
        **LEAN_CONFIG,
    )


class InterruptAt(TrainerCallback):
    """Ctrl-C after `step`: the run saves a checkpoint there and stops."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            signal.raise_signal(signal.SIGINT)


def learning_rates(out) -> list[tuple[int, float]]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [(r["step"], r["lr"]) for r in map(json.loads, lines) if "lr" in r]


@pytest.fixture(scope="module")
def slow_calibration():
    patch = pytest.MonkeyPatch()
    patch.setattr(estimate, "calibrate", lambda *args: calibration(60.0))
    yield
    patch.undo()


@pytest.fixture(scope="module")
def budgeted(tmp_path_factory, tiny_model, corpus_dir, slow_calibration):
    out = tmp_path_factory.mktemp("budget") / "run"
    return out, train([corpus_dir], out, config(tiny_model))


def test_a_budgeted_run_refits_its_steps_from_its_own_step_time(budgeted):
    out, results = budgeted
    refit = results["budget_refit"]
    assert results["planned_steps"] == 9 and results["time_budget_seconds"] == 600
    assert refit["after_step"] == 5 and refit["calibrated_step_seconds"] == 60.0
    assert 0 < refit["measured_step_seconds"] < 60.0
    assert refit["steps"] == results["steps"] == 16
    assert results["wall_seconds"] >= results["run_seconds"] + results["setup_seconds"] - 1e-6
    recorded = json.loads((out / "textgen_run.json").read_text())
    assert recorded["planned_steps"] == 16
    assert recorded["budget_plan"]["refit_step"] == 5


def test_the_learning_rate_decays_to_zero_exactly_at_the_refitted_last_step(budgeted):
    out, _ = budgeted
    lrs = learning_rates(out)
    assert [s for s, _ in lrs] == list(range(1, 17))
    assert max(lr for _, lr in lrs) == pytest.approx(PEAK)  # the warmup reached its peak
    after = [lr for s, lr in lrs if s >= 6]
    assert all(a > b for a, b in zip(after, after[1:], strict=False))
    # One more equal decrement after the last step's rate reaches zero.
    (_, before_last), (_, last) = lrs[-2:]
    assert last > 0 and last == pytest.approx(before_last - last)


def test_a_budgeted_run_resumed_after_its_refit_continues_the_same_plan(
    budgeted, tmp_path, tiny_model, corpus_dir, slow_calibration
):
    from textgen_core.train.callbacks import TrainingInterrupted

    reference, want = budgeted
    out = tmp_path / "run"
    with pytest.raises(TrainingInterrupted, match="stopped at step 10"):
        train([corpus_dir], out, config(tiny_model), callbacks=[InterruptAt(10)])
    got = train([corpus_dir], out, config(tiny_model), resume=True)
    assert (got["steps"], got["planned_steps"]) == (16, 9)
    assert got["budget_refit"]["after_step"] == 5
    assert learning_rates(out) == learning_rates(reference)
    mine, theirs = weights(out), weights(reference)
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs)
