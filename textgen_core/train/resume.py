"""Where a run starts: a fresh output folder, or the run recorded there to resume
(its settings compared with these, its last complete checkpoint, its time-budget
plan), and the run record written before training."""

from __future__ import annotations

import logging
from pathlib import Path

from textgen_core import run_folder
from textgen_core.config import TrainConfig
from textgen_core.errors import TextgenError
from textgen_core.quality.samples import truncate_samples
from textgen_core.run_folder import RunPaths
from textgen_core.train import checkpoints, distributed
from textgen_core.train.budget import BudgetPlan
from textgen_core.train.run_precision import legacy_precision

logger = logging.getLogger(__name__)


def check_output(out: RunPaths, resume: bool) -> None:
    if resume and not out.record.exists() and checkpoints.all_checkpoints(out.checkpoints):
        return  # checkpoints from the Hub: nothing recorded locally to compare with
    if not resume and (out.record.exists() or checkpoints.all_checkpoints(out.checkpoints)):
        raise TextgenError(
            f"--output {out.root}: already holds a training run; "
            "pass --resume to continue it, or choose another --output"
        )
    if resume and not out.record.exists():
        raise TextgenError(
            f"--resume: {out.root} holds no run to resume; start it without --resume"
        )


def resume_point(out: RunPaths, record: dict, force: bool) -> Path | None:
    saved = run_folder.read_json(out.record) if out.record.exists() else record
    saved.setdefault("processes", 1)  # recorded before runs could have several
    saved.setdefault("config", {}).setdefault("precision", legacy_precision())
    saved["config"] = with_new_defaults(saved.get("config"))
    keys = ("config", "data_fingerprint", "processes")
    changed = [key for key in keys if saved.get(key) != record.get(key)]
    if changed and not force:
        before, after = saved.get("config", {}), record["config"]
        diffs = [
            f"{k}: {before.get(k)!r} -> {after.get(k)!r}"
            for k in after
            if before.get(k) != after.get(k)
        ]
        if "data_fingerprint" in changed:
            diffs.append("the training files changed")
        if "processes" in changed:  # another batch split and data order
            diffs.append(f"processes: {saved['processes']} -> {record['processes']}")
        raise TextgenError(
            f"--resume: settings differ from the run in {out.root} ({'; '.join(diffs)}); "
            "use the same settings, or add --force"
        )
    latest = checkpoints.resume_point(out.checkpoints, fall_back=force)
    if latest is None:
        logger.warning(
            f"no complete checkpoint in {out.checkpoints}; training starts from the beginning"
        )
        return None
    if distributed.is_main():
        run_folder.truncate_metrics(out.metrics, checkpoints.step_of(latest))
        truncate_samples(out.samples, checkpoints.step_of(latest))
    return latest


def with_new_defaults(config: dict | None) -> dict | None:
    """A run's recorded settings with the defaults of settings added since it
    was recorded, so that adding a setting does not make old runs unresumable."""
    try:
        return TrainConfig.from_dict(config).to_dict()
    except (TypeError, ValueError, AttributeError):
        return config  # written by another version: compared as it is


def recorded_budget(out: RunPaths, checkpoint, args) -> BudgetPlan | None:
    """The budget plan a resumed run recorded (runs recorded before re-fits
    have their planned steps alone); None for a fresh run."""
    if checkpoint is None or not out.record.exists():
        return None
    saved = run_folder.read_json(out.record)
    if saved.get("budget_plan"):
        return BudgetPlan.from_dict(saved["budget_plan"])
    steps = saved.get("planned_steps")
    return BudgetPlan(steps, args.get_warmup_steps(steps), steps) if steps else None


def record_budget(out: RunPaths, record: dict, plan: BudgetPlan) -> None:
    """A re-fitted plan into the run's settings, so a resumed run keeps it."""
    record["planned_steps"] = plan.steps
    record["budget_plan"] = plan.to_dict()
    run_folder.write_json(out.record, record)


def open_output(out: RunPaths, record: dict, fresh: bool) -> None:
    distributed.barrier()  # all processes have checked the output folder: now it may change
    if distributed.is_main():
        out.root.mkdir(parents=True, exist_ok=True)
        run_folder.write_json(out.record, record)
        if fresh:
            out.metrics.unlink(missing_ok=True)
            out.samples.unlink(missing_ok=True)
