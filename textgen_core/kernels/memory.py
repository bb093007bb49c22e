"""Keep large freed blocks in the process instead of returning them to the OS.

glibc serves every allocation above its mmap threshold (at most 32 MB by
default) with a fresh `mmap` and unmaps it on free. A training step allocates
and frees the same few hundred-megabyte tensors (logit chunks, the embedding
gradient, activations) every step, so each step pays the kernel for page
faults and zero-filling of memory it just gave back. Raising the thresholds
lets the allocator reuse those blocks. Measured on the project machine
(distilgpt2 shape, 8 x 200 tokens, with textgen's fused loss and oneDNN
matmuls): a Trainer step 2.90 -> 2.49 s for +170 MB peak RSS (still ~700 MB
under a stock Trainer's), evaluation 0.86 -> 0.73 s per batch.

It is a process-wide setting, so it is opt-in: call `reuse_freed_memory()`
once at the start of a training or evaluation run. Elsewhere than Linux/glibc
it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 1 << 30  # serve blocks up to 1 GiB from the reusable heap
_TRIM_THRESHOLD = 1 << 31  # hand memory back only above 2 GiB of free heap


@functools.cache
def reuse_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds; True when applied."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(
            libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
            and libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
        )
    except (OSError, AttributeError):
        return False


def release_freed_memory() -> bool:
    """Hand the heap's free pages back to the OS (glibc `malloc_trim`), between
    the phases of a run (calibration, scoring, training), whose large blocks
    differ: with `reuse_freed_memory` they stay in the process, and a later
    phase that cannot reuse them in place grows the heap beside them. Measured
    on 2-layer, 64-wide models, 3 steps: peak RSS of a whole run 1.10 -> 0.90 GB
    (GPT-2), 2.44 -> 2.1-2.3 GB (Gemma 3's 262k-row vocabulary). True when applied."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.malloc_trim(0))
    except (OSError, AttributeError):
        return False
