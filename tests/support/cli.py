"""How tests drive the real `textgen` entry point: as a subprocess, like a user, and
what textgen logs for the user while a test runs."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from contextlib import contextmanager


def textgen(*args, env=None, timeout=600) -> subprocess.CompletedProcess:
    """`python -m textgen_core ARGS...` in a fresh interpreter, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "textgen_core", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@contextmanager
def logged(level: int = logging.INFO):
    """The messages textgen logs for the user (INFO and up) while inside, in order."""
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    logger, handler = logging.getLogger("textgen_core"), Keep(level)
    before = logger.level
    logger.setLevel(level)
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)
