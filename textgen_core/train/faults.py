"""Test hook: fail a training run on purpose at a named point, the way a power
cut, `kill -9` or a full disk would, so tests can prove what survives.

Set `TEXTGEN_FAULT=<point>:<step>` to SIGKILL the process at that point, or
`TEXTGEN_FAULT=<point>:<step>:pause` to print `paused at <point>:<step>` to
stderr and wait there until something outside kills it. Points, in the order a
step meets them:

- `step:N`: inside optimizer step N, its batch loaded, its update not applied;
- `eval:N`: as the evaluation after step N starts;
- `mid_save:N`: checkpoint N half written: its weights on disk, not yet its
  optimizer, scheduler, RNG or trainer state;
- `before_marker:N`: every file of checkpoint N written, its completion marker not;
- `after_marker:N`: checkpoint N complete, older ones not yet rotated away.

`TEXTGEN_FAULT=enospc:N` instead makes the disk "fill up" while checkpoint N's
optimizer state is written: part of the file lands, then OSError(ENOSPC).

Unset (the normal case) every hook is a dictionary lookup and nothing more.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import time
from pathlib import Path

VARIABLE = "TEXTGEN_FAULT"


def _wanted(point: str, step: int) -> str | None:
    """None, or the action ("kill" / "pause") set for this point and step."""
    spec = os.environ.get(VARIABLE)
    if not spec:
        return None
    name, _, rest = spec.partition(":")
    at, _, action = rest.partition(":")
    if name != point or at != str(step):
        return None
    return action or "kill"


def fault_point(point: str, step: int) -> None:
    """Kill the process here (or pause until killed) if TEXTGEN_FAULT asks for it."""
    action = _wanted(point, step)
    if action is None:
        return
    if action == "pause":
        print(f"paused at {point}:{step}", file=sys.stderr, flush=True)
        while True:
            time.sleep(60)
    os.kill(os.getpid(), signal.SIGKILL)


def disk_full_point(step: int, path: Path) -> None:
    """With TEXTGEN_FAULT=enospc:<step>: write the first bytes of `path`, then
    fail as a write to a full disk does."""
    if _wanted("enospc", step) is None:
        return
    Path(path).write_bytes(b"\x00" * 4096)
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
