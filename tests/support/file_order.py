"""Test files in order of their measured cost, the longest first.

`make test` runs the suite with pytest-xdist's `--dist loadfile`: each file goes whole
to the next process that runs low on work, in the order the files are collected
(`--no-loadscope-reorder`; xdist's own reordering puts the files with the most tests
first, which left the longest few-test files, the memorization runs and the fault
runs, to start near the end while the other processes ran out of files). Handing out
the longest first lets the short files fill in at the end (the usual
longest-processing-time-first schedule: 788 tests in 18 min 27 s against 19 min 55 s
on a 2-core AMD EPYC, 3 processes, same checkout).

The costs are `tests/file_seconds.json`: seconds of setup, call and teardown per file,
written by `pytest --record-file-seconds` (the files that ran replace their entries;
measure with the `make test` command, whose processes share the cores). A file not in
it (a new one) counts as the median file. Stale numbers only cost time, never a result:
each file's own tests keep their order.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from statistics import median

import pytest

COSTS = Path(__file__).parents[1] / "file_seconds.json"


def _file(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def longest_first(items: list[pytest.Item], costs: dict[str, float] | None = None) -> None:
    """Sort `items` (in place) by their file's cost (COSTS unless given), the longest
    first; a file's tests stay together and in their order."""
    if costs is None:
        costs = json.loads(COSTS.read_text()) if COSTS.is_file() else {}
    typical = median(costs.values()) if costs else 0.0
    first_seen = {}
    for item in items:
        first_seen.setdefault(_file(item.nodeid), len(first_seen))
    items.sort(
        key=lambda item: (-costs.get(_file(item.nodeid), typical), first_seen[_file(item.nodeid)])
    )


class Recorder:
    """Adds up each file's reported durations and writes them into COSTS at the end.
    Under xdist the controller receives every process's reports, so it alone writes."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[_file(report.nodeid)] += report.duration

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        costs = json.loads(COSTS.read_text()) if COSTS.is_file() else {}
        costs.update({name: round(s, 1) for name, s in self.seconds.items()})
        COSTS.write_text(json.dumps(dict(sorted(costs.items())), indent=1) + "\n")
