"""Job status as the page shows it: progress line, loss chart, results table."""

from __future__ import annotations


def _clock(seconds) -> str:
    if seconds is None:
        return "estimating"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


def progress_markdown(status: dict) -> str:
    parts = [f"**Job `{status['id']}`: {status['state']}**"]
    if status["total_steps"]:
        parts.append(f"step {status['step']} / {status['total_steps']}")
    if status["state"] == "running":
        parts.append(f"ETA {_clock(status['eta_seconds'])}")
    losses = status["losses"]
    if losses["train"]:
        parts.append(f"train loss {losses['train'][-1][1]:.4f}")
    if losses["validation"]:
        parts.append(f"validation loss {losses['validation'][-1][1]:.4f}")
    text = " · ".join(parts)
    if status["error"]:
        text += f"\n\n**{status['state'].capitalize()}:** {status['error']}"
    return text


def loss_frame(status: dict):
    import pandas as pd

    rows = [
        {"step": step, "loss": loss, "split": split}
        for split, key in (("train", "train"), ("validation", "validation"))
        for step, loss in status["losses"][key]
    ]
    return pd.DataFrame(rows, columns=["step", "loss", "split"])


def results_markdown(results: dict | None) -> str:
    if not results:
        return ""
    skipped = "".join(f"\n- skipped {s['file']}: {s['reason']}" for s in results["files_skipped"])
    return (
        "| test set | base model | fine-tuned |\n| --- | --- | --- |\n"
        f"| loss | {results['base_test_loss']:.4f} | {results['test_loss']:.4f} |\n"
        f"| perplexity | {results['base_test_perplexity']:.2f} | {results['test_perplexity']:.2f} |"
        f"\n\n{results['steps']} steps in {results['train_seconds']:.0f} s; tokens: train "
        f"{results['train_tokens']}, validation {results['val_tokens']}, test "
        f"{results['test_tokens']}; {len(results['files_used'])} files used.{skipped}"
        + memorization_markdown(results.get("memorization"))
    )


def memorization_markdown(memorization: dict | None) -> str:
    """The memorization verdict under the results table ('' when not measured)."""
    if not memorization:
        return ""
    return (
        f"\n\n**Memorization** ({memorization['prompts']} held-out prompts, "
        f"{memorization['continuation_tokens']} tokens each): {memorization['verdict']}"
    )


def per_file_rows(results: dict | None) -> list[list]:
    if not results:
        return []
    return [
        [name, round(v["base_perplexity"], 2), round(v["perplexity"], 2), v["tokens"]]
        for name, v in results.get("test_per_file", {}).items()
    ]


def samples_timeline(samples: list[dict] | None):
    """The samples taken during training as a table: each prompt's rows
    together, the base model first and then every evaluation, so one reads
    down how the same prompt's continuation changes as training goes on."""
    import pandas as pd

    from textgen_core.quality.samples import step_label, timeline

    rows = [
        [prompt if prompt.strip() else "(no prompt)", step_label(step), text]
        for prompt, points in timeline(samples or []).items()
        for step, text in points
    ]
    return pd.DataFrame(rows, columns=["prompt", "step", "continuation"])
