"""Checkpoints that a kill can never leave half-usable.

The Trainer writes a checkpoint folder file by file. Only after the last file
is on disk do we drop a completion marker (written to a temp name and renamed,
which is atomic), and only then are older checkpoints deleted. Resume takes
the newest folder with a marker and names any newer, unmarked one it ignores.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
from pathlib import Path

from textgen_core.errors import TextgenError

MARKER = "textgen_complete.json"
REQUIRED = ("trainer_state.json", "optimizer.pt", "scheduler.pt")
WEIGHTS = ("model.safetensors", "adapter_model.safetensors")  # full model or LoRA adapter
_NAME = re.compile(r"^checkpoint-(\d+)$")


def write_atomic(path: Path, text: str) -> None:
    """Write via a temp file, fsync and rename, so readers see all or nothing."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def step_of(folder: Path) -> int:
    match = _NAME.match(folder.name)
    return int(match.group(1)) if match else -1


def all_checkpoints(root: Path) -> list[Path]:
    """Checkpoint folders under `root`, oldest first."""
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if step_of(p) >= 0 and p.is_dir()), key=step_of)


def _missing(folder: Path) -> list[str]:
    missing = [f for f in REQUIRED if not (folder / f).is_file()]
    if not any((folder / w).is_file() for w in WEIGHTS):
        missing.append(" or ".join(WEIGHTS))
    return missing


def is_complete(folder: Path) -> bool:
    return (folder / MARKER).is_file() and not _missing(folder)


def mark_complete(folder: Path) -> None:
    missing = _missing(folder)
    if missing:
        raise TextgenError(f"{folder}: checkpoint is missing {', '.join(missing)}")
    for name in os.listdir(folder):  # make the files durable before the marker
        path = folder / name
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    write_atomic(folder / MARKER, json.dumps({"step": step_of(folder), "time": time.time()}))


def rotate(root: Path, keep: int, protect: Path | None = None) -> None:
    """Delete complete checkpoints beyond the newest `keep` (never `protect`,
    the best one). Incomplete folders are left for `latest_complete` to report."""
    complete = [p for p in all_checkpoints(root) if is_complete(p)]
    for old in complete[: max(0, len(complete) - keep)]:
        if protect is None or old.resolve() != Path(protect).resolve():
            shutil.rmtree(old, ignore_errors=True)


def latest_complete(root: Path) -> tuple[Path | None, list[Path]]:
    """The newest complete checkpoint, and the newer incomplete ones passed over."""
    passed: list[Path] = []
    for folder in reversed(all_checkpoints(root)):
        if is_complete(folder):
            return folder, passed
        passed.append(folder)
    return None, passed


def fault_point(stage: str, step: int) -> None:
    """Test hook: TEXTGEN_FAULT=<stage>:<step> kills the process (SIGKILL, as a
    power cut would) at that point of saving that step's checkpoint."""
    if os.environ.get("TEXTGEN_FAULT") == f"{stage}:{step}":
        os.kill(os.getpid(), signal.SIGKILL)
