"""How many of this machine's cores are idle right now, from /proc/stat."""

from __future__ import annotations

import time
from pathlib import Path

STAT = Path("/proc/stat")
"""The kernel's counters of each core's time since boot, by kind."""


def _cpu_ticks() -> tuple[int, int, int] | None:
    """(idle ticks, all ticks, cores) summed over every core since boot, or
    None where there is no /proc/stat (not Linux)."""
    try:
        lines = STAT.read_text().splitlines()
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal (guest time is inside user)
    ticks = [int(x) for x in lines[0].split()[1:9]]
    cores = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
    return ticks[3] + ticks[4], sum(ticks), cores


def idle_cores(window_s: float = 0.1) -> float | None:
    """Cores' worth of idle time over the next `window_s` seconds (0 to the
    number of cores), or None where it cannot be read."""
    first = _cpu_ticks()
    time.sleep(window_s)
    second = _cpu_ticks()
    if first is None or second is None or second[1] <= first[1]:
        return None
    return (second[0] - first[0]) / (second[1] - first[1]) * second[2]
