"""What a hyperparameter search shows and writes about its trials: the table
(printed and as CSV), the one-line summary of each finished trial, and the
optimisation-history plot."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import optuna


def trial_rows(study: optuna.Study) -> list[dict]:
    """One row per trial: number, state, val_loss, the searched settings, failure reason."""
    names = sorted({name for t in study.trials for name in t.params})
    return [
        {
            "number": t.number,
            "state": t.state.name.lower(),
            "val_loss": t.value,
            **{name: t.params.get(name) for name in names},
            "failure": t.user_attrs.get("failure", ""),
        }
        for t in study.trials
    ]


def write_table(rows: list[dict], path: Path) -> None:
    if not rows:
        return
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_table(rows: list[dict]) -> str:
    if not rows:
        return "no trials"
    columns = list(rows[0])
    cells = [[_cell(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = [columns, *cells]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def trial_line(trial: optuna.trial.FrozenTrial) -> str:
    value = f" val_loss {trial.value:.4f}" if trial.value is not None else ""
    failure = f" ({trial.user_attrs['failure']})" if "failure" in trial.user_attrs else ""
    return f"trial {trial.number}: {trial.state.name.lower()}{value} {json.dumps(trial.params)}{failure}"


def plot_history(study: optuna.Study, path: Path) -> None:
    """Validation loss of each finished trial and the best so far."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    fig, ax = plt.subplots(figsize=(7, 4))
    if done:
        numbers = [t.number for t in done]
        values = [t.value for t in done]
        best = [min(values[: i + 1]) for i in range(len(values))]
        ax.plot(numbers, values, "o", label="trial")
        ax.step(numbers, best, where="post", label="best so far")
        ax.legend()
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("trial")
    ax.set_ylabel("best validation loss (nats per token)")
    ax.set_title(f"hyperparameter search: {study.study_name}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
