"""The run folder (`RunPaths`) and what a run leaves for people in it:
metrics.jsonl, loss.png, results.json."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textgen_core.train.checkpoints import write_atomic

if TYPE_CHECKING:
    from textgen_core.train.results import RunResults


@dataclass
class RunPaths:
    root: Path

    def __post_init__(self):
        self.root = Path(self.root)
        self.model = self.root / "model"
        self.checkpoints = self.root / "checkpoints"
        self.metrics = self.root / "metrics.jsonl"
        self.results = self.root / "results.json"
        self.plot = self.root / "loss.png"
        self.card = self.root / "README.md"
        self.record = self.root / "textgen_run.json"
        self.samples = self.root / "samples.jsonl"


def _clean(value):
    """JSON has no inf/nan: write them as strings so the file stays standard."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def write_json(path: Path, data: dict) -> None:
    write_atomic(path, json.dumps(_clean(data), indent=2) + "\n")


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def append_metrics(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(_clean(record)) + "\n")


def read_metrics(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def truncate_metrics(path: Path, step: int) -> None:
    """Drop records after `step` (a resumed run logs those steps again)."""
    kept = [r for r in read_metrics(path) if r.get("step", 0) <= step]
    write_atomic(path, "".join(json.dumps(r) + "\n" for r in kept))


def plot_losses(metrics: list[dict], path: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(r["step"], r["loss"]) for r in metrics if "loss" in r]
    val = [(r["step"], r["val_loss"]) for r in metrics if "val_loss" in r]
    fig, ax = plt.subplots(figsize=(7, 4))
    for points, label, style in ((train, "train loss", "-"), (val, "validation loss", "o-")):
        if points:
            ax.plot(*zip(*points, strict=True), style, label=label)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (nats per token)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def format_results(results: RunResults) -> str:
    """A few human lines summarising a run."""
    r = results
    lines = [
        f"files used: {len(r.files_used)}, skipped: {len(r.files_skipped)}",
        f"tokens: train {r.train_tokens}, validation {r.val_tokens}, "
        f"test {r.test_tokens} (split by {r.split_by.replace('_', ' ')})",
        f"steps: {r.steps} in {r.train_seconds:.0f} s ({r.train_tokens_per_second:.0f} tokens/s)",
        f"validation loss: {r.val_loss:.4f}",
        f"test loss: base {r.base_test_loss:.4f} -> fine-tuned {r.test_loss:.4f}",
        f"test perplexity: base {r.base_test_perplexity:.2f} -> fine-tuned {r.test_perplexity:.2f}",
    ]
    if r.memorization:
        lines.append(f"memorization: {r.memorization['verdict']}")
    return "\n".join(lines)
