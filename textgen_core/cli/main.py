"""`textgen` command line: the entry point. Parsing is in `parser`, the work
of each command in `commands`, and that in the library.

Exit status: 0 success, 2 bad input or usage, 1 anything else.
"""

from __future__ import annotations

import logging
import os

from textgen_core import log
from textgen_core.cli.commands import _warn
from textgen_core.cli.parser import build_parser
from textgen_core.errors import TextgenError

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.quiet = getattr(args, "quiet", False)
    verbose = getattr(args, "verbose", False)
    log.configure(logging.DEBUG if verbose else logging.WARNING if args.quiet else logging.INFO)
    try:
        return args.func(args)
    except TextgenError as exc:
        _warn(f"error: {exc}")
        return 2
    except KeyboardInterrupt as exc:
        _warn(
            f"interrupted{f' ({exc})' if str(exc) else ''}; "
            "a training run continues from its last checkpoint with --resume"
        )
        return 130
    except Exception as exc:  # anything else is a bug or an environment failure
        _warn(f"error: {type(exc).__name__}: {exc}")
        if os.environ.get("TEXTGEN_DEBUG"):
            raise
        return 1
