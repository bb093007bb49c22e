"""samples.jsonl: what the model writes for the same prompts, with the same
seed, at every evaluation of a run; step 0 is the base model before training.

One JSON object a line: `{"step", "prompt", "text"}` (text: the continuation,
prompt not included). A line cut short by a kill is skipped when read, and a
resumed run rewrites the file up to its checkpoint, so no sample is repeated
or lost.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FILE = "samples.jsonl"
BASE_STEP = 0
"""The step of the base model's samples, taken before the first optimizer step."""


def read_samples(path: Path) -> list[dict]:
    """The records of `path`, in file order ([] when there is no file)."""
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # the last line of a killed run, half written
        if isinstance(record, dict) and {"step", "prompt", "text"} <= record.keys():
            records.append(record)
    return records


def append_samples(path: Path, records: list[dict]) -> None:
    with open(path, "a") as f:
        f.write("".join(json.dumps(r) + "\n" for r in records))
        f.flush()


def truncate_samples(path: Path, step: int) -> None:
    """Keep only the samples up to `step` (a resumed run takes the later ones
    again); written to a temp file and renamed, so a kill leaves either file."""
    path = Path(path)
    if not path.exists():
        return
    kept = [r for r in read_samples(path) if r["step"] <= step]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
    os.replace(tmp, path)


def timeline(records: list[dict]) -> dict[str, list[tuple[int, str]]]:
    """prompt -> [(step, text), ...] in step order: one prompt across evaluations."""
    lines: dict[str, list[tuple[int, str]]] = {}
    for r in records:
        lines.setdefault(r["prompt"], []).append((r["step"], r["text"]))
    return {prompt: sorted(points, key=lambda p: p[0]) for prompt, points in lines.items()}


def before_after(records: list[dict], step: int | None = None) -> list[dict]:
    """Per prompt, the base model's text and the text at `step` (default: the
    last evaluation): [{prompt, step, base, fine_tuned}]. Prompts without a
    sample at that step are left out."""
    evaluated = sorted({r["step"] for r in records if r["step"] != BASE_STEP})
    if not evaluated:
        return []
    if step not in evaluated:
        step = evaluated[-1]
    rows = []
    for prompt, points in timeline(records).items():
        texts = dict(points)
        if step in texts:
            rows.append(
                {
                    "prompt": prompt,
                    "step": step,
                    "base": texts.get(BASE_STEP),
                    "fine_tuned": texts[step],
                }
            )
    return rows


def step_label(step: int) -> str:
    return "base model" if step == BASE_STEP else f"step {step}"


def format_samples(records: list[dict], header: str = "samples") -> str:
    """Summary lines: for each prompt, the base model's text, the first
    evaluation's and the last one's (the whole timeline is in samples.jsonl)."""
    if not records:
        return ""
    lines = [f"{header} (same prompt and seed at each evaluation; all in {FILE}):"]
    for prompt, points in timeline(records).items():
        evaluated = [p for p in points if p[0] != BASE_STEP]
        shown = [p for p in points if p[0] == BASE_STEP] + evaluated[:1] + evaluated[1:][-1:]
        lines.append(f"prompt {prompt!r}")
        lines += [_indented(f"{step_label(step)}: ", prompt + text) for step, text in shown]
    return "\n".join(lines)


def format_evaluation(records: list[dict]) -> str:
    """The samples of one evaluation, as printed while training runs."""
    return "\n".join(
        _indented(f"sample at {step_label(r['step'])}: ", r["prompt"] + r["text"]) for r in records
    )


def _indented(label: str, text: str) -> str:
    body = text.strip("\n").replace("\n", "\n" + " " * 4)
    return f"  {label}{body}"
