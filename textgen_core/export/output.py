"""Complete-or-absent output: an export is written under a temporary name beside
its final one and renamed into place, so a crash or a full disk never leaves a
half-written file under the name a user (or Ollama) will load."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from textgen_core.errors import TextgenError


def check_target(path: Path, force: bool) -> None:
    """Refuse to replace an existing file or folder unless `force`, and a path under a
    file; missing folders are fine (`atomic_path` creates them)."""
    if path.exists() and not force:
        raise TextgenError(
            f"--output {path}: already exists; pass --force to replace it, or choose another path"
        )
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise TextgenError(
            f"--output {path}: {blocking} is a file, not a folder; choose another path"
        )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def disk_full_error(path: Path) -> TextgenError:
    return TextgenError(
        f"--output {path}: the disk is full ({shutil.disk_usage(path.parent).free // 2**20} MiB "
        "free); free some space or write elsewhere. Nothing was left under that name"
    )


@contextlib.contextmanager
def atomic_path(path: Path, *, force: bool) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write a file or folder to; on
    success it replaces `path`, on any failure it is removed."""
    check_target(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)  # `--output new_folder/model.gguf` works
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    _remove(tmp)
    try:
        yield tmp
        if path.exists():
            _remove(path)
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        if exc.errno == errno.ENOSPC:
            raise disk_full_error(path) from None
        raise
    except BaseException:
        _remove(tmp)
        raise


def write_text(path: Path, text: str) -> None:
    """A small text file (Modelfile, export.json), written whole or not at all."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise disk_full_error(path) from None
        raise
