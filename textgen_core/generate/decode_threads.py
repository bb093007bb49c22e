"""How many intra-op threads decode on CPU: the cores that are idle.

Each new token is a handful of small products. On an idle machine a second
thread speeds them up (on the quiet 2-core Sapphire Rapids, 37.7 tokens/s with
2 threads against 23.6 with 1); when another process holds a core, the
threads' hand-offs stall behind it and decoding collapses (with a busy-loop
process alongside, 2.6 tokens/s with 2 threads against 25.7 with 1;
BENCHMARKS.md). So the count is the cores idle just before decoding starts
(/proc/stat over 0.1 s), at least 1 and at most torch's own count, measured
again at most every `REMEASURE_S` seconds. Reference-counted, as the app serves
requests in threads: the first one in sets the count, the last one out
restores the previous one.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from threading import Lock

from textgen_core.kernels.cpu_load import idle_cores

REMEASURE_S = 5.0
"""A count measured this recently is reused (serving many short requests)."""

_lock = Lock()
_users = 0
_before = 0
_measured: tuple[float, int] | None = None  # (when, count)


def threads_for(idle: float | None, available: int) -> int:
    """Decoding threads for `idle` cores' worth of idle time: a core counts
    when it is at least 80% idle; unknown idleness keeps torch's count."""
    if idle is None:
        return available
    return max(1, min(available, int(idle + 0.2)))


def _choose(available: int) -> int:
    global _measured
    now = time.monotonic()
    if _measured is None or now - _measured[0] > REMEASURE_S:
        _measured = (now, threads_for(idle_cores(), available))
    return min(_measured[1], available)


def last_count() -> int | None:
    """The count the last measurement chose (None before any)."""
    return _measured[1] if _measured else None


@contextlib.contextmanager
def decoding_threads(model) -> Iterator[None]:
    """Decode `model` on as many threads as there are idle cores (CPU only)."""
    import torch

    global _users, _before
    if next(model.parameters()).device.type != "cpu":
        yield
        return
    with _lock:
        if _users == 0:
            _before = torch.get_num_threads()
            torch.set_num_threads(_choose(_before))
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                torch.set_num_threads(_before)
