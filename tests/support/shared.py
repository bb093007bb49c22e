"""Session fixtures built once for the whole test run, not once per test process.

pytest-xdist runs a session-scoped fixture in every worker that needs it, so two
workers reading the same trained run would each train it (the family runs, the
reference run and the tiny run were trained twice in most runs of the suite).
`built_once(tmp_path_factory, name, build)` builds the folder `name` in a place
every worker of this test run sees, under a file lock: the first worker to ask
builds it, another one waits for it and reads it (pytest-xdist's documented
pattern). Without xdist it is an ordinary session folder.

What is built this way is only ever read: tests that change a run copy it first.
`shared_folder(tmp_path_factory, name)` is a folder in the same place, for what
the code under test itself writes safely from several processes (its caches).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock


def _root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    # A worker's base is <this run's temp folder>/popen-gwN: its parent is this run's.
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "built_once"


def shared_folder(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """The folder `name` that every test process of this run sees (made if missing)."""
    folder = _root(tmp_path_factory) / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def built_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], object]
) -> Path:
    """The folder `name`, filled by `build(folder)` once in this test run. A build
    that failed (or was killed) is started again from an empty folder."""
    folder = _root(tmp_path_factory) / name
    folder.parent.mkdir(parents=True, exist_ok=True)
    done = folder.with_name(f"{name}.built")  # beside it: the folder holds only what build made
    with FileLock(f"{folder}.lock"):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            done.touch()
    return folder
