"""`RunResults`: what a training run found, the typed form of results.json.

The file's keys are a public contract (scripts, the app's API and the model card
read them), so `to_dict()` writes exactly the field names below, in this order,
and `from_dict()` reads files of older runs (missing keys become None) and of
newer ones (unknown keys are kept in `extra` and written back unchanged).
`results["test_perplexity"]` keeps working for the Python API documented before
the type existed.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class RunResults:
    base_model: str | None = None
    """The model the run started from (Hub id, folder or scratch:*)."""
    train_loss: float | None = None
    """The last logged training loss."""
    val_loss: float | None = None
    """The best validation loss (token-weighted), the one model selection used."""
    test_loss: float | None = None
    """Fine-tuned model's loss on the held-out test split; None when unscored."""
    test_perplexity: float | None = None
    base_test_loss: float | None = None
    """The base model's loss on the same test tokens."""
    base_test_perplexity: float | None = None
    test_per_file: dict[str, dict] = field(default_factory=dict)
    """Per test file: loss, perplexity, tokens, base_loss, base_perplexity."""
    test_tokens_scored: int = 0
    train_tokens: int | None = None
    val_tokens: int | None = None
    test_tokens: int | None = None
    split_by: str | None = None
    """"document" or "token_range"."""
    chunks: dict[str, int] = field(default_factory=dict)
    steps: int | None = None
    processes: int = 1
    effective_batch_size: int | None = None
    epochs_completed: float | None = None
    best_checkpoint: str | None = None
    train_seconds: float | None = None
    train_tokens_per_second: float | None = None
    files_used: list[str] = field(default_factory=list)
    files_skipped: list[dict] = field(default_factory=list)
    """{path, reason} of every file left out."""
    config: dict = field(default_factory=dict)
    """The TrainConfig of the run, as TrainConfig.to_dict()."""
    trainable_parameters: int | None = None
    total_parameters: int | None = None
    trainable_fraction: float | None = None
    file_table: list[dict] = field(default_factory=list)
    """Every file read: its path, kind ("text", "Word document", "PDF, 12 pages"...),
    status (used or skipped), tokens, and the reason when skipped."""
    precision: str | None = None
    """The number format the run trained in (what `auto` resolved to)."""
    estimated_seconds: float | None = None
    """The time estimate printed before training."""
    time_budget_seconds: float | None = None
    """--time-budget in seconds; None without one."""
    run_seconds: float | None = None
    """Base scoring to final scoring: the time the estimate covers."""
    setup_seconds: float | None = None
    """Before the estimate: reading the files, loading the model, calibrating."""
    wall_seconds: float | None = None
    """The whole training call, setup to results: what --time-budget bounds."""
    planned_steps: int | None = None
    """The steps planned before training (from the calibration)."""
    budget_refit: dict | None = None
    """With --time-budget, the re-fit of the step count from the run's own steps:
    {after_step, calibrated_step_seconds, measured_step_seconds, steps}; None
    without a budget or when the plan was too short to re-fit."""
    loss_computation: str | None = None
    """How the training steps computed the loss: "fused" (textgen's fused LM head
    and cross-entropy, the full logits never held), "stock" (the model's own
    forward: architectures with logit soft-capping or not known to be a plain LM
    head, distributed runs), or "fused, stock" if the steps differed."""
    model_type: str | None = None
    """The base model's architecture (`config.model_type`), its family."""
    memorization: dict | None = None
    """Does it copy its training text: {prompts, continuation_tokens,
    copied_ngram_rate, reference_ngram_rate, longest_copied_tokens,
    longest_copied_example: {text, file}, verdict, ...} (quality.memorization)."""
    samples: list[dict] = field(default_factory=list)
    """Per sample prompt: {prompt, step, base, fine_tuned}, the base model's
    continuation and the saved (best) checkpoint's."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Keys this version does not know (written by a newer one), kept as they are."""

    def to_dict(self) -> dict:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        extra = values.pop("extra")
        return {**values, **extra}

    @classmethod
    def from_dict(cls, values: dict) -> RunResults:
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(
            **{k: v for k, v in values.items() if k in known},
            extra={k: v for k, v in values.items() if k not in known},
        )

    @classmethod
    def load(cls, path: Path) -> RunResults:
        return cls.from_dict(json.loads(Path(path).read_text()))

    def __getitem__(self, key: str):
        return self.to_dict()[key]

    def get(self, key: str, default=None):
        return self.to_dict().get(key, default)
