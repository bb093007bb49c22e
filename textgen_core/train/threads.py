"""A resumed run computes with as many CPU threads as the run it continues.

CPU matrix products split each sum across the intra-op threads, so the thread
count sets the order in which floats are added. Resuming a 2-thread run with 1
thread ends with weights up to ~2e-6 apart (the tiny test model after 54
steps); with the same count, every tensor is bit-identical. Each checkpoint's
completion record holds the count it was trained with, and `--resume` uses
that count again, whatever this process's default (`OMP_NUM_THREADS`, another
machine, a container with fewer CPUs).
"""

from __future__ import annotations

import logging
from pathlib import Path

from textgen_core.train import checkpoints

logger = logging.getLogger(__name__)

RECORD_KEY = "torch_threads"


def current() -> dict:
    """The fact to record in a checkpoint's completion record."""
    import torch

    return {RECORD_KEY: torch.get_num_threads()}


def use_recorded(checkpoint: Path | None) -> None:
    """Compute with the thread count recorded in `checkpoint` (kept for the rest
    of the process). Checkpoints from before the count was recorded change nothing."""
    import torch

    wanted = checkpoints.recorded(checkpoint).get(RECORD_KEY) if checkpoint else None
    if not isinstance(wanted, int) or wanted < 1 or wanted == torch.get_num_threads():
        return
    logger.warning(
        f"note: computing with {wanted} CPU threads, as the run did before {checkpoint.name}, "
        f"instead of {torch.get_num_threads()}, so that the resumed run is exact"
    )
    torch.set_num_threads(wanted)
