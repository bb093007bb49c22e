"""How tests drive the real `textgen` entry point: as a subprocess, like a user."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from contextlib import contextmanager

from safetensors.torch import load_file


def textgen(*args, env=None, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "textgen_core", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def cli_command(out, corpus, model, resume: bool = False, extra=()) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "textgen_core",
        "train",
        str(corpus),
        "--output",
        str(out),
        "--model",
        str(model),
        "--epochs",
        "2",
        "--lr",
        "3e-3",
        "--chunk-size",
        "64",
        "--eval-steps",
        "5",
        "--early-stopping-patience",
        "0",
        "--quiet",
    ]
    return cmd + (["--resume"] if resume else []) + list(extra)


def cli_train(out, corpus, model, fault: str | None = None, resume: bool = False, extra=(), env=()):
    return subprocess.run(
        cli_command(out, corpus, model, resume, extra),
        env={**os.environ, "TEXTGEN_FAULT": fault or "", **dict(env)},
        capture_output=True,
        text=True,
        timeout=600,
    )


def weights(out):
    return load_file(str(out / "model" / "model.safetensors"))


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
