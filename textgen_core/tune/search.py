"""Hyperparameter search: many short training runs, judged on validation loss.

Optuna proposes settings (seeded TPE), each trial is an ordinary `train()` run
into DIR/trials/<number>/, and a median pruner stops trials whose validation
loss falls behind. The first trial runs the command's own settings, so the best
is never worse than them on validation loss. The objective is the best
validation loss only: trials leave the test split unscored, and once the search
ends the best trial and the default settings' run are scored on it, once each. The data are
prepared once: every trial after the first reads its splits from the data cache.
The study lives in DIR/study.db, so running again with the same DIR resumes.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import optuna
from transformers import TrainerCallback

from textgen_core import log, run_folder
from textgen_core.config import TrainConfig
from textgen_core.errors import TextgenError
from textgen_core.train.results import RunResults
from textgen_core.train.run import score_on_test, train
from textgen_core.tune.report import format_table, plot_history, trial_line, trial_rows, write_table

BATCH_SIZES = (4, 8, 16)
LORA_RANKS = (4, 8, 16, 32)
LORA_ALPHAS = (8, 16, 32, 64)
DEFAULT_STUDY = "textgen-tune"


@dataclass
class TunePaths:
    root: Path

    def __post_init__(self):
        self.root = Path(self.root)
        self.trials = self.root / "trials"
        self.default = self.root / "default"
        self.study = self.root / "study.db"
        self.table = self.root / "trials.csv"
        self.best_config = self.root / "best_config.json"
        self.history = self.root / "history.png"
        self.results = self.root / "tune_results.json"


def suggest_config(trial: optuna.Trial, base: TrainConfig) -> TrainConfig:
    """The settings of one trial: `base` with the searched fields replaced.

    `base.batch_size` caps the per-device batch, so memory stays what the user
    allowed; larger effective batches come from gradient accumulation.
    `base.epochs` is the most epochs a trial may run."""
    scratch = base.model.startswith("scratch:")
    low, high = (1e-4, 3e-2) if scratch else (1e-5, 1e-2)
    lr = trial.suggest_float("lr", min(low, base.lr), max(high, base.lr), log=True)
    batch = trial.suggest_categorical("batch_size", BATCH_SIZES)
    per_device = max(d for d in range(1, min(batch, base.batch_size) + 1) if batch % d == 0)
    lora = base.lora
    if lora is not None:
        lora = dataclasses.replace(
            lora,
            r=trial.suggest_categorical("lora_r", LORA_RANKS),
            alpha=trial.suggest_categorical("lora_alpha", LORA_ALPHAS),
        )
    return dataclasses.replace(
        base,
        lr=lr,
        warmup_ratio=trial.suggest_float("warmup_ratio", 0.0, 0.2),
        weight_decay=trial.suggest_float("weight_decay", 0.0, 0.1),
        epochs=trial.suggest_int("epochs", 1, max(1, math.floor(base.epochs))),
        batch_size=per_device,
        gradient_accumulation_steps=batch // per_device,
        lora=lora,
    )


class ReportToTrial(TrainerCallback):
    """Hands each validation loss to the trial; on a prune verdict stops the
    Trainer cleanly (its callbacks' end-of-training hooks still run) and lets
    the objective raise TrialPruned once `train()` returns."""

    def __init__(self, trial: optuna.Trial):
        self.trial = trial
        self.pruned_at: int | None = None

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        # Steps differ between batch sizes; chunks seen compare trials fairly.
        seen = state.global_step * args.per_device_train_batch_size
        seen *= args.gradient_accumulation_steps
        self.trial.report(metrics["eval_loss"], step=seen)
        if self.trial.should_prune():
            self.pruned_at = seen
            control.should_training_stop = True


class Objective:
    """One trial: suggest settings, train into DIR/trials/<number>, return the
    best validation loss. Failures are recorded on the trial with their reason."""

    def __init__(self, paths, out: TunePaths, base: TrainConfig):
        self.paths, self.out, self.base = paths, out, base

    def __call__(self, trial: optuna.Trial) -> float:
        try:
            cfg = suggest_config(trial, self.base)
            trial.set_user_attr("config", cfg.to_dict())
            pruning = ReportToTrial(trial)
            results = train(
                self.paths,
                self.out.trials / str(trial.number),
                cfg,
                callbacks=[pruning],
                score_test=False,
            )
            if pruning.pruned_at is not None:
                raise optuna.TrialPruned(
                    f"validation loss behind the median after {pruning.pruned_at} chunks"
                )
            value = results.val_loss
            if value is None or not math.isfinite(value):
                raise TextgenError(f"no finite validation loss (got {value})")
            return value
        except optuna.TrialPruned:
            raise
        except KeyboardInterrupt:  # Ctrl-C ends the search; the table still says why
            trial.set_user_attr("failure", "interrupted")
            raise
        except Exception as exc:
            trial.set_user_attr("failure", f"{type(exc).__name__}: {exc}")
            raise
        finally:
            _release_memory()


def _release_memory() -> None:
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()  # an out-of-memory trial must not starve the next one


def tune(
    paths,
    output,
    base: TrainConfig,
    *,
    trials: int,
    timeout: float | None = None,
    storage: str | None = None,
    study_name: str | None = None,
) -> dict:
    """Search settings for `base.model` on the files under `paths`; write
    study.db, trials.csv, best_config.json, history.png and tune_results.json
    to `output` and return the summary (best trial vs default settings)."""
    base.validate()
    if trials < 1:
        raise TextgenError(f"--trials: must be at least 1, got {trials}")
    if timeout is not None and timeout <= 0:
        raise TextgenError(f"--timeout: must be positive, got {timeout}")
    out = TunePaths(output)
    out.root.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = _open_study(out, base, storage, study_name or DEFAULT_STUDY)
    once = log.Once()  # the same skipped file named once, not once per trial
    logging.getLogger(log.ROOT).addFilter(once)
    try:
        _optimize(study, Objective(paths, out, base), trials, timeout)
    finally:
        logging.getLogger(log.ROOT).removeFilter(once)
    rows = trial_rows(study)
    write_table(rows, out.table)
    print(format_table(rows))
    plot_history(study, out.history)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise TextgenError(
            f"--output {out.root}: no trial finished; see the failure reasons in {out.table}"
        )
    best = study.best_trial
    run_folder.write_json(out.best_config, best.user_attrs["config"])
    default_folder = _default_folder(study, out, base)
    if default_folder == out.default:
        _default_run(paths, out, base)
    default = _scored(paths, default_folder, base)
    best_results = _scored(paths, out.trials / str(best.number), base)
    summary = {
        "study_name": study.study_name,
        "trials": {state.name.lower(): _count(study, state) for state in _STATES},
        "best_trial": best.number,
        "best_params": best.params,
        "best": _summary(best_results, out.trials / str(best.number)),
        "default": _summary(default, default_folder),
    }
    run_folder.write_json(out.results, summary)
    return summary


_STATES = (
    optuna.trial.TrialState.COMPLETE,
    optuna.trial.TrialState.PRUNED,
    optuna.trial.TrialState.FAIL,
)


def _count(study: optuna.Study, state) -> int:
    return sum(t.state == state for t in study.trials)


def _open_study(out: TunePaths, base: TrainConfig, storage: str | None, name: str):
    url = storage or f"sqlite:///{out.study.resolve()}"
    try:
        study = optuna.create_study(
            study_name=name, storage=url, direction="minimize", load_if_exists=True
        )
    except Exception as exc:
        raise TextgenError(f"--storage {url}: cannot open it ({exc})") from exc
    if not study.trials and out.trials.exists() and any(out.trials.iterdir()):
        raise TextgenError(
            f"--output {out.root}: holds the trials of another study; "
            "choose another --output, or the same --study-name/--storage as before"
        )
    _check_same_task(study, base)
    # Reseeding with the trial count keeps a resumed search from replaying the
    # proposals it already tried.
    study.sampler = optuna.samplers.TPESampler(seed=base.seed + len(study.trials))
    study.pruner = optuna.pruners.MedianPruner(n_startup_trials=3)
    if not study.trials:
        study.enqueue_trial(_default_params(base), skip_if_exists=True)
    return study


def _task(cfg: TrainConfig) -> dict:
    """What must stay fixed for validation losses to be comparable across trials."""
    return {
        "model": cfg.model,
        "revision": cfg.revision,
        "lora": cfg.lora is not None,
        "data": dataclasses.asdict(cfg.data),
    }


def _check_same_task(study: optuna.Study, base: TrainConfig) -> None:
    task, saved = _task(base), study.user_attrs.get("task")
    if saved is None:
        study.set_user_attr("task", task)
    elif saved != task:
        diffs = [f"{k}: {saved.get(k)!r} -> {task[k]!r}" for k in task if saved.get(k) != task[k]]
        raise TextgenError(
            f"study {study.study_name!r} searched other settings ({'; '.join(diffs)}); "
            "use the same ones to resume it, or another --output/--study-name"
        )


def _default_params(base: TrainConfig) -> dict:
    """The command's own settings as trial parameters, for the first trial: the
    best trial is then never worse than them on validation loss, and the
    comparison with them costs no extra run. Settings the search space cannot
    express exactly (a batch or LoRA rank outside its choices) are left to TPE."""
    params = {
        "lr": base.lr,
        "warmup_ratio": base.warmup_ratio,
        "weight_decay": base.weight_decay,
        "epochs": max(1, math.floor(base.epochs)),
    }
    batch = base.batch_size * base.gradient_accumulation_steps
    if batch in BATCH_SIZES:
        params["batch_size"] = batch
    if base.lora is not None and base.lora.r in LORA_RANKS:
        params["lora_r"] = base.lora.r
    if base.lora is not None and base.lora.alpha in LORA_ALPHAS:
        params["lora_alpha"] = base.lora.alpha
    return params


def _default_folder(study: optuna.Study, out: TunePaths, base: TrainConfig) -> Path:
    """Where the default settings' run is: the first trial when it ran exactly
    them and finished, else DIR/default (trained by `_default_run`)."""
    first = study.trials[0]
    same = first.user_attrs.get("config") == base.to_dict()
    if same and first.state == optuna.trial.TrialState.COMPLETE:
        return out.trials / str(first.number)
    return out.default


def _optimize(study, objective: Objective, trials: int, timeout: float | None) -> None:
    study.optimize(
        objective,
        n_trials=trials,
        timeout=timeout,
        catch=(Exception,),
        callbacks=[lambda study, trial: print(trial_line(trial), flush=True)],
        gc_after_trial=True,
    )


def _default_run(paths, out: TunePaths, base: TrainConfig) -> None:
    """The same data and model with the command's own settings, trained once
    (and reused when the search is resumed), for the before/after comparison."""
    if (out.default / "results.json").exists():
        return
    shutil.rmtree(out.default, ignore_errors=True)  # an interrupted earlier attempt
    train(paths, out.default, base, score_test=False)


def _scored(paths, folder: Path, base: TrainConfig) -> RunResults:
    """A run's results with its test figures, scored once the search is over
    (its only look at the test split) and kept in its results.json."""
    results = RunResults.load(folder / "results.json")
    if results.test_loss is None:
        results = dataclasses.replace(results, **score_on_test(paths, folder / "model", base))
        run_folder.write_json(folder / "results.json", results.to_dict())
    return results


def _summary(r: RunResults, folder: Path) -> dict:
    return {
        "folder": str(folder),
        "model": str(folder / "model"),
        "val_loss": r.val_loss,
        "test_loss": r.test_loss,
        "test_perplexity": r.test_perplexity,
        "base_test_loss": r.base_test_loss,
        "test_tokens_scored": r.test_tokens_scored,
        "steps": r.steps,
        "train_seconds": r.train_seconds,
    }
