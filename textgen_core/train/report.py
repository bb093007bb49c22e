"""What a run leaves for people in its folder: loss.png and the summary printed
at the end (the folder itself and its JSON files: textgen_core.run_folder)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textgen_core.train.results import RunResults


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
