"""Runs side by side, for `textgen compare RUN_DIR...` and the app's Compare
view: base model, data, the settings that differ, held-out figures, the
memorization verdict when there is one, training time; the loss curves
overlaid; and each run's final samples of the same prompts.

A run is read as files (results.json, metrics.jsonl, samples.jsonl), so runs
made by other versions or on other machines compare as well.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from textgen_core.errors import TextgenError
from textgen_core.quality.samples import FILE as SAMPLES_FILE
from textgen_core.quality.samples import before_after, read_samples

MISSING = "-"


@dataclass
class Run:
    name: str
    folder: Path
    results: dict
    metrics: list[dict]
    samples: list[dict]

    @property
    def settings(self) -> dict[str, object]:
        return dict(_flatten(self.results.get("config") or {}))


def load_run(folder: str | Path, name: str | None = None) -> Run:
    """The run in `folder` (a `textgen train --output` folder, or its model/)."""
    folder = Path(folder)
    if not (folder / "results.json").is_file() and (folder.parent / "results.json").is_file():
        folder = folder.parent  # DIR/model given for DIR
    try:
        results = json.loads((folder / "results.json").read_text())
    except FileNotFoundError:
        raise TextgenError(
            f"RUN_DIR {folder}: no results.json there; give the --output folder of a "
            "finished `textgen train`"
        ) from None
    except (OSError, ValueError) as exc:
        raise TextgenError(f"RUN_DIR {folder}: results.json is unreadable ({exc})") from None
    return Run(
        name=name or folder.name,
        folder=folder,
        results=results,
        metrics=_read_jsonl(folder / "metrics.jsonl"),
        samples=read_samples(folder / SAMPLES_FILE),
    )


def load_runs(folders: list[str | Path]) -> list[Run]:
    """The runs in `folders`, named by folder name (by the path where two share one)."""
    if not folders:
        raise TextgenError("RUN_DIR: give at least one run folder")
    runs = [load_run(f) for f in folders]
    names = [r.name for r in runs]
    for run, given in zip(runs, folders, strict=True):
        if names.count(run.name) > 1:
            run.name = str(given)
    return runs


def differing_settings(runs: list[Run]) -> list[str]:
    """Settings (flattened, e.g. `data.chunk_size`) whose values are not the
    same in every run; the base model has its own column."""
    keys: list[str] = []
    for run in runs:
        keys += [k for k in run.settings if k not in keys]
    return [
        key
        for key in keys
        if key != "model"
        and len({json.dumps(r.settings.get(key, MISSING), sort_keys=True) for r in runs}) > 1
    ]


def table(runs: list[Run]) -> tuple[list[str], list[list[str]]]:
    """(headers, rows): one row per run."""
    differ = differing_settings(runs)
    headers = ["run", "base model", "data", *differ, "val loss", "test loss", "test ppl"]
    headers += ["memorization", "train time"]
    rows = []
    for run in runs:
        r = run.results
        memorization = (r.get("memorization") or {}).get("verdict")
        rows.append(
            [
                run.name,
                _cell(r.get("base_model")),
                _data(r),
                *(_cell(run.settings.get(key, MISSING)) for key in differ),
                _cell(r.get("val_loss")),
                _cell(r.get("test_loss")),
                _cell(r.get("test_perplexity")),
                _cell(memorization),
                _duration(r.get("train_seconds")),
            ]
        )
    return headers, rows


def format_table(runs: list[Run]) -> str:
    """The table as aligned text, with the differing settings named below it."""
    headers, rows = table(runs)
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    differ = differing_settings(runs)
    lines.append(f"settings that differ: {', '.join(differ) if differ else 'none'}")
    return "\n".join(lines)


def loss_points(runs: list[Run]) -> list[dict]:
    """{run, step, loss, curve} rows of every run's training and validation loss."""
    points = []
    for run in runs:
        for record in run.metrics:
            for key, curve in (("loss", "train"), ("val_loss", "validation")):
                if isinstance(record.get(key), (int, float)):
                    points.append(
                        {
                            "run": run.name,
                            "step": record["step"],
                            "loss": record[key],
                            "curve": curve,
                        }
                    )
    return points


def plot_curves(runs: list[Run], path: str | Path) -> Path:
    """compare.png: each run's training loss (line) and validation loss (dots)
    in one colour per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, run in enumerate(runs):
        color = f"C{i % 10}"
        for key, style, label in (("loss", "-", "train"), ("val_loss", "o--", "validation")):
            points = [
                (m["step"], m[key]) for m in run.metrics if isinstance(m.get(key), (int, float))
            ]
            if points:
                ax.plot(*zip(*points, strict=True), style, color=color, label=f"{run.name} {label}")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (nats per token)")
    ax.set_title("loss curves")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def samples_side_by_side(runs: list[Run]) -> tuple[list[str], list[list[str]]]:
    """(headers, rows): one row per prompt, the final sample of each run (the
    saved model's, as in results.json) beside the others; MISSING where a run
    did not sample that prompt."""
    finals = [{s["prompt"]: s["fine_tuned"] for s in _final(run)} for run in runs]
    prompts: list[str] = []
    for final in finals:
        prompts += [p for p in final if p not in prompts]
    rows = [[p, *(final.get(p, MISSING) for final in finals)] for p in prompts]
    return ["prompt", *(run.name for run in runs)], rows


def _final(run: Run) -> list[dict]:
    recorded = run.results.get("samples")
    if isinstance(recorded, list) and recorded:
        return recorded
    return before_after(run.samples)


def _flatten(config: dict, prefix: str = "") -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = []
    for key, value in config.items():
        if isinstance(value, dict):
            rows += _flatten(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return [r for r in rows if isinstance(r, dict) and "step" in r]


def _data(results: dict) -> str:
    files, tokens = results.get("files_used"), results.get("train_tokens")
    parts = []
    if isinstance(files, list):
        parts.append(f"{len(files)} file{'s' if len(files) != 1 else ''}")
    if isinstance(tokens, int):
        parts.append(f"{tokens:,} train tokens")
    return ", ".join(parts) or MISSING


def _cell(value: object) -> str:
    if value is None:
        return MISSING
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def _duration(seconds: object) -> str:
    if not isinstance(seconds, (int, float)):
        return MISSING
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"
