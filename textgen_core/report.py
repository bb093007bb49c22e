"""What a run leaves for people: metrics.jsonl, loss.png, results.json, the model card."""

from __future__ import annotations

import json
import math
from pathlib import Path

from textgen_core.checkpoints import write_atomic


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


def format_results(results: dict) -> str:
    """A few human lines summarising a run."""
    lines = [
        f"files used: {len(results['files_used'])}, skipped: {len(results['files_skipped'])}",
        f"tokens: train {results['train_tokens']}, validation {results['val_tokens']}, "
        f"test {results['test_tokens']} (split by {results['split_by'].replace('_', ' ')})",
        f"steps: {results['steps']} in {results['train_seconds']:.0f} s "
        f"({results['train_tokens_per_second']:.0f} tokens/s)",
        f"validation loss: {results['val_loss']:.4f}",
        f"test loss: base {results['base_test_loss']:.4f} -> fine-tuned {results['test_loss']:.4f}",
        f"test perplexity: base {results['base_test_perplexity']:.2f} -> "
        f"fine-tuned {results['test_perplexity']:.2f}",
    ]
    return "\n".join(lines)


def _fmt(value, spec: str = ".4f") -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "n/a"


def model_card(results: dict, config: dict, repo_id: str | None = None) -> str:
    """README.md for the model folder or its Hub repo: metadata, data, settings,
    before/after metrics, and how to load it."""
    name = repo_id or "./model"
    base = results.get("base_model", "")
    meta = [
        "---",
        "library_name: transformers",
        "pipeline_tag: text-generation",
        "tags:",
        "- textgen",
        "- text-generation",
    ]
    if base and not base.startswith("scratch:") and not Path(base).exists():
        meta.append(f"base_model: {base}")
    meta.append("---")
    settings = "\n".join(
        f"| {k} | {v} |" for k, v in config.items() if k not in ("data", "lora") and v is not None
    )
    data = config.get("data", {})
    return f"""{chr(10).join(meta)}

# {name.split("/")[-1]}

A causal language model fine-tuned from `{base}` with textgen on {len(results.get("files_used", []))} file(s).

## Results

Loss is the mean cross-entropy per predicted token (nats) on held-out test text that
was never trained on or used for model selection; perplexity = exp(loss).

| model | test loss | test perplexity |
| --- | --- | --- |
| base (`{base}`) | {_fmt(results.get("base_test_loss"))} | {_fmt(results.get("base_test_perplexity"), ".2f")} |
| fine-tuned | {_fmt(results.get("test_loss"))} | {_fmt(results.get("test_perplexity"), ".2f")} |

Best validation loss: {_fmt(results.get("val_loss"))} after {results.get("steps", "?")} steps.

![loss curves](loss.png)

## Data

- files used: {len(results.get("files_used", []))}; skipped: {len(results.get("files_skipped", []))}
- tokens: train {results.get("train_tokens")}, validation {results.get("val_tokens")},
  test {results.get("test_tokens")}; split by {str(results.get("split_by", "?")).replace("_", " ")}
- chunk size {data.get("chunk_size")}, test fraction {data.get("test_fraction")},
  validation fraction {data.get("val_fraction")}, seed {data.get("seed")}

## Settings

| setting | value |
| --- | --- |
{settings}

## Use

```python
from transformers import AutoModelForCausalLM, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("{name}")
model = AutoModelForCausalLM.from_pretrained("{name}")
inputs = tokenizer("Once upon a time", return_tensors="pt")
print(tokenizer.decode(model.generate(**inputs, max_new_tokens=50, do_sample=True)[0]))
```

or with textgen: `textgen generate {name} --prompt "Once upon a time"`
"""


def write_model_card(path: Path, results: dict, config: dict, repo_id: str | None = None) -> None:
    write_atomic(path, model_card(results, config, repo_id))
