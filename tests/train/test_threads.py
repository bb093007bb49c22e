"""A resume computes with the thread count its checkpoint was trained with."""

from __future__ import annotations

import torch
from test_checkpoints import FILES

from textgen_core.train import checkpoints
from textgen_core.train import threads as cpu_threads


def checkpoint(root, **facts):
    folder = root / "checkpoint-5"
    folder.mkdir()
    for name in FILES:
        (folder / name).write_bytes(b"x")
    checkpoints.mark_complete(folder, **facts)
    return folder


def test_resume_takes_the_recorded_thread_count_and_says_so(tmp_path, messages):
    before = torch.get_num_threads()
    wanted = 1 if before > 1 else 2
    try:
        cpu_threads.use_recorded(checkpoint(tmp_path, torch_threads=wanted))
        assert torch.get_num_threads() == wanted
    finally:
        torch.set_num_threads(before)
    assert messages == [
        f"note: computing with {wanted} CPU threads, as the run did before checkpoint-5, "
        f"instead of {before}, so that the resumed run is exact"
    ]


def test_checkpoints_without_a_recorded_count_change_nothing(tmp_path, messages):
    before = torch.get_num_threads()
    cpu_threads.use_recorded(checkpoint(tmp_path))
    cpu_threads.use_recorded(None)
    assert torch.get_num_threads() == before and messages == []
