"""Decoding uses the idle cores: one thread when the others are busy, torch's own
count when they are free; the previous count comes back afterwards."""

from __future__ import annotations

import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import torch

from textgen_core.generate import decode_threads
from textgen_core.kernels import cpu_load
from textgen_core.kernels.cpu_load import idle_cores


@pytest.mark.parametrize(
    ("idle", "available", "threads"),
    [(None, 2, 2), (1.95, 2, 2), (1.85, 2, 2), (1.7, 2, 1), (1.0, 2, 1), (0.0, 2, 1), (7.9, 4, 4)],
)
def test_a_core_counts_when_it_is_at_least_80_percent_idle(idle, available, threads):
    assert decode_threads.threads_for(idle, available) == threads


def proc_stat(user: int, system: int, idle: int, iowait: int) -> str:
    """/proc/stat of a 2-core machine with these totals (ticks) over both cores."""
    total = f"cpu  {user} 0 {system} {idle} {iowait} 0 0 0 0 0\n"
    per_core = [
        f"cpu{i} {user // 2} 0 {system // 2} {idle // 2} {iowait // 2} 0 0 0 0 0\n" for i in (0, 1)
    ]
    return total + "".join(per_core) + "intr 0\nctxt 0\nprocs_running 1\n"


@pytest.mark.parametrize(
    ("later", "idle"),
    [
        (proc_stat(1100, 550, 330, 20), 0.0),  # both cores busy: no idle tick
        (proc_stat(1050, 525, 405, 20), 1.0),  # half the ticks idle: one core's worth
        (proc_stat(1010, 505, 465, 20), 1.8),  # 90% idle
        (proc_stat(1050, 525, 355, 70), 1.0),  # waiting for the disk counts as idle
    ],
)
def test_idle_cores_counts_the_idle_share_of_the_ticks_between_two_readings(
    tmp_path, monkeypatch, later, idle
):
    stat = tmp_path / "stat"
    stat.write_text(proc_stat(1000, 500, 330, 20))
    monkeypatch.setattr(cpu_load, "STAT", stat)
    # The window's sleep is when the kernel's counters move on.
    monkeypatch.setattr(cpu_load, "time", SimpleNamespace(sleep=lambda _: stat.write_text(later)))
    assert cpu_load.idle_cores(0.1) == pytest.approx(idle)


def test_idle_cores_sees_busy_processes_take_the_cores():
    if idle_cores(0.1) is None:
        pytest.skip("no /proc/stat here")
    cores = len(open("/proc/stat").read().split("\ncpu")) - 1
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    try:
        time.sleep(0.3)  # started and spinning
        # One spinner per core: whatever else runs, hardly any idle time is left.
        assert 0 <= idle_cores(0.5) < 0.5
    finally:
        for busy in spinners:
            busy.kill()
            busy.wait()


def test_decoding_threads_follow_the_idle_cores_and_restore_the_count(monkeypatch):
    model = torch.nn.Linear(2, 2)
    default = torch.get_num_threads()
    torch.set_num_threads(2)  # the suite runs with one; two tell the cases apart
    try:
        for idle, inside in ((0.9, 1), (2.0, 2)):
            monkeypatch.setattr(decode_threads, "idle_cores", lambda idle=idle: idle)
            monkeypatch.setattr(decode_threads, "_measured", None)
            with decode_threads.decoding_threads(model):
                assert torch.get_num_threads() == inside
                with decode_threads.decoding_threads(model):  # a concurrent request
                    assert torch.get_num_threads() == inside
                assert torch.get_num_threads() == inside
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(default)


def test_a_recent_count_is_reused_without_measuring_again(monkeypatch):
    model = torch.nn.Linear(2, 2)
    calls = []
    monkeypatch.setattr(decode_threads, "idle_cores", lambda: calls.append(1) or 0.5)
    monkeypatch.setattr(decode_threads, "_measured", None)
    for _ in range(3):
        with decode_threads.decoding_threads(model):
            pass
    assert len(calls) == 1
