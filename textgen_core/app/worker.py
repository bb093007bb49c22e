"""The worker of a background job: runs in the job's own process.

    python -m textgen_core.app.worker JOB_DIR [--parent PID]

Trains (or searches settings for) the job in JOB_DIR, writing state.json and
progress.json as it goes (see jobs.py for the folder's layout), and exits,
marking the job interrupted, when the app that started it dies.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from textgen_core import log
from textgen_core.app.jobs import write_state
from textgen_core.config import TrainConfig
from textgen_core.errors import TextgenError
from textgen_core.run_folder import RunPaths, read_json, write_json

SAMPLE_TOKENS = 40
"""Length of the greedy sample written after each evaluation."""


def _progress_callback(path: Path, model_name: str, samples: Path | None = None):
    """A TrainerCallback writing step, total steps, ETA and a sample to `path`:
    the latest evaluation's first sample from the run's `samples` file when the
    run takes samples, else a greedy one of its own."""
    from transformers import TrainerCallback

    class ProgressFile(TrainerCallback):
        def __init__(self) -> None:
            self.started, self.first_step, self.written = 0.0, 0, 0.0
            self.sample: str | None = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.started, self.first_step = time.time(), state.global_step
            self._write(state)

        def on_step_end(self, args, state, control, **kwargs):
            if time.time() - self.written > 0.5 or state.global_step >= state.max_steps:
                self._write(state)

        def on_evaluate(self, args, state, control, model=None, **kwargs):
            if model is not None and samples is None:
                self.sample = _sample(model, model_name)
            self._write(state)

        def _write(self, state) -> None:
            if samples is not None:
                self.sample = _latest_sample(samples) or self.sample
            done = state.global_step - self.first_step
            rate = (time.time() - self.started) / done if done > 0 else None
            left = max(0, state.max_steps - state.global_step)
            progress = {
                "step": state.global_step,
                "total_steps": state.max_steps,
                "epoch": state.epoch,
                "eta_seconds": round(rate * left, 1) if rate is not None else None,
                "sample": self.sample,
            }
            write_json(path, progress)
            self.written = time.time()

    return ProgressFile()


def _sample(model, model_name: str) -> str:
    """A short greedy continuation from the start token; greedy and in eval mode,
    so it draws no random numbers and leaves the training run unchanged."""
    from textgen_core.config import GenerateConfig
    from textgen_core.generate.sampling import generate
    from textgen_core.model.loading import load_tokenizer

    was_training = model.training
    model.eval()
    try:
        cfg = GenerateConfig(max_new_tokens=SAMPLE_TOKENS, temperature=0, repetition_penalty=1.3)
        return generate(model, load_tokenizer(model_name), "", cfg)[0]
    except Exception as exc:  # a sample is a nicety: never let it stop training
        return f"(no sample: {exc})"
    finally:
        model.train(was_training)


def _latest_sample(path: Path) -> str | None:
    """Prompt and text of the first sample of the latest evaluation in `path`."""
    from textgen_core.quality.samples import BASE_STEP, read_samples

    evaluated = [r for r in read_samples(path) if r["step"] != BASE_STEP]
    if not evaluated:
        return None
    latest = max(r["step"] for r in evaluated)
    first = next(r for r in evaluated if r["step"] == latest)
    return first["prompt"] + first["text"]


def _exit_with_parent(parent: int, folder: Path) -> None:
    """Stop this job (as interrupted) when the app that started it dies."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        write_state(folder, "interrupted", "the app stopped while this job ran; resume it")
        os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()


def run_job(folder: Path) -> int:
    """Run the job in `folder`, training or tuning (resuming when it already
    started); the exit status."""
    job = read_json(folder / "job.json")
    write_state(folder, "running")
    try:
        if job.get("kind") == "tune":
            from textgen_core.app.tune_jobs import run_tune

            run_tune(folder, job)
        else:
            _train(folder, TrainConfig.from_dict(job["config"]))
    except TextgenError as exc:
        write_state(folder, "failed", str(exc))
        return 2
    except Exception as exc:
        import traceback

        traceback.print_exc()
        write_state(folder, "failed", f"{type(exc).__name__}: {exc}")
        return 1
    write_state(folder, "completed")
    return 0


def _train(folder: Path, cfg: TrainConfig) -> None:
    from textgen_core.train.run import train

    run = folder / "run"
    train(
        [folder / "uploads"],
        run,
        cfg,
        resume=RunPaths(run).record.exists(),
        callbacks=[
            _progress_callback(
                folder / "progress.json",
                cfg.model,
                samples=run / "samples.jsonl" if cfg.sample_tokens else None,
            )
        ],
    )


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m textgen_core.app.worker")
    parser.add_argument("folder", type=Path, help="the job folder")
    parser.add_argument("--parent", type=int, default=None, help="exit when this pid dies")
    args = parser.parse_args(argv)
    if args.parent:
        _exit_with_parent(args.parent, args.folder)
    import datasets
    import transformers

    transformers.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    log.configure(logging.WARNING, sys.stdout)  # warnings into the job's log; no progress bars
    return run_job(args.folder)


if __name__ == "__main__":
    raise SystemExit(main())
