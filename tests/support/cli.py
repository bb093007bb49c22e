"""How tests drive the real `textgen` entry point: as a subprocess, like a user
(`textgen`), or in this process (`cli`: the same `main(argv)`, its output and exit
status captured) for checks of arguments that need no fresh interpreter; and what
textgen logs for the user while a test runs (`logged`)."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from unittest import mock

from support import zygote
from support.servers import with_repo_path


def textgen(*args, env=None, timeout=900) -> subprocess.CompletedProcess:
    """`python -m textgen_core ARGS...` of this checkout in a process of its own (forked
    from a pre-imported interpreter where that starts the same: support.zygote),
    output captured."""
    return zygote.run(
        [sys.executable, "-m", "textgen_core", *map(str, args)],
        timeout=timeout,
        env=with_repo_path({**os.environ, **(env or {})}),
    )


PEAK_RSS = Path(__file__).with_name("peak_rss.py")


def textgen_peak_rss(*args, env=None, timeout=900) -> tuple[subprocess.CompletedProcess, float]:
    """`textgen ARGS...` as `textgen` does (forked as `textgen` is) and its peak
    resident memory in MB, counted from its own start (support/peak_rss.py)."""
    done = zygote.run(
        [sys.executable, str(PEAK_RSS), *map(str, args)],
        timeout=timeout,
        env=with_repo_path({**os.environ, **(env or {})}),
    )
    peak = done.stderr.rstrip().rsplit("peak_rss_kb=", 1)[-1]
    return done, int(peak) / 1024


def cli(*args, env=None) -> subprocess.CompletedProcess:
    """`textgen ARGS...` run by `textgen_core.cli.main.main` in this process, with
    `env` added to the environment meanwhile: the exit status and what it printed to
    stdout and stderr, as `textgen` gives them. For checks that stop at the arguments
    or the inputs (about a second each, where a subprocess costs an interpreter and
    textgen's imports every time); a run that trains belongs in `textgen`."""
    from textgen_core.cli.main import main

    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    logger = logging.getLogger("textgen_core")
    saved = logger.level, logger.propagate, list(logger.handlers)
    try:
        with mock.patch.dict(os.environ, env or {}), redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse: usage errors and --help
                code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    finally:
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        logger.handlers[:] = saved[2]
    return subprocess.CompletedProcess(["textgen", *argv], code, out.getvalue(), err.getvalue())


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
