"""A time budget kept by the run itself, not only planned before it.

Before training, estimate.py sets the step count from a calibration: a few
steps timed at one moment. The run's own steps go at another speed (on a
shared machine the same step took 0.7-1.5x its calibrated time, BENCHMARKS.md),
so the run re-fits the count once, from its own steps: after REFIT_SHARE of
the planned steps (at least REFIT_MIN_STEPS, at most REFIT_MAX_STEPS), the
mean of its timed steps (the first two left out, UNTIMED_STEPS, and so is any
step holding an evaluation or a checkpoint) replaces the calibrated step time, and
the step count becomes the most for which the time already spent plus the
rest of the run (`estimate.Costs.ahead`: steps, evaluations, saving, test
scoring, the memorization report) fits the budget. Re-fitting once, not at
every step, keeps the learning-rate schedule a schedule: `Schedule` is the
Trainer's linear warmup and decay, with the decay re-planned at the re-fit so
that it still ends at the (new) last step.

The plan is recorded in the run's settings (textgen_run.json: planned_steps,
budget_plan), and a resumed run continues it: same steps, same schedule, no
second re-fit.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from transformers import TrainerCallback

from textgen_core.train import distributed
from textgen_core.train.estimate import Plan

REFIT_SHARE = 0.05
REFIT_MIN_STEPS = 5
REFIT_MAX_STEPS = 25
"""Steps taken before the re-fit: 5% of the plan, bounded so that a short run
still times three steps after its untimed ones, and a long one re-fits within a
minute or so of steps (and, from 100 planned steps up, inside the default 10%
warmup, so the decay is set before it starts)."""

UNTIMED_STEPS = 2
"""A run's first steps left out of its measured step time: the first sets up the
optimizer's moments, and the second is often the slowest of the run as new memory
faults in (fully fine-tuned Qwen2.5-0.5B in bf16: 21.3 s, 28.8 s, then 14.4-14.7 s;
Qwen3-0.6B: 27.3, 41.8, then 18.6-20.5 s; BENCHMARKS.md). Counted in, it made the
measured step 20% or more too long after a short plan's first five steps."""


@dataclass
class BudgetPlan:
    """A budgeted run's steps: as planned before training, and as re-fitted."""

    first_steps: int
    """The steps planned from the calibration."""
    warmup_steps: int
    steps: int
    """The steps the run takes (the re-fitted count once re-fitted)."""
    refit_step: int | None = None
    """The step after which the count was re-fitted; None before."""
    calibrated_step_seconds: float | None = None
    measured_step_seconds: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def refit_figures(self) -> dict | None:
        """results.json's `budget_refit`; None before a re-fit."""
        if self.refit_step is None:
            return None
        return {
            "after_step": self.refit_step,
            "calibrated_step_seconds": self.calibrated_step_seconds,
            "measured_step_seconds": self.measured_step_seconds,
            "steps": self.steps,
        }

    @classmethod
    def from_dict(cls, values: dict) -> BudgetPlan:
        return cls(**values)


class Schedule:
    """The Trainer's linear schedule (warmup to the peak rate, then a linear
    decay to 0 at the last step) as a factor of the peak rate per step, with
    its decay re-planned at the re-fit: from the rate reached then (the peak,
    when the re-fit comes inside the warmup) to 0 at the re-fitted last step.
    Without a re-fit it is exactly transformers' get_linear_schedule_with_warmup."""

    def __init__(self, plan: BudgetPlan):
        self.plan = plan

    def _first(self, step: int) -> float:
        warmup, total = self.plan.warmup_steps, self.plan.first_steps
        if step < warmup:
            return step / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    def __call__(self, step: int) -> float:
        plan = self.plan
        if plan.refit_step is None or step <= plan.refit_step or step < plan.warmup_steps:
            return self._first(step)
        start = max(plan.refit_step, plan.warmup_steps)
        return max(0.0, self._first(start) * (plan.steps - step) / max(1, plan.steps - start))


def refit_step(planned: int) -> int | None:
    """After which step the count is re-fitted; None when the plan is too
    short to time at least two steps after the untimed ones and still run one."""
    step = min(REFIT_MAX_STEPS, max(REFIT_MIN_STEPS, math.ceil(REFIT_SHARE * planned)))
    step = min(step, planned - 1)
    return step if step >= UNTIMED_STEPS + 2 else None


class BudgetKeeper(TrainerCallback):
    """Holds the Trainer to `plan.steps` (the Trainer itself may run up to the
    epochs' or --max-steps' count) and, when `refit`, re-fits that count once,
    after `refit_step(plan.first_steps)` steps, so that the run started at
    `started` (time.time()) ends within `estimate.budget_seconds`. On the main
    process `record(plan)` receives the re-fitted plan."""

    def __init__(
        self,
        plan: BudgetPlan,
        estimate: Plan,
        started: float,
        record: Callable[[BudgetPlan], None],
        refit: bool = True,
    ):
        self.plan, self.estimate, self.started, self.record = plan, estimate, started, record
        self.at = refit_step(plan.first_steps) if refit and plan.refit_step is None else None
        self.step_times: list[float] = []
        self.last_end: float | None = None
        self.steps_seen = 0

    def on_train_begin(self, args, state, control, **kwargs):
        state.max_steps = self.plan.steps
        if state.global_step >= self.plan.steps:
            control.should_training_stop = True
        if self.at is not None and state.global_step >= self.at:
            self.at = None  # resumed past the re-fit point: the plan stands

    def on_evaluate(self, args, state, control, **kwargs):
        self.last_end = None  # the next interval holds an evaluation: not a step's time

    def on_save(self, args, state, control, **kwargs):
        self.last_end = None

    def on_step_end(self, args, state, control, lr_scheduler=None, **kwargs):
        now = time.perf_counter()
        self.steps_seen += 1
        if self.last_end is not None and self.steps_seen > UNTIMED_STEPS:
            self.step_times.append(now - self.last_end)
        self.last_end = now
        if self.at is None or state.global_step < self.at:
            return
        self.at = None
        if len(self.step_times) < 2:
            return
        self._refit(state)
        state.max_steps = self.plan.steps
        if state.global_step >= self.plan.steps:  # the budget is already spent
            control.should_training_stop = True
            control.should_evaluate = control.should_save = True

    def _refit(self, state) -> None:
        done = state.global_step

        def fitted() -> BudgetPlan:
            measured = sum(self.step_times) / len(self.step_times)
            planned = self.estimate
            costs = dataclasses.replace(planned.costs, step_s=measured)
            left = planned.budget_seconds - (time.time() - self.started)
            steps = costs.fit(left, done, planned.eval_every, planned.ceiling)
            return BudgetPlan(**{**self.plan.to_dict(), "steps": steps, "refit_step": done,
                                 "measured_step_seconds": measured})  # fmt: skip

        # Every process must stop at the same step: the main process decides.
        # In place: the learning-rate Schedule reads this same plan.
        vars(self.plan).update(vars(distributed.on_main(fitted)))
        if distributed.is_main():
            self.record(self.plan)
