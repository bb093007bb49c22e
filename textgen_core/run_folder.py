"""The run folder (`RunPaths`: where `textgen train --output` puts each file)
and its JSON files, read and written in one way: JSON without inf/nan, written
atomically (temp file, fsync, rename) so a reader sees all of a file or none.
Below train, tune and the app, which all read and write run folders."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

RUN_RECORD = "textgen_run.json"
"""The run's record (its settings, data fingerprint, processes), at its root."""


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
        self.record = self.root / RUN_RECORD
        self.samples = self.root / "samples.jsonl"


def write_atomic(path: Path, text: str) -> None:
    """Write via a temp file, fsync and rename, so readers see all or nothing."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


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
