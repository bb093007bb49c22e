"""Decoding uses the idle cores: one thread when the others are busy, torch's own
count when they are free; the previous count comes back afterwards."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch

from textgen_core.generate import decode_threads
from textgen_core.kernels.cpu_load import idle_cores


@pytest.mark.parametrize(
    ("idle", "available", "threads"),
    [(None, 2, 2), (1.95, 2, 2), (1.85, 2, 2), (1.7, 2, 1), (1.0, 2, 1), (0.0, 2, 1), (7.9, 4, 4)],
)
def test_a_core_counts_when_it_is_at_least_80_percent_idle(idle, available, threads):
    assert decode_threads.threads_for(idle, available) == threads


def test_idle_cores_sees_a_busy_process_take_a_core():
    quiet = idle_cores(0.3)
    if quiet is None:
        pytest.skip("no /proc/stat here")
    cores = len(open("/proc/stat").read().split("\ncpu")) - 1
    assert 0 <= quiet <= cores + 0.05
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # started and spinning
        # Other load can only lower the idle count further, never raise it.
        assert idle_cores(0.5) < cores - 0.6
    finally:
        busy.kill()
        busy.wait()


def test_decoding_threads_follow_the_idle_cores_and_restore_the_count(monkeypatch):
    model = torch.nn.Linear(2, 2)
    before = torch.get_num_threads()
    for idle, inside in ((0.9, 1), (before + 0.0, before)):
        monkeypatch.setattr(decode_threads, "idle_cores", lambda idle=idle: idle)
        monkeypatch.setattr(decode_threads, "_measured", None)
        with decode_threads.decoding_threads(model):
            assert torch.get_num_threads() == inside
            with decode_threads.decoding_threads(model):  # a concurrent request
                assert torch.get_num_threads() == inside
            assert torch.get_num_threads() == inside
        assert torch.get_num_threads() == before


def test_a_recent_count_is_reused_without_measuring_again(monkeypatch):
    model = torch.nn.Linear(2, 2)
    calls = []
    monkeypatch.setattr(decode_threads, "idle_cores", lambda: calls.append(1) or 0.5)
    monkeypatch.setattr(decode_threads, "_measured", None)
    for _ in range(3):
        with decode_threads.decoding_threads(model):
            pass
    assert len(calls) == 1
