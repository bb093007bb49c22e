"""Hooks into the Trainer's loop: the metrics log, the live progress bar,
graceful Ctrl-C/SIGTERM, and mirroring checkpoints to the Hub.

In a distributed run every process runs these hooks; only the main one
(`state.is_world_process_zero`) writes or pushes."""

from __future__ import annotations

import signal
from pathlib import Path

from transformers import ProgressCallback, TrainerCallback

from textgen_core import run_folder
from textgen_core.train import distributed


class MetricsLog(TrainerCallback):
    """One JSON line per logging or evaluation event."""

    def __init__(self, path: Path):
        self.path = path

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero:
            return
        names = {
            "loss": "loss",
            "eval_loss": "val_loss",
            "learning_rate": "lr",
            "grad_norm": "grad_norm",
            "eval_perplexity": "val_perplexity",
        }
        values = {new: logs[old] for old, new in names.items() if old in (logs or {})}
        if "loss" in values or "val_loss" in values:
            run_folder.append_metrics(
                self.path,
                {"step": state.global_step, "epoch": round(state.epoch or 0, 4), **values},
            )


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during training; a checkpoint of the last step was saved."""


class GracefulStop(TrainerCallback):
    """Ctrl-C / SIGTERM ends the current step, saves a checkpoint and stops, so
    at most one step of work is lost (a second signal stops at once)."""

    def __init__(self):
        self.requested = False
        self._previous = {}

    def _request(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def on_train_begin(self, args, state, control, **kwargs):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._request)

    def on_step_end(self, args, state, control, **kwargs):
        # A signal may reach the processes of a distributed run at different
        # steps; all must stop at the same one or the others wait forever.
        if distributed.any_process(self.requested):
            self.requested = True
            control.should_save = True
            control.should_training_stop = True

    def on_train_end(self, args, state, control, **kwargs):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class LiveProgress(ProgressCallback):
    """The Trainer's progress bar (with ETA), showing the latest losses
    instead of printing every log dict."""

    def on_step_end(self, args, state, control, **kwargs):
        if self.training_bar is not None and self.training_bar.total != state.max_steps:
            self.training_bar.total = state.max_steps  # a time budget re-fitted the steps
        super().on_step_end(args, state, control, **kwargs)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.training_bar is not None and logs:
            shown = {k: f"{v:.4f}" for k, v in logs.items() if k in ("loss", "eval_loss")}
            if shown:
                self.training_bar.set_postfix(shown, refresh=False)
