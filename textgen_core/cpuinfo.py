"""What /proc/cpuinfo says of this CPU: its name, vendor and instruction-set
flags (empty where there is no /proc/cpuinfo, i.e. not Linux)."""

from __future__ import annotations

import functools
from pathlib import Path


@functools.cache
def cpuinfo_field(name: str) -> str:
    """The first processor's `name` field ("model name", "vendor_id", "flags"), or ""."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == name:
                return value.strip()
    except OSError:
        pass
    return ""


def cpu_flags() -> set[str]:
    return set(cpuinfo_field("flags").split())
