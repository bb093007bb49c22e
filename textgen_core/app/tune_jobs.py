"""Hyperparameter searches as background jobs: what the worker runs, and the
trials table the app reads while it runs.

A tune job is a job (jobs.py) whose job.json holds `"kind": "tune"` and
`"tune": {"trials": N, "timeout": seconds or null}`; its `run/` folder is the
`textgen tune --output` folder. The trials are read live from the search's
own study database (run/study.db), which Optuna writes as each trial starts,
reports and ends, so the app needs no extra bookkeeping from the worker.
"""

from __future__ import annotations

from pathlib import Path

from textgen_core.config import TrainConfig
from textgen_core.run_folder import read_json


def trials(run: Path) -> list[dict]:
    """One row per trial so far (number, state, val_loss, settings, failure);
    empty before the search has started or while its database is busy."""
    db = run / "study.db"
    if not db.is_file():
        return []
    import optuna

    from textgen_core.tune.report import trial_rows
    from textgen_core.tune.search import DEFAULT_STUDY

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Read-only: opening a study database writes its tables and version rows
    # when they are missing, and doing that while the worker creates them made
    # the worker's own creation fail. A read-only connection fails instead,
    # and the next poll tries again.
    url = f"sqlite:///file:{db.resolve()}?mode=ro&uri=true"
    storage = None
    try:
        storage = optuna.storages.RDBStorage(url, skip_table_creation=True)
        return trial_rows(optuna.load_study(study_name=DEFAULT_STUDY, storage=storage))
    except Exception:  # not created yet, or locked by the writer: next poll
        return []
    finally:
        if storage is not None:
            storage.engine.dispose()


def best_config(run: Path) -> dict | None:
    """The best trial's full settings, once the search has finished."""
    path = run / "best_config.json"
    return read_json(path) if path.is_file() else None


def summary(run: Path) -> dict | None:
    """tune_results.json without the server's folder paths."""
    path = run / "tune_results.json"
    if not path.is_file():
        return None
    results = read_json(path)
    for side in ("best", "default"):
        for key in ("folder", "model"):
            results.get(side, {}).pop(key, None)
    return results


def progress(run: Path, tune: dict, state: str) -> dict:
    """A search's part of /job_status: trials finished (`step`) of those asked
    for (`total_steps`), the trials table, and once done the best settings and
    the best-vs-default summary (`results`)."""
    rows = trials(run)
    return {
        "step": sum(row["state"] != "running" for row in rows),
        "total_steps": tune["trials"],
        "eta_seconds": 0 if state == "completed" else None,
        "trials": rows,
        "best_config": best_config(run),
        "results": summary(run) if state == "completed" else None,
    }


def run_tune(folder: Path, job: dict) -> None:
    """The worker's search: the job's uploads, settings and trial budget; a
    resumed job runs only the trials still missing."""
    from textgen_core.tune.search import tune

    cfg = TrainConfig.from_dict(job["config"])
    run = folder / "run"
    done = sum(row["state"] != "running" for row in trials(run))
    tune(
        [folder / "uploads"],
        run,
        cfg,
        trials=max(1, job["tune"]["trials"] - done),
        timeout=job["tune"].get("timeout"),
    )
