"""Checkpoints that a kill can never leave half-usable.

The Trainer writes a checkpoint folder file by file. Only after the last file
is on disk do we drop a completion marker (written to a temp name and renamed,
which is atomic), and only then are older checkpoints deleted. Resume takes
the newest folder with a marker and names any newer, unmarked one it ignores.
A save that runs out of disk space stops the run with an error saying what to
do; the checkpoints before it are untouched.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import pickle
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from textgen_core.errors import TextgenError
from textgen_core.run_folder import write_atomic

logger = logging.getLogger(__name__)

MARKER = "textgen_complete.json"
REQUIRED = ("trainer_state.json", "optimizer.pt", "scheduler.pt")
WEIGHTS = ("model.safetensors", "adapter_model.safetensors")  # full model or LoRA adapter
_NAME = re.compile(r"^checkpoint-(\d+)$")


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
    """The save finished (the marker exists); `damage` says if it is still intact."""
    return (folder / MARKER).is_file()


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def mark_complete(folder: Path, **facts) -> None:
    """Record every file's size and SHA-256 (and `facts` about the run, such as
    its CPU thread count), then write the marker atomically."""
    missing = _missing(folder)
    if missing:
        raise TextgenError(f"{folder}: checkpoint is missing {', '.join(missing)}")
    files = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.name != MARKER):
        with open(path, "rb") as f:  # durable before the marker says so
            os.fsync(f.fileno())
        files[path.name] = {"size": path.stat().st_size, "sha256": _digest(path)}
    record = {"step": step_of(folder), "time": time.time(), **facts, "files": files}
    write_atomic(folder / MARKER, json.dumps(record))


def recorded(folder: Path) -> dict:
    """The completion record of a complete checkpoint ({} if unreadable)."""
    try:
        return json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return {}


def damage(folder: Path) -> list[str]:
    """What is wrong with a completed checkpoint: "FILE: reason" entries."""
    try:
        files = json.loads((folder / MARKER).read_text())["files"]
    except (OSError, ValueError, KeyError):
        return [f"{folder / MARKER}: unreadable completion record"]
    problems = [f"{folder / name}: missing" for name in _missing(folder)]
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif path.stat().st_size != expected["size"]:
            size = path.stat().st_size
            problems.append(f"{path}: {size} bytes, {expected['size']} were written")
        elif _digest(path) != expected["sha256"]:
            problems.append(f"{path}: contents changed since it was written")
    return problems


def rotate(root: Path, keep: int, protect: Path | None = None) -> None:
    """Delete complete checkpoints beyond the newest `keep` (never `protect`,
    the best one). Incomplete folders are left for `latest_complete` to report."""
    complete = [p for p in all_checkpoints(root) if is_complete(p)]
    for old in complete[: max(0, len(complete) - keep)]:
        if protect is None or old.resolve() != Path(protect).resolve():
            shutil.rmtree(old, ignore_errors=True)


def resume_point(root: Path, *, fall_back: bool) -> Path | None:
    """The newest complete, intact checkpoint. Unfinished saves (a kill mid-save)
    are named and passed over; a damaged one stops the resume unless
    `fall_back`, which takes the newest intact one before it."""
    latest, passed = latest_complete(root)
    for folder in passed:
        logger.warning(f"warning: {folder} is incomplete (interrupted while saving); ignoring it")
    while latest is not None and (problems := damage(latest)):
        if not fall_back:
            raise TextgenError(
                f"checkpoint damaged: {'; '.join(problems)}. Add --force to resume from the "
                "newest intact checkpoint before it instead"
            )
        logger.warning(f"warning: {latest} is damaged ({'; '.join(problems)}); trying an older one")
        older = [p for p in all_checkpoints(root) if step_of(p) < step_of(latest)]
        latest = next((p for p in reversed(older) if is_complete(p)), None)
    return latest


def latest_complete(root: Path) -> tuple[Path | None, list[Path]]:
    """The newest complete checkpoint, and the newer incomplete ones passed over."""
    passed: list[Path] = []
    for folder in reversed(all_checkpoints(root)):
        if is_complete(folder):
            return folder, passed
        passed.append(folder)
    return None, passed


_FULL_DISK_WORDS = ("No space left on device", "Disk quota exceeded")


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def out_of_space(error: Exception, folder: Path) -> bool:
    """Whether saving `folder` failed because its disk (or the quota) is full.
    Only plain file writes say so with errno ENOSPC: safetensors quotes the OS
    message, and torch.save reports a full disk as a bare RuntimeError
    ("unexpected pos ..."), so a failure that leaves less space than the last
    checkpoint took (1 MiB if none) counts as a full disk too."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if any(words in str(error) for words in _FULL_DISK_WORDS):
        return True
    try:
        free = shutil.disk_usage(folder.parent).free
        latest, _ = latest_complete(folder.parent)
        return free < max(_size(latest) if latest else 0, 1 << 20)
    except OSError:
        return False


def save_failed_for_space(folder: Path) -> TextgenError:
    """The error for a checkpoint save that ran out of disk space. The unfinished
    folder is deleted (no resume could use it, and it frees what it took); older
    checkpoints are left exactly as they were, as rotation runs only after a
    save completes."""
    shutil.rmtree(folder, ignore_errors=True)
    latest, _ = latest_complete(folder.parent)
    kept = (
        f"{latest.name} is complete and kept"
        if latest
        else "no earlier checkpoint exists, so the run would start over"
    )
    return TextgenError(
        f"{folder}: disk full while saving this checkpoint; removed the unfinished "
        f"checkpoint; {kept}. Free disk space, then run the same command again with --resume"
    )


@contextlib.contextmanager
def refusing_unsafe_state(what: str) -> Iterator[None]:
    """Turn the refusal of `torch.load(..., weights_only=True)` to unpickle
    anything but tensors and plain values (the Trainer loads optimizer,
    scheduler and RNG state that way) into an error naming `what`."""
    try:
        yield
    except pickle.UnpicklingError as exc:
        reason = str(exc).strip().splitlines()[0]
        raise TextgenError(
            f"{what}: refused to load it, as it holds more than tensors and plain values "
            f"({reason}); it may have been tampered with. Resume from a checkpoint you "
            "trust, or start the run again"
        ) from exc


def trained_step(folder: str | Path) -> int | None:
    """The optimizer step whose weights `folder` holds: a checkpoint's own step,
    or for a run's model/ folder the step of the best checkpoint (the one the
    run kept as its model); None for a folder that is neither."""
    folder = Path(folder)
    try:
        if (folder / "trainer_state.json").is_file():
            return int(json.loads((folder / "trainer_state.json").read_text())["global_step"])
        if folder.name == "model" and (folder.parent / "results.json").is_file():
            results = json.loads((folder.parent / "results.json").read_text())
            best = results.get("best_checkpoint")
            return step_of(Path(best)) if best else results.get("steps")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return None
