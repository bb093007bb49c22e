"""Training on several processes (`torchrun`, `accelerate launch`).

The Trainer, through Accelerate, does the DistributedDataParallel part: one
process per device, each with its own share of every batch, gradients averaged
across processes. What textgen adds is small and lives here:

- who writes: only the main process (rank 0) writes the output folder, logs
  and pushes; the others compute the same figures and stay quiet;
- how figures add up: each process scores its own contiguous slice of an
  evaluation set (no sample twice, unlike a distributed sampler that pads the
  last batch with repeats) and the token-loss sums and token counts are
  all-reduced, so every process holds the same token-weighted loss;
- decisions every process must take together (stop now, resume from the Hub)
  are made once and shared.

With one process (no `WORLD_SIZE`, or 1) every function here is a no-op, and
torch is not imported until a distributed run needs it.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable
from typing import TypeVar

import numpy as np

T = TypeVar("T")


# torchrun (and accelerate launch, which uses it) set WORLD_SIZE and RANK; MPI
# launchers set their own names, which Accelerate also reads.
_SIZE_VARS = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
_RANK_VARS = ("RANK", "PMI_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK")


def _env_int(names: tuple[str, ...], default: int) -> int:
    return next((int(os.environ[n]) for n in names if os.environ.get(n)), default)


def world_size() -> int:
    """How many processes train together."""
    return _env_int(_SIZE_VARS, 1)


def rank() -> int:
    """This process's place among them; 0 is the main process."""
    return _env_int(_RANK_VARS, 0)


def is_main() -> bool:
    """This process is the one that writes files, prints and pushes."""
    return rank() == 0


def _active() -> bool:
    if world_size() <= 1:
        return False
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def start() -> None:
    """Join the process group now, before the Trainer exists, so that data
    preparation and the base-model evaluation can already share results.
    Accelerate's state is a singleton: the Trainer reuses this group."""
    if world_size() > 1:
        import torch
        from accelerate import PartialState

        # Without cpu=True, Accelerate treats CPU-only processes launched by
        # torchrun as unrelated single-process runs (each would train alone).
        PartialState(cpu=not torch.cuda.is_available())
        # Left to interpreter shutdown, gloo's threads sometimes abort the
        # process ("terminate called without an active exception") after all
        # the work is done, and torchrun then reports the run as failed.
        atexit.register(_leave)


def _leave() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait until every process reaches this point."""
    if _active():
        from accelerate import PartialState

        PartialState().wait_for_everyone()


def _device():
    from accelerate import PartialState

    return PartialState().device


def all_reduce_sum(values: np.ndarray) -> np.ndarray:
    """Element-wise sum of `values` over all processes, in float64 (token counts
    stay exact below 2**53)."""
    if not _active():
        return values
    import torch
    import torch.distributed as dist

    tensor = torch.as_tensor(np.asarray(values, dtype=np.float64), device=_device())
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.cpu().numpy()


def any_process(flag: bool) -> bool:
    """True on every process when `flag` is true on at least one."""
    if not _active():
        return flag
    return bool(all_reduce_sum(np.array([float(flag)]))[0] > 0)


def shard(dataset):
    """This process's contiguous slice of `dataset`: the slices differ in size by
    at most one row and together hold every row exactly once."""
    if not _active() or len(dataset) == 0:
        return dataset
    return dataset.shard(num_shards=world_size(), index=rank(), contiguous=True)


def on_main(fn: Callable[[], T]) -> T:
    """Run `fn` on the main process only and return its result everywhere (it
    must pickle). An exception there is raised on every process, so none is
    left waiting for the others."""
    if not _active():
        return fn()
    import torch.distributed as dist

    box: list = [None]
    if is_main():
        try:
            box[0] = ("ok", fn())
        except Exception as exc:  # re-raised below, after the others have heard of it
            box[0] = ("error", exc)
    failure = None
    if is_main() and box[0][0] == "error":
        failure = box[0][1]
        box[0] = ("error", f"{type(failure).__name__}: {failure}")
    dist.broadcast_object_list(box, src=0)
    status, value = box[0]
    if failure is not None:
        raise failure
    if status == "error":
        from textgen_core.errors import TextgenError

        raise TextgenError(f"on the main process: {value}")
    return value
