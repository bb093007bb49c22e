"""Messages for people: every module logs to a child of the `textgen_core`
logger (`logging.getLogger(__name__)`), and whoever runs textgen decides where
they go and how many: the CLI's `--quiet` / `--verbose`, the app's worker its
job log. Progress bars show when INFO messages would.

Imports nothing of textgen.
"""

from __future__ import annotations

import logging
import sys

ROOT = "textgen_core"


def configure(level: int = logging.INFO, stream=None) -> None:
    """Send textgen's messages, as plain lines, to `stream` (default stderr)."""
    logger = logging.getLogger(ROOT)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def progress_bars() -> bool:
    """Whether progress bars are wanted: when INFO messages are."""
    return logging.getLogger(ROOT).isEnabledFor(logging.INFO)


def silence() -> None:
    """This process only computes (a non-main rank): errors only."""
    logging.getLogger(ROOT).setLevel(logging.ERROR)


class Once(logging.Filter):
    """Lets each distinct message through once (a skipped file is named once
    per search, not once per trial)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True
